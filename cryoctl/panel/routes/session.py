"""``/api/v1/session``: start a session, and the staff commands while it runs.

Starting checks what the request itself must show, in this order, and answers 409
with the reason at the first that fails: the profile exists; every item of its
checklist is confirmed (and none other is sent: a panel showing another profile's
list is refused); its cold test is done when it requires one. Then any local
rules of :mod:`cryoctl.panel.session_rules`. Only then does the control process
hear of it: ``load_profile`` (by name and SHA-256, so it loads exactly the profile
whose checklist was confirmed), then the socket's ``start_session`` with the
patient reference, the answers, who asks (role and token id) and any override.
The control process applies the clinic's rules there (checklist again, interval,
course size: :mod:`cryoctl.control.clinic`) and records the session. A refusal is
409 ``{"detail": "<reason in words>", "overridable": true|false}``. Whether cold
may flow is never decided here.

An override (``{"reason"}``) is for the clinic's soft limits; staff may send one
only when ``auth.staff_may_override`` is set (otherwise 403); the control process
records and audits it.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cryoctl.panel.auth import Credentials, StaffGrant
from cryoctl.panel.link import CommandName
from cryoctl.panel.routes.common import REFUSED, CommandAnswer, State
from cryoctl.panel.routes.profiles import find_profile
from cryoctl.panel.session_rules import SessionPlan
from cryoctl.panel.state import API_PREFIX, ask, run_command
from cryoctl.panel.tokens import Role, token_id
from cryoctl.profile import LoadedProfile
from cryoctl.records.course import checklist_problems

__all__ = ["router", "start_problems"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["session"])


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=3, max_length=500)]


class SessionStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: Annotated[str, Field(min_length=1, max_length=64, description="Profile name")]
    #: Pin the exact content shown to staff (else the profile's highest version).
    sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None
    patient_ref: Annotated[str, Field(min_length=1, max_length=64,
                                      description="The clinic's reference, not a name")]
    #: Each checklist item of the profile, as written there, answered true.
    checklist: dict[Annotated[str, Field(max_length=500)], bool] = Field(
        default_factory=dict, max_length=64)
    cold_test_done: bool = False
    override: Override | None = None


class ProfileIdentity(BaseModel):
    name: str
    version: int
    sha256: str


class SessionStarted(BaseModel):
    ok: bool = True
    profile: ProfileIdentity


def start_problems(loaded: LoadedProfile, body: SessionStart) -> list[str]:
    """What the request leaves unconfirmed for this profile, in words staff act on.

    The same rule the control process applies again at its ``start_session``
    (:func:`cryoctl.records.course.checklist_problems`): answered here first so a
    panel showing the wrong list never reaches the control process.
    """
    return checklist_problems(loaded.name, loaded.profile.session, body.checklist,
                              body.cold_test_done)


class StartRefused(BaseModel):
    detail: str
    #: An override with a reason (``{"override": {"reason": ...}}``) would lift it.
    overridable: bool = False


def _refused(detail: str, overridable: bool = False) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": detail, "overridable": overridable})


@router.post("/session", summary="Start a session (staff)", response_model=SessionStarted,
             responses={**REFUSED, 409: {"model": StartRefused, "description":
                        "Refused, with the reason in words, and whether an override may lift it"}})
async def start(body: SessionStart, grant: StaffGrant, credentials: Credentials,
                state: State) -> SessionStarted | JSONResponse:
    if (body.override is not None and grant.role is Role.STAFF
            and not state.config.auth.staff_may_override):
        raise HTTPException(status_code=403, detail="only a technician may override")
    loaded = await run_in_threadpool(find_profile, state.profile_dir, body.profile,
                                     sha256=body.sha256,
                                     policy=state.config.profiles.policy())
    if loaded is None:
        return _refused(f"no profile {body.profile}" + (" with that SHA-256" if body.sha256
                                                         else ""))
    problems = start_problems(loaded, body)
    if problems:
        return _refused("; ".join(problems))
    plan = SessionPlan(profile=loaded, patient_ref=body.patient_ref, role=grant.role,
                       override_reason=None if body.override is None else body.override.reason)
    refusal = await state.rules.refusal(plan)
    if refusal:
        return _refused(refusal)
    ok, reason = await ask(state, "load_profile", "reply",
                           lambda: state.link.load_profile(loaded.name, loaded.sha256))
    if not ok:
        return _refused(reason or "the profile was not loaded")
    fields: dict[str, Any] = {
        "patient_ref": body.patient_ref, "role": grant.role.value,
        "token_id": None if credentials is None else token_id(credentials.credentials),
        "checklist": dict(body.checklist), "cold_test_done": body.cold_test_done,
        "override_reason": plan.override_reason, "profile_sha256": loaded.sha256}
    answer = await ask(state, "start_session", "session_start",
                       lambda: state.link.start_session(**fields))
    if not answer.get("ok"):
        return _refused(str(answer.get("reason") or "the session did not start"),
                        bool(answer.get("overridable")))
    if plan.override_reason is not None:
        log.warning("session_override", profile=loaded.identity, role=grant.role.value,
                    reason=plan.override_reason)
    await state.rules.started(plan)
    log.info("session_start_requested", profile=loaded.identity, role=grant.role.value)
    return SessionStarted(profile=ProfileIdentity(name=loaded.name, version=loaded.version,
                                                  sha256=loaded.sha256))


def _command_route(path: str, name: CommandName, summary: str) -> None:
    async def endpoint(grant: StaffGrant, state: State) -> CommandAnswer:
        await run_command(state, name)
        log.info("command", command=name, role=grant.role.value)
        return CommandAnswer()

    endpoint.__name__ = f"session_{name}"
    router.add_api_route(path, endpoint, methods=["POST"], summary=summary,
                         response_model=CommandAnswer, responses=REFUSED)


_COMMANDS: tuple[tuple[str, CommandName, str], ...] = (
    ("/session/pause", "pause", "Pause the session (staff)"),
    ("/session/resume", "resume", "Resume a paused session (staff)"),
    ("/session/stop", "stop", "End the session (staff)"),
    ("/session/next-zone", "next_zone", "Move on to the next zone (staff)"),
    ("/session/next-site", "next_site", "Move on to the next site of the zone (staff)"),
    ("/session/dismiss", "dismiss", "Leave a completed session's summary (staff)"),
)
for _path, _name, _summary in _COMMANDS:
    _command_route(_path, _name, _summary)
