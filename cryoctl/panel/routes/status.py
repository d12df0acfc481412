"""``GET /api/v1/status``: the latest snapshot and whether the control process is there.

Open without a sign-in: the panel must show the state and the alarms on every
screen, the locked one too.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cryoctl.panel.routes.common import State
from cryoctl.panel.state import API_PREFIX, ControlUnreachable, ask

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["status"])


class StatusAnswer(BaseModel):
    link: Literal["connected", "disconnected"]
    snapshot: dict[str, Any] | None = Field(
        description="The control process's snapshot (fields of cryoctl.core.snapshot.Snapshot); "
                    "while disconnected, the last one seen, or null")


@router.get("/status", summary="The device's state now", response_model=StatusAnswer)
async def status(state: State) -> StatusAnswer:
    if state.link.connected:
        try:
            snapshot = await ask(state, "status", "status", state.link.status)
        except ControlUnreachable:
            pass
        else:
            state.hub.note_snapshot(snapshot)
            return StatusAnswer(link="connected", snapshot=snapshot)
    return StatusAnswer(link="disconnected", snapshot=state.hub.latest)
