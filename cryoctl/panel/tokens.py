"""Sign-in state of the panel: roles, bearer tokens and the throttle on wrong PINs.

Pure bookkeeping on an injected clock (monotonic seconds), so tests move time
instead of sleeping. Nothing here checks a PIN or speaks HTTP (see
:mod:`cryoctl.panel.auth`).
"""

from __future__ import annotations

import enum
import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Failure", "Grant", "LoginThrottle", "Role", "TokenStore", "token_id"]

Clock = Callable[[], float]

#: Bytes of randomness in a token (43 characters of URL-safe base64).
TOKEN_BYTES = 32


class Role(enum.StrEnum):
    """Who signed in. A technician may do everything staff may."""

    STAFF = "staff"
    TECHNICIAN = "technician"

    def includes(self, other: Role) -> bool:
        return _RANK[self] >= _RANK[other]


_RANK = {Role.STAFF: 1, Role.TECHNICIAN: 2}


@dataclass(slots=True)
class Grant:
    """One signed-in token (the token itself is kept only as its hash)."""

    role: Role
    issued_s: float
    last_used_s: float


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_id(token: str) -> str:
    """What the records name a sign-in by: the start of its hash, never the token."""
    return _key(token)[:16]


class TokenStore:
    """Bearer tokens that end ``lifetime_s`` after sign-in or ``idle_s`` after last use."""

    def __init__(self, *, lifetime_s: float, idle_s: float, clock: Clock,
                 max_tokens: int = 64) -> None:
        self._lifetime_s = lifetime_s
        self._idle_s = idle_s
        self._clock = clock
        self._max_tokens = max_tokens
        self._grants: dict[str, Grant] = {}

    def issue(self, role: Role) -> str:
        now = self._clock()
        self._forget_expired(now)
        while len(self._grants) >= self._max_tokens:
            oldest = min(self._grants, key=lambda k: self._grants[k].last_used_s)
            del self._grants[oldest]
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._grants[_key(token)] = Grant(role, now, now)
        return token

    def _expired(self, grant: Grant, now: float) -> bool:
        return (now - grant.issued_s >= self._lifetime_s
                or now - grant.last_used_s >= self._idle_s)

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, g in self._grants.items() if self._expired(g, now)]:
            del self._grants[key]

    def check(self, token: str) -> Grant | None:
        """The grant of a live token, which counts as a use; None for any other."""
        key = _key(token)
        grant = self._grants.get(key)
        if grant is None:
            return None
        now = self._clock()
        if self._expired(grant, now):
            del self._grants[key]
            return None
        grant.last_used_s = now
        return grant

    def revoke(self, token: str) -> bool:
        return self._grants.pop(_key(token), None) is not None

    def __len__(self) -> int:
        return len(self._grants)


@dataclass(frozen=True, slots=True)
class Failure:
    """A wrong PIN as the throttle counted it."""

    count: int
    #: How long the client must now wait before the next try.
    delay_s: float
    #: True the first time the delay reaches its cap.
    locked_out: bool


@dataclass(slots=True)
class _Record:
    count: int
    blocked_until_s: float
    last_failure_s: float


class LoginThrottle:
    """Growing delays after wrong PINs, per client address: 1 s, 2 s, 4 s ... ``max_delay_s``.

    While a client's delay runs, every try from it is refused unchecked (a right PIN
    too), and so is a second try while its first is still being checked. A success
    forgets the client's failures; so does ``forget_after_s`` without a failure.
    """

    def __init__(self, *, clock: Clock, first_delay_s: float = 1.0, max_delay_s: float = 60.0,
                 forget_after_s: float = 3600.0, max_clients: int = 1024) -> None:
        self._clock = clock
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._forget_after_s = forget_after_s
        self._max_clients = max_clients
        self._records: dict[str, _Record] = {}
        self._checking: set[str] = set()

    def retry_after_s(self, client: str) -> int:
        """Whole seconds ``client`` must still wait; 0 when it may try now."""
        if client in self._checking:
            return 1
        record = self._records.get(client)
        if record is None:
            return 0
        now = self._clock()
        if now - record.last_failure_s >= self._forget_after_s:
            del self._records[client]
            return 0
        return max(0, math.ceil(record.blocked_until_s - now))

    def begin(self, client: str) -> None:
        """A try from ``client`` is being checked (call after ``retry_after_s`` said 0)."""
        self._checking.add(client)

    def end(self, client: str) -> None:
        self._checking.discard(client)

    def failed(self, client: str) -> Failure:
        now = self._clock()
        record = self._records.get(client)
        if record is None:
            self._make_room()
            record = self._records[client] = _Record(0, now, now)
        record.count += 1
        delay = min(self._max_delay_s, self._first_delay_s * 2.0 ** (record.count - 1))
        capped_before = record.count > 1 and min(
            self._max_delay_s, self._first_delay_s * 2.0 ** (record.count - 2)
        ) >= self._max_delay_s
        record.blocked_until_s = now + delay
        record.last_failure_s = now
        return Failure(record.count, delay, delay >= self._max_delay_s and not capped_before)

    def succeeded(self, client: str) -> None:
        self._records.pop(client, None)

    def _make_room(self) -> None:
        if len(self._records) < self._max_clients:
            return
        now = self._clock()
        for client in [c for c, r in self._records.items() if r.blocked_until_s <= now]:
            del self._records[client]
        while len(self._records) >= self._max_clients:
            oldest = min(self._records, key=lambda c: self._records[c].last_failure_s)
            del self._records[oldest]
