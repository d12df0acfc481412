"""The touch panel's page: the files in ``static/`` (HTML, CSS, JavaScript modules,
the message catalogues), served at ``/`` from the installed package.

No build step and nothing from outside the device: every file the page loads is
here. The page's mount never answers below ``/api/v1/``: there, a wrong method is
still 405 and an unknown path 404, as JSON, from the API's own routes.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from starlette.types import Scope

from cryoctl.panel.state import API_PREFIX

__all__ = ["STATIC_DIR", "mount_page"]

#: The page's files, inside the installed package.
STATIC_DIR = Path(str(files("cryoctl.panel").joinpath("static")))


class _PageMount(Mount):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return Match.NONE, {}
        return super().matches(scope)


def mount_page(app: FastAPI) -> None:
    """Serve the page's files at ``/`` (``index.html`` for ``/``); add it after every route."""
    app.router.routes.append(
        _PageMount("/", app=StaticFiles(directory=STATIC_DIR, html=True), name="page"))
