"""The control socket's messages: JSON lines, one request and one reply, plus pushes.

Shared by both ends (the control process's socket server, and its clients: the
panel server and the CLI), so neither side imports the other. Every line is one
JSON object with the protocol version ``v`` and a ``type``; a request carries an
``id`` that its reply repeats. The control process validates every request with
:data:`Request` and answers a malformed or unknown one with an :class:`ErrorReply`;
it never lets one disturb the loop.

Requests::

    {"v": 1, "id": 7, "type": "status"}
    {"v": 1, "id": 8, "type": "subscribe"}            # then pushes, without id
    {"v": 1, "id": 9, "type": "command", "command": "pause"}
    {"v": 1, "id": 10, "type": "command", "command": "acknowledge", "up_to_seq": 41}
    {"v": 1, "id": 11, "type": "load_profile", "name": "n2-face-cryomassage"}
    {"v": 1, "id": 12, "type": "estop", "source": "panel"}
    {"v": 1, "id": 13, "type": "ping"}
    {"v": 1, "id": 14, "type": "stats"}               # the loop's numbers, for /metrics
    {"v": 1, "id": 15, "type": "start_session", "patient_ref": "P-1042", "role": "staff",
     "token_id": "a1b2", "checklist": {"...": true}, "cold_test_done": true, "override": null}
    {"v": 1, "id": 16, "type": "sessions", "patient": "P-1042", "since": "2026-01-01", "limit": 50}
    {"v": 1, "id": 17, "type": "session", "session_id": "<uuid>"}
    {"v": 1, "id": 18, "type": "course", "patient_ref": "P-1042", "profile": "n2-face-cryomassage"}
    {"v": 1, "id": 19, "type": "audit", "action": "login", "role": "staff", "token_id": "a1b2"}

Replies and pushes::

    {"v": 1, "id": 7, "type": "status", "snapshot": {...}}
    {"v": 1, "id": 9, "type": "reply", "ok": false, "reason": "no further zone"}
    {"v": 1, "id": 12, "type": "estop", "acknowledged": true}
    {"v": 1, "id": 14, "type": "stats", "stats": {"period_s": {...}, "counters": {...}, ...}}
    {"v": 1, "id": 15, "type": "session_start", "ok": false, "reason": "...", "overridable": true}
    {"v": 1, "id": 16, "type": "records", "ok": true, "data": {"sessions": [...]}}
    {"v": 1, "type": "snapshot", "snapshot": {...}}
    {"v": 1, "type": "event", "event": {"seq": 3, "at_s": 12.5, "name": "...", "data": {...}}}
    {"v": 1, "id": 99, "type": "error", "message": "..."}

A snapshot on the wire is :func:`jsonable` of :class:`cryoctl.core.snapshot.Snapshot`
(see that class for its fields); clients decode every line they receive with
:func:`decode_message` (a :data:`Message`: a reply, or a push such as
:class:`SnapshotMessage`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter

__all__ = [
    "COMMANDS",
    "MAX_LINE_BYTES",
    "PROTOCOL_VERSION",
    "AuditRequest",
    "CommandRequest",
    "ControlStats",
    "CourseRequest",
    "ErrorReply",
    "EstopReply",
    "EstopRequest",
    "EventMessage",
    "HistogramData",
    "LoadProfileRequest",
    "Message",
    "Override",
    "PingRequest",
    "RecordsReply",
    "Reply",
    "Request",
    "SessionRequest",
    "SessionStartReply",
    "SessionsRequest",
    "SnapshotMessage",
    "StartSessionRequest",
    "StatsReply",
    "StatsRequest",
    "StatusReply",
    "StatusRequest",
    "SubscribeRequest",
    "decode_message",
    "decode_request",
    "encode",
    "jsonable",
]

PROTOCOL_VERSION = 1
_T = TypeVar("_T")
#: Longest line either side accepts; a longer one is refused and the rest skipped.
MAX_LINE_BYTES = 64 * 1024

#: The staff commands a ``command`` request may name (see :mod:`cryoctl.core.staff`).
COMMANDS = (
    "start_session",
    "pause",
    "resume",
    "stop",
    "next_zone",
    "next_site",
    "dismiss",
    "acknowledge",
    "pause_audio",
    "reset_estop",
    "reset_faults",
)
CommandName = Literal[
    "start_session",
    "pause",
    "resume",
    "stop",
    "next_zone",
    "next_site",
    "dismiss",
    "acknowledge",
    "pause_audio",
    "reset_estop",
    "reset_faults",
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1


class _Request(_Message):
    id: StrictInt


class StatusRequest(_Request):
    type: Literal["status"]


class SubscribeRequest(_Request):
    type: Literal["subscribe"]


class PingRequest(_Request):
    type: Literal["ping"]


class StatsRequest(_Request):
    type: Literal["stats"]


class CommandRequest(_Request):
    type: Literal["command"]
    command: CommandName
    #: ``acknowledge`` only: the alarms raised up to this change number.
    up_to_seq: StrictInt | None = None
    #: Who asked (the panel's signed-in role and token id), for the audit rows of
    #: ``reset_estop`` and ``reset_faults``; absent from other clients.
    role: Role | None = None
    token_id: Annotated[StrictStr, Field(max_length=64)] | None = None


class LoadProfileRequest(_Request):
    type: Literal["load_profile"]
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    #: When given, the profile found must have exactly these bytes.
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class EstopRequest(_Request):
    type: Literal["estop"]
    source: Annotated[StrictStr, Field(min_length=1, max_length=64)] = "socket"


_Text = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Role = Literal["staff", "technician"]


class Override(BaseModel):
    """Lift a course rule (interval, course size), with the reason in words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Annotated[StrictStr, Field(max_length=500)]


