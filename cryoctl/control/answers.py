"""What the control process answers to each socket request that needs the loop.

:mod:`cryoctl.control.socket_server` owns the wire: who may connect, lines in and out,
how many requests a connection may have waiting. This module owns what the requests
mean, each as a coroutine that returns its reply:

- ``estop``: latched and answered only after the close went out to the unit
  (:meth:`~cryoctl.control.controller.Controller.request_estop`).
- ``command``: a staff command through the controller's queue. Where records are kept,
  the bare ``start_session`` command is refused (a session starts with the
  ``start_session`` request, which names the patient and the checklist), and who asked
  is noted for the audit rows.
- ``load_profile``: the profile by name and hash, looked up off the loop's thread
  (:func:`~cryoctl.control.requests.find_profile`), its signature checked.
- the records' requests (``start_session``, ``sessions``, ``session``, ``course``,
  ``audit``): to the clinic's desk (:mod:`cryoctl.control.clinic`), or refused where
  this control process keeps no records.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from pydantic import BaseModel
from structlog.typing import FilteringBoundLogger

from cryoctl.control.clinic import Clinic
from cryoctl.control.controller import Controller
from cryoctl.control.requests import find_profile, staff_command
from cryoctl.core.staff import LoadProfile
from cryoctl.errors import ProfileError
from cryoctl.profile.signing import SignaturePolicy
from cryoctl.protocol import (
    AuditRequest,
    CommandRequest,
    CourseRequest,
    ErrorReply,
    EstopReply,
    EstopRequest,
    LoadProfileRequest,
    Reply,
    SessionRequest,
    SessionsRequest,
    SessionStartReply,
    StartSessionRequest,
)

__all__ = ["RECORDS_REQUESTS", "Answers"]

#: The requests the clinic's desk answers.
RECORDS_REQUESTS: Final = (StartSessionRequest, SessionsRequest, SessionRequest,
                           CourseRequest, AuditRequest)
_NO_RECORDS: Final = "this control process keeps no records"


class Answers:
    """The replies of one controller (and its clinic's desk, once the records are open)."""

    def __init__(self, controller: Controller, *, profile_dir: Path | None = None,
                 clinic: Clinic | None = None,
                 signatures: SignaturePolicy | None = None) -> None:
        self.controller = controller
        self.profile_dir = profile_dir
        #: Starts under the clinic's rules and the records' queries (None: no records kept).
        self.clinic = clinic
        #: Checked on every load of an installed profile (the config's [profiles]).
        self.signatures = signatures

    async def estop(self, request: EstopRequest, log: FilteringBoundLogger
                    ) -> BaseModel:
        log.warning("estop over the control socket", source=request.source)
        acknowledged = await self.controller.request_estop(request.source)
        return EstopReply(id=request.id, acknowledged=acknowledged)

    async def command(self, request: CommandRequest) -> BaseModel:
        clinic = self.clinic
        if request.command == "start_session" and clinic is not None:
            return Reply(id=request.id, ok=False, reason="a session starts with the "
                         "start_session request, which names the patient and the checklist")
        try:
            command = staff_command(request)
        except ValueError as exc:
            return ErrorReply(id=request.id, message=str(exc))
        if clinic is not None:
            clinic.recorder.asked(request.command, role=request.role,
                                  token_id=request.token_id)
        answer = await self.controller.submit(command)
        if not answer.ok and clinic is not None:
            clinic.recorder.asked(request.command, role=None, token_id=None)
        return Reply(id=request.id, ok=answer.ok, reason=answer.reason)

    async def load_profile(self, request: LoadProfileRequest,
                           log: FilteringBoundLogger) -> BaseModel:
        try:
            loaded = await asyncio.to_thread(
                find_profile, request.name, request.sha256, self.profile_dir, self.signatures
            )
        except ProfileError as exc:
            return Reply(id=request.id, ok=False, reason=str(exc))
        answer = await self.controller.submit(LoadProfile(loaded))
        if answer.ok:
            log.info("profile loaded over the control socket", profile=loaded.identity)
        return Reply(id=request.id, ok=answer.ok, reason=answer.reason)

    async def records(self, request: BaseModel) -> BaseModel:
        rid = int(getattr(request, "id", 0))
        if self.clinic is None:
            if isinstance(request, StartSessionRequest):
                return SessionStartReply(id=rid, ok=False, reason=_NO_RECORDS)
            return ErrorReply(id=rid, message=_NO_RECORDS)
        return await self.clinic.handle(request)
