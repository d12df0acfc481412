"""``/api/v1/alarms``: acknowledging alarms and pausing their sound (staff)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from cryoctl.panel.auth import StaffGrant
from cryoctl.panel.routes.common import REFUSED, CommandAnswer, State
from cryoctl.panel.state import API_PREFIX, run_command

__all__ = ["router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["alarms"])


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The alarms raised up to this change number (the snapshot's ``alarms.seq``);
    #: all of them when absent.
    up_to_seq: Annotated[int | None, Field(ge=0)] = None


@router.post("/alarms/ack", summary="Acknowledge alarms (staff)", response_model=CommandAnswer,
             responses=REFUSED)
async def acknowledge(grant: StaffGrant, state: State,
                      body: Annotated[Acknowledge | None, Body()] = None) -> CommandAnswer:
    up_to_seq = None if body is None else body.up_to_seq
    await run_command(state, "acknowledge", up_to_seq=up_to_seq)
    log.info("command", command="acknowledge", up_to_seq=up_to_seq, role=grant.role.value)
    return CommandAnswer()


@router.post("/alarms/pause-audio", summary="Pause the alarm sound (staff)",
             response_model=CommandAnswer, responses=REFUSED)
async def pause_audio(grant: StaffGrant, state: State) -> CommandAnswer:
    await run_command(state, "pause_audio")
    log.info("command", command="pause_audio", role=grant.role.value)
    return CommandAnswer()