class StartSessionRequest(_Request):
    """Start a session on the loaded profile, under the clinic's rules (records, course)."""

    type: Literal["start_session"]
    patient_ref: _Text
    role: Role
    token_id: Annotated[StrictStr, Field(max_length=64)] | None = None
    checklist: dict[Annotated[StrictStr, Field(max_length=500)], bool] = Field(
        default_factory=dict, max_length=64)
    cold_test_done: bool = False
    override: Override | None = None
    #: When given, the loaded profile must have exactly these bytes.
    profile_sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class SessionsRequest(_Request):
    type: Literal["sessions"]
    patient: _Text | None = None
    #: A UTC date or time (ISO 8601).
    since: Annotated[StrictStr, Field(max_length=40)] | None = None
    #: At most 100: the answer must fit one line (the CLI reads the file for more).
    limit: Annotated[StrictInt, Field(ge=1, le=100)] = 100


class SessionRequest(_Request):
    type: Literal["session"]
    session_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]


class CourseRequest(_Request):
    type: Literal["course"]
    patient_ref: _Text
    profile: _Text


class AuditRequest(_Request):
    """An audit row for what happened in the panel server (login, profile install, ...)."""

    type: Literal["audit"]
    action: Literal["login", "login_failed", "logout", "profile_installed", "config_changed"]
    role: Role | None = None
    token_id: Annotated[StrictStr, Field(max_length=64)] | None = None
    detail: dict[str, Any] = Field(default_factory=dict, max_length=16)


Request = Annotated[
    StatusRequest
    | SubscribeRequest
    | PingRequest
    | CommandRequest
    | LoadProfileRequest
    | EstopRequest
    | StatsRequest
    | StartSessionRequest
    | SessionsRequest
    | SessionRequest
    | CourseRequest
    | AuditRequest,
    Field(discriminator="type"),
]
_REQUEST: TypeAdapter[Request] = TypeAdapter(Request)


class Reply(_Message):
    """The answer to a command, a profile load or a ping."""

    id: StrictInt
    type: Literal["reply"] = "reply"
    ok: bool
    reason: str = ""


class EstopReply(_Message):
    """Sent only after the close has gone out to the unit."""

    id: StrictInt
    type: Literal["estop"] = "estop"
    #: Whether the unit acknowledged the close (it is sent again until confirmed).
    acknowledged: bool


