"""Pieces the routers share: the state dependency and the answers of commands."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel

from cryoctl.panel.state import PanelState, panel_state

__all__ = ["REFUSED", "CommandAnswer", "Detail", "State"]

State = Annotated[PanelState, Depends(panel_state)]


class CommandAnswer(BaseModel):
    """The control process accepted the command."""

    ok: bool = True


class Detail(BaseModel):
    detail: str


#: The error answers every command route may give.
REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": Detail, "description": "No token, or one that has ended"},
    403: {"model": Detail, "description": "The role signed in may not do this"},
    409: {"model": Detail, "description": "The control process refused, with its reason"},
    503: {"model": Detail, "description": "The control process is not reachable"},
}
