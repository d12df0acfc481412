"""One running session: its clock (pauses excluded), where it is, and its dose ledger."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from cryoctl.core.ledger import DoseLedger, LedgerSummary, SiteKey
from cryoctl.profile import LoadedProfile, Zone

__all__ = ["Outcome", "Session", "SessionRecord", "SprayMark"]


class Outcome(enum.StrEnum):
    COMPLETED = "completed"
    STOPPED = "stopped"
    ESTOP = "estop"
    FAULT = "fault"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class SprayMark:
    """A spray began (``started``) or ended (``ended_by`` says why) at ``at_s``."""

    session_id: int
    zone: int
    site: int
    at_s: float
    started: bool
    ended_by: str = ""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """How a session ended; the records store keeps this."""

    session_id: int
    profile_sha256: str
    profile_identity: str
    outcome: Outcome
    reason: str
    started_at_s: float
    ended_at_s: float
    treated_s: float
    ledger: LedgerSummary


@dataclass
class Session:
    session_id: int
    loaded: LoadedProfile
    started_at_s: float
    ledger: DoseLedger
    zone: int = 0
    site: int = 0
    paused_s: float = 0.0
    paused_since_s: float | None = None
    #: Sprayed since the trigger was last released (the pass is not over yet).
    pass_open: bool = False
    rest_until_s: float = -math.inf
    skin_locked_zones: set[int] = field(default_factory=set)

    @property
    def key(self) -> SiteKey:
        return (self.zone, self.site)

    @property
    def zone_limits(self) -> Zone:
        return self.loaded.profile.zones[self.zone]

    def elapsed_s(self, now: float) -> float:
        """Session time so far, pauses excluded."""
        paused = self.paused_s
        if self.paused_since_s is not None:
            paused += now - self.paused_since_s
        return max(0.0, now - self.started_at_s - paused)

    def budget_s(self, now: float) -> tuple[float, str]:
        """Longest spray allowed from ``now`` on, and which limit binds it."""
        zone = self.zone_limits
        limits = self.loaded.profile.session
        site = self.ledger.site(self.key)
        session = self.ledger.session()
        options = [
            (zone.max_dwell_s, "dwell"),
            (zone.max_total_s - site.open_s, "zone"),
            (limits.max_session_s - self.elapsed_s(now), "session"),
        ]
        flow = self.ledger.flow_g_s
        if limits.max_cryogen_g is not None and flow > 0:
            options.append(((limits.max_cryogen_g - session.cryogen_g) / flow, "cryogen"))
        return min(options)

    def end_pass(self, now: float) -> None:
        if self.pass_open:
            self.ledger.pass_ended(self.key)
            self.pass_open = False
            self.rest_until_s = now + self.zone_limits.rest_s

    def move_to(self, zone: int, site: int) -> None:
        self.zone, self.site = zone, site
        self.pass_open = False
        self.rest_until_s = -math.inf

    def record(self, outcome: Outcome, reason: str, now: float) -> SessionRecord:
        return SessionRecord(
            session_id=self.session_id,
            profile_sha256=self.loaded.sha256,
            profile_identity=self.loaded.identity,
            outcome=outcome,
            reason=reason,
            started_at_s=self.started_at_s,
            ended_at_s=now,
            treated_s=self.elapsed_s(now),
            ledger=self.ledger.summary(),
        )
