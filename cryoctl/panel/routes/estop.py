"""``/api/v1/estop``: STOP, open to anyone at any time; its reset, for technicians.

``POST /api/v1/estop`` needs no sign-in, ever, and is sent whatever the state: the
panel forwards it at once and answers only after the control process did (its
answer comes after the close has gone out to the unit). ``acknowledged`` is
whether the unit confirmed the close (the control process repeats it until it
does). When the control process cannot be reached the answer is 503, and says
to use the unit's own STOP button: nothing here could have closed the valve.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel

from cryoctl.panel.auth import Credentials, TechnicianGrant
from cryoctl.panel.routes.common import REFUSED, CommandAnswer, Detail, State
from cryoctl.panel.state import API_PREFIX, ask, run_command
from cryoctl.panel.tokens import token_id

__all__ = ["ESTOP_SOURCE", "ESTOP_UNREACHABLE", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["estop"])

#: The source the control process records for an e-stop from the panel.
ESTOP_SOURCE = "panel"
ESTOP_UNREACHABLE = ("the control process is not reachable: this e-stop was NOT delivered; "
                     "press the STOP button on the unit")


class EstopAnswer(BaseModel):
    #: The unit confirmed the close.
    acknowledged: bool


@router.post(
    "/estop",
    summary="Emergency stop (no sign-in needed)",
    response_model=EstopAnswer,
    responses={503: {"model": Detail, "description": "Not delivered: use the unit's STOP"}},
)
async def estop(request: Request, state: State) -> EstopAnswer:
    state.metrics.estops_requested.inc()
    client = request.client.host if request.client is not None else "unknown"
    log.warning("estop_requested", client=client)
    acknowledged = await ask(state, "estop", "estop", lambda: state.link.estop(ESTOP_SOURCE),
                             unreachable=ESTOP_UNREACHABLE)
    log.warning("estop_answered", client=client, acknowledged=acknowledged)
    return EstopAnswer(acknowledged=acknowledged)


@router.post("/estop/reset", summary="Clear the unit's e-stop latch (technician)",
             response_model=CommandAnswer, responses=REFUSED)
async def reset(grant: TechnicianGrant, credentials: Credentials,
                state: State) -> CommandAnswer:
    await run_command(state, "reset_estop", role=grant.role.value,
                      token_id=None if credentials is None else token_id(credentials.credentials))
    log.info("command", command="reset_estop", role=grant.role.value)
    return CommandAnswer()
