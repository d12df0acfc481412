"""The panel server: the touch panel's HTTP and WebSocket API (FastAPI + uvicorn).

A translator between HTTP and the control socket, as Moonraker is for Klippy: it
holds no device and makes no safety decision. Build it with :func:`create_app`
around a :class:`ControlLink`; ``cryoctl panel`` runs it with :func:`make_link`.
"""

from __future__ import annotations

from cryoctl.panel.app import create_app, serve
from cryoctl.panel.link import ControlLink, make_link
from cryoctl.panel.session_rules import NoSessionRules, SessionPlan, SessionRules
from cryoctl.panel.tokens import Role

__all__ = [
    "ControlLink",
    "NoSessionRules",
    "Role",
    "SessionPlan",
    "SessionRules",
    "create_app",
    "make_link",
    "serve",
]
