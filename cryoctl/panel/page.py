"""The touch panel's page: the files in ``static/`` (HTML, CSS, JavaScript modules,
the message catalogues), served at ``/`` from the installed package.

No build step and nothing from outside the device: every file the page loads is
here. Mounted after every route, so ``/api/v1/...``, ``/metrics`` and
``/openapi.json`` keep their meaning.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount_page"]

#: The page's files, inside the installed package.
STATIC_DIR = Path(str(files("cryoctl.panel").joinpath("static")))


def mount_page(app: FastAPI) -> None:
    """Serve the page's files at ``/`` (``index.html`` for ``/``)."""
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="page")
