"""What every route of one panel app shares, and the one way routes call the link.

:func:`ask` bounds each call with a timeout, counts the messages, and turns an
unreachable control process into :class:`ControlUnreachable` (answered 503);
:func:`run_command` turns a refusal into 409 with the control process's reason.
The panel adds no judgement of its own to either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import structlog
from fastapi import HTTPException, Request

from cryoctl.config import Config
from cryoctl.panel.hub import Hub
from cryoctl.panel.link import CommandName, ControlLink
from cryoctl.panel.metrics import PanelMetrics
from cryoctl.panel.session_rules import SessionRules
from cryoctl.panel.settings import PanelSettings
from cryoctl.panel.tokens import LoginThrottle, TokenStore
from cryoctl.pins import PinHash

__all__ = ["API_PREFIX", "ControlUnreachable", "PanelState", "ask", "audit", "panel_state",
           "run_command"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: Every API route is below this path (``/metrics`` and ``/openapi.json`` are not).
API_PREFIX = "/api/v1"

UNREACHABLE = "the control process is not reachable"


class ControlUnreachable(Exception):
    """The control process did not answer; the request was not carried out (503)."""

    def __init__(self, message: str = UNREACHABLE) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class PanelState:
    config: Config
    link: ControlLink
    hub: Hub
    metrics: PanelMetrics
    tokens: TokenStore
    throttle: LoginThrottle
    rules: SessionRules
    staff_pin: PinHash | None
    technician_pin: PinHash | None
    clock: Callable[[], float]
    #: Installed profiles: ``profiles/`` in the data folder.
    profile_dir: Path
    #: Longest wait for any one answer from the control process.
    call_timeout_s: float
    #: The touch panel's remembered settings (its language).
    settings: PanelSettings


def panel_state(request: Request) -> PanelState:
    state: PanelState = request.app.state.panel
    return state


async def ask(state: PanelState, request: str, reply: str, call: Callable[[], Awaitable[T]],
              *, unreachable: str = UNREACHABLE) -> T:
    """Send one request through the link and answer its reply, within the timeout."""
    state.metrics.sent(request)
    try:
        async with asyncio.timeout(state.call_timeout_s):
            answer = await call()
    except OSError as exc:  # TimeoutError included
        log.warning("control_unreachable", request=request,
                    error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise ControlUnreachable(unreachable) from None
    state.metrics.received(reply)
    return answer


async def run_command(state: PanelState, name: CommandName, *,
                      up_to_seq: int | None = None, role: str | None = None,
                      token_id: str | None = None) -> None:
    """Send a staff command (naming who asked); 409 with the control process's reason
    when it refuses."""
    ok, reason = await ask(state, "command", "reply", lambda: state.link.command(
        name, up_to_seq=up_to_seq, role=role, token_id=token_id))
    if not ok:
        raise HTTPException(status_code=409, detail=reason or f"{name} was refused")


async def audit(state: PanelState, action: str, *, role: str | None = None,
                token_id: str | None = None, **detail: object) -> None:
    """Add an audit row in the control process; a failure is logged, never the caller's."""
    try:
        ok = await ask(state, "audit", "reply", lambda: state.link.audit(
            action, role=role, token_id=token_id, detail=dict(detail)))
    except ControlUnreachable:
        ok = False
    except Exception as exc:  # the records' trouble must not fail a login or an install
        log.error("audit_failed", action=action, error=f"{type(exc).__name__}: {exc}")
        return
    if not ok:
        log.error("audit_not_recorded", action=action, role=role)
