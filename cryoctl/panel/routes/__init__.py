"""The panel API's routers, one per resource, each below /api/v1; :func:`include` adds them."""

from __future__ import annotations

from fastapi import FastAPI

from cryoctl.panel import auth
from cryoctl.panel.routes import (
    alarms,
    estop,
    events,
    faults,
    panel,
    profiles,
    records,
    session,
    status,
)

__all__ = ["include"]


def include(app: FastAPI) -> None:
    for module in (auth, status, profiles, session, estop, faults, alarms, events, records,
                   panel):
        app.include_router(module.router)
