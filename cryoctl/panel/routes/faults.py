"""``/api/v1/faults``: clearing latched faults whose cause has gone (technician)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter

from cryoctl.panel.auth import Credentials, TechnicianGrant
from cryoctl.panel.routes.common import REFUSED, CommandAnswer, State
from cryoctl.panel.state import API_PREFIX, run_command
from cryoctl.panel.tokens import token_id

__all__ = ["router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["faults"])


@router.post("/faults/reset", summary="Clear latched faults (technician)",
             response_model=CommandAnswer, responses=REFUSED)
async def reset(grant: TechnicianGrant, credentials: Credentials,
                state: State) -> CommandAnswer:
    await run_command(state, "reset_faults", role=grant.role.value,
                      token_id=None if credentials is None else token_id(credentials.credentials))
    log.info("command", command="reset_faults", role=grant.role.value)
    return CommandAnswer()
