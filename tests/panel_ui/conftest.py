"""The browser tests' fixtures; what they are and how they drive the page: see kiosk.py.

This folder is a package (``__init__.py``), so this file is not the module named
``conftest`` that tests/panel's modules import their helpers from.
"""

from tests.panel_ui.kiosk import browser, device, open_panel

__all__ = ["browser", "device", "open_panel"]