class SessionStartReply(_Message):
    id: StrictInt
    type: Literal["session_start"] = "session_start"
    ok: bool
    reason: str = ""
    #: The refusal is one an override with a reason would lift.
    overridable: bool = False
    #: The new session's record id (a UUID) when it started.
    session_id: str | None = None


class RecordsReply(_Message):
    """What the records answered; ``ok`` false with the reason when they could not."""

    id: StrictInt
    type: Literal["records"] = "records"
    ok: bool
    reason: str = ""
    #: None when the session or patient asked for is not in the records.
    data: dict[str, Any] | None = None


class StatusReply(_Message):
    id: StrictInt
    type: Literal["status"] = "status"
    snapshot: dict[str, Any]


class SnapshotMessage(_Message):
    type: Literal["snapshot"] = "snapshot"
    snapshot: dict[str, Any]


class EventMessage(_Message):
    type: Literal["event"] = "event"
    event: dict[str, Any]


class HistogramData(BaseModel):
    """A histogram aggregated in the control process: per-bucket counts, not cumulative.

    ``counts[i]`` holds the observations ``<= bounds_s[i]`` (and above the bound
    before); the last count, one more than the bounds, those above every bound.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bounds_s: list[float]
    counts: list[StrictInt]
    sum_s: float
    #: The largest observation so far (0 when there is none).
    max_s: float = 0.0


class ControlStats(BaseModel):
    """The control process's own numbers since it started, for ``GET /metrics``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Time between the starts of two control cycles.
    period_s: HistogramData
    #: How far each period was from the nominal one (absolute).
    jitter_s: HistogramData
    #: One status read (a poll) from request to answer, retries included.
    poll_s: HistogramData
    #: Counts by name: cycles, late_cycles, read_errors, read_retries, closes_sent,
    #: closes_confirmed, closes_resent, close_failures, ...
    counters: dict[str, StrictInt]
    #: Alarms raised since start, by code.
    alarms_raised: dict[str, StrictInt]
    #: Sessions ended since start, by outcome.
    sessions: dict[str, StrictInt]
    #: Control socket messages by type, as the control process received and sent them.
    socket_received: dict[str, StrictInt]
    socket_sent: dict[str, StrictInt]


class StatsReply(_Message):
    id: StrictInt
    type: Literal["stats"] = "stats"
    stats: ControlStats


class ErrorReply(_Message):
    #: None when the request was too broken to carry an id.
    id: StrictInt | None = None
    type: Literal["error"] = "error"
    message: str


#: What the control process sends: a reply to one request, or a push to a subscriber.
Message = Annotated[
    Reply
    | EstopReply
    | StatusReply
    | StatsReply
    | ErrorReply
    | SnapshotMessage
    | EventMessage
    | SessionStartReply
    | RecordsReply,
    Field(discriminator="type"),
]
_MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)


def _decode(line: bytes, adapter: TypeAdapter[_T], what: str) -> _T:
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"a {what} is a JSON object")
    if data.get("v") != PROTOCOL_VERSION:
        raise ValueError(f"protocol version must be {PROTOCOL_VERSION}")
    try:
        return adapter.validate_python(data)
    except ValueError as exc:
        first = str(exc).splitlines()
        raise ValueError("; ".join(first[:3])) from None


def decode_request(line: bytes) -> Request:
    """One request line; ValueError with a short reason for anything else."""
    return _decode(line, _REQUEST, "request")


def decode_message(line: bytes) -> Message:
    """One line from the control process; ValueError with a short reason for anything else."""
    return _decode(line, _MESSAGE, "message")


def request_id(line: bytes) -> int | None:
    """The id of a request that failed to decode, when it can be found."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def jsonable(value: object) -> Any:
    """Dataclasses, named tuples, enums, mappings and tuples as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: jsonable(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode(message: BaseModel) -> bytes:
    """One message as one line."""
    return message.model_dump_json().encode() + b"\n"
