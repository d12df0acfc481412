"""The touch panel in a browser (Playwright driving Debian's Chromium)."""
