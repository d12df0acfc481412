"""The browser tests' fixtures; what they are and how they drive the page: see kiosk.py."""

from tests.panel_ui.kiosk import browser, device, open_panel, playwright

__all__ = ["browser", "device", "open_panel", "playwright"]
