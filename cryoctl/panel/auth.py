"""Sign-in with a PIN, bearer tokens, and the role a route needs, as FastAPI dependencies.

``POST /api/v1/login {"pin"}`` answers a bearer token for ``staff`` or
``technician`` (the PIN is checked against each configured hash); ``POST
/api/v1/logout`` revokes it. Routes declare what they need with
:data:`StaffGrant` or :data:`TechnicianGrant` (``require(role)``): no token or a
dead one is 401, a role too low 403. A technician may do everything staff may.

Wrong PINs are throttled per client address (:class:`~cryoctl.panel.tokens.LoginThrottle`):
during the delay every try is 429 with ``Retry-After``, unchecked. Each failure is
logged (``login_failed``, with the client and the count), and so is the lock-out
when the delay reaches its cap. PINs are checked in a worker thread (scrypt takes
tens of milliseconds), so the event loop, and an e-stop behind it, never waits.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio.to_thread
import structlog
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from cryoctl.panel.state import API_PREFIX, PanelState, audit, panel_state
from cryoctl.panel.tokens import Grant, Role, token_id
from cryoctl.pins import PinHash, verify_pin

__all__ = ["StaffGrant", "TechnicianGrant", "require", "router"]

log = structlog.get_logger(__name__)

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/login")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
State = Annotated[PanelState, Depends(panel_state)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(role: Role) -> Callable[..., Awaitable[Grant]]:
    """A dependency answering the caller's grant when it includes ``role``."""

    async def dependency(state: State, credentials: Credentials) -> Grant:
        if credentials is None:
            raise _unauthorized("sign in first (Authorization: Bearer TOKEN)")
        grant = state.tokens.check(credentials.credentials)
        if grant is None:
            raise _unauthorized("the sign-in has expired or ended; sign in again")
        if not grant.role.includes(role):
            raise HTTPException(status_code=403, detail=f"this needs the {role.value} role")
        return grant

    dependency.__name__ = f"require_{role.value}"
    return dependency


StaffGrant = Annotated[Grant, Depends(require(Role.STAFF))]
TechnicianGrant = Annotated[Grant, Depends(require(Role.TECHNICIAN))]


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: Annotated[str, Field(min_length=1, max_length=64, description="The role's PIN")]


class LoginAnswer(BaseModel):
    token: str
    role: Role
    #: The longest the token lives; unused for ``idle_timeout_s`` it ends sooner.
    expires_in_s: int
    idle_timeout_s: int


class LogoutAnswer(BaseModel):
    revoked: bool


def _match(pin: str, technician: PinHash | None, staff: PinHash | None) -> Role | None:
    # Both hashes are always computed, so the time taken tells nothing.
    as_technician = technician is not None and verify_pin(pin, technician)
    as_staff = staff is not None and verify_pin(pin, staff)
    if as_technician:
        return Role.TECHNICIAN
    return Role.STAFF if as_staff else None


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


router = APIRouter(prefix=API_PREFIX, tags=["auth"])


@router.post(
    "/login",
    summary="Sign in with a PIN",
    response_model=LoginAnswer,
    responses={401: {"description": "Wrong PIN"},
               429: {"description": "Too many wrong PINs: wait Retry-After seconds"}},
)
async def login(body: LoginBody, request: Request, state: State) -> LoginAnswer:
    client = _client(request)
    wait_s = state.throttle.retry_after_s(client)
    if wait_s > 0:
        raise HTTPException(status_code=429, headers={"Retry-After": str(wait_s)},
                            detail=f"too many wrong PINs; try again in {wait_s} s")
    state.throttle.begin(client)
    try:
        role = await anyio.to_thread.run_sync(_match, body.pin, state.technician_pin,
                                              state.staff_pin)
    finally:
        state.throttle.end(client)
    if role is None:
        failure = state.throttle.failed(client)
        state.metrics.logins_failed.inc()
        retry_s = math.ceil(failure.delay_s)
        log.warning("login_failed", client=client, count=failure.count, retry_after_s=retry_s)
        await audit(state, "login_failed", client=client, count=failure.count)
        if failure.locked_out:
            log.warning("login_locked_out", client=client, count=failure.count,
                        retry_after_s=retry_s)
        raise HTTPException(status_code=401, detail="wrong PIN", headers={
            "Retry-After": str(retry_s), "WWW-Authenticate": "Bearer"})
    state.throttle.succeeded(client)
    token = state.tokens.issue(role)
    auth = state.config.auth
    log.info("login", client=client, role=role.value)
    await audit(state, "login", role=role.value, token_id=token_id(token), client=client)
    return LoginAnswer(token=token, role=role, expires_in_s=auth.token_lifetime_s,
                       idle_timeout_s=auth.token_idle_s)


@router.post("/logout", summary="End this sign-in", response_model=LogoutAnswer)
async def logout(grant: StaffGrant, credentials: Credentials, state: State) -> LogoutAnswer:
    revoked = credentials is not None and state.tokens.revoke(credentials.credentials)
    log.info("logout", role=grant.role.value)
    if credentials is not None:
        await audit(state, "logout", role=grant.role.value,
                    token_id=token_id(credentials.credentials))
    return LogoutAnswer(revoked=revoked)
