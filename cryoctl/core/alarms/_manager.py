"""The alarm manager: priorities, latching, acknowledgement, audio pause, a log.

Modelled on IEC 60601-1-8 (alarm systems in medical electrical equipment):

- every alarm has a :class:`Priority` (high, medium, low) and a :class:`Category`
  (technical: the device; physiological: the patient or the room);
- a *latching* alarm stays visible after its cause has gone, until staff
  acknowledge it; a non-latching alarm leaves as soon as its cause goes;
- acknowledging silences an alarm for as long as its cause lasts; a latching
  alarm whose cause has already gone leaves at the acknowledgement;
- the audio pause silences the alarms present for ``audio_pause_s`` (120 s by
  default), never hides one from the panel, and any alarm raised (or whose
  cause comes back) after the pause started ends the pause at once, so a new
  alarm always sounds;
- acknowledgement is tied to what the panel saw: ``acknowledge(up_to_seq=...)``
  takes the ``seq`` of the snapshot the staff were looking at and leaves any
  alarm raised after it untouched.

The manager is pure: it never reads a clock (every call takes ``now_s``,
monotonic seconds) and does no I/O. A ``now_s`` earlier than one already seen,
or not finite, is taken as the latest time seen, so the log stays in time order
and a stale clock reading can only shorten an audio pause, never stretch it.
Time alone changes nothing but the audio: a pause that runs out does not bump
``seq``.

The log keeps the last ``log_capacity`` entries (1000 by default); older ones
are dropped, so whoever persists the log reads it often enough
(:meth:`AlarmManager.log_since`; entry numbers show any gap). A change of
``detail`` alone on an active alarm updates the snapshot but writes no log
entry, so a reading repeated every control cycle cannot flush the log.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from cryoctl.core.alarms._catalogue import CATALOGUE, AlarmCode, AlarmSpec, Category, Priority
from cryoctl.errors import ConfigError

__all__ = [
    "DEFAULT_AUDIO_PAUSE_S",
    "DEFAULT_LOG_CAPACITY",
    "MAX_AUDIO_PAUSE_S",
    "ActiveAlarm",
    "AlarmLogEntry",
    "AlarmManager",
    "AlarmSnapshot",
    "LogEvent",
]

#: How long one press of "audio pause" silences the alarms present.
DEFAULT_AUDIO_PAUSE_S = 120.0
#: The longest audio pause any configuration may ask for.
MAX_AUDIO_PAUSE_S = 120.0
#: How many log entries the manager keeps (the oldest are dropped first).
DEFAULT_LOG_CAPACITY = 1000

LogEvent = Literal["raised", "cleared", "acknowledged", "audio_paused", "removed"]


@dataclass(frozen=True, slots=True)
class AlarmLogEntry:
    at_s: float
    #: None for events that concern no single alarm (``audio_paused``).
    code: AlarmCode | None
    event: LogEvent
    detail: str = ""
    #: 1 for the manager's first entry, then one more per entry; a gap between
    #: what a reader has and :meth:`AlarmManager.log_since` shows entries dropped.
    number: int = 0


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    """One alarm as the panel shows it."""

    code: AlarmCode
    priority: Priority
    category: Category
    message: str
    detail: str
    #: When the alarm entered the active set (a returning cause keeps this time).
    raised_at_s: float
    condition_present: bool
    acknowledged: bool
    #: The change number of the latest raise: entering the active set, or the
    #: cause coming back while the alarm was still latched.
    seq: int
    latching: bool = False


@dataclass(frozen=True, slots=True)
class AlarmSnapshot:
    """Everything the panel shows, taken at one change number."""

    seq: int
    #: Highest priority first, then the earliest raised.
    alarms: tuple[ActiveAlarm, ...]
    audio_active: bool
    #: End of the running audio pause, or None when no pause applies.
    audio_paused_until_s: float | None

    @property
    def audio_priority(self) -> Priority | None:
        """The priority whose sound should play, or None for silence."""
        if not self.audio_active:
            return None
        loud = [a.priority for a in self.alarms if not a.acknowledged]
        return max(loud) if loud else None

    def codes(self) -> tuple[AlarmCode, ...]:
        return tuple(a.code for a in self.alarms)


class AlarmManager:
    """Holds the active alarms and their log. Not thread-safe: one owner calls it."""

    def __init__(
        self,
        *,
        audio_pause_s: float = DEFAULT_AUDIO_PAUSE_S,
        catalogue: Mapping[AlarmCode, AlarmSpec] = CATALOGUE,
        log_capacity: int = DEFAULT_LOG_CAPACITY,
    ) -> None:
        if not 0 < audio_pause_s <= MAX_AUDIO_PAUSE_S:
            raise ConfigError(
                f"audio_pause_s must be > 0 and <= {MAX_AUDIO_PAUSE_S}, not {audio_pause_s!r}"
            )
        if log_capacity < 1:
            raise ConfigError(f"log_capacity must be at least 1, not {log_capacity!r}")
        missing = [c.value for c in AlarmCode if c not in catalogue]
        if missing:
            raise ConfigError(f"alarm catalogue lacks {', '.join(missing)}")
        wrong = [c.value for c, s in catalogue.items() if s.code is not c]
        if wrong:
            raise ConfigError(f"alarm catalogue files specs under other codes: {wrong}")
        self._audio_pause_s = float(audio_pause_s)
        self._catalogue = dict(catalogue)
        self._active: dict[AlarmCode, ActiveAlarm] = {}
        self._log: deque[AlarmLogEntry] = deque(maxlen=log_capacity)
        self._seq = 0
        self._log_count = 0
        self._latest_s = -math.inf
        self._codes: tuple[int, frozenset[AlarmCode]] = (-1, frozenset())
        self._paused_until_s: float | None = None

    # -- time -----------------------------------------------------------------

    def _effective_s(self, now_s: float) -> float:
        """``now_s``, or the latest time seen if it is earlier or not finite."""
        if not math.isfinite(now_s):
            return self._latest_s if math.isfinite(self._latest_s) else 0.0
        return max(float(now_s), self._latest_s)

    def _advance(self, now_s: float) -> float:
        self._latest_s = self._effective_s(now_s)
        return self._latest_s

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    def _record(self, at_s: float, code: AlarmCode | None, event: LogEvent, detail: str) -> None:
        self._log_count += 1
        self._log.append(AlarmLogEntry(at_s, code, event, detail, self._log_count))

    # -- changes --------------------------------------------------------------

    def raise_alarm(self, code: AlarmCode, now_s: float, detail: str = "") -> None:
        """The cause of ``code`` is present. Repeating it while active changes nothing
        but the detail text."""
        t = self._advance(now_s)
        current = self._active.get(code)
        if current is not None and current.condition_present:
            if current.detail != detail:
                self._bump()
                self._active[code] = replace(current, detail=detail)
            return
        seq = self._bump()
        if current is None:
            spec = self._catalogue[code]
            self._active[code] = ActiveAlarm(
                code=code,
                priority=spec.priority,
                category=spec.category,
                message=spec.message,
                detail=detail,
                raised_at_s=t,
                condition_present=True,
                acknowledged=False,
                seq=seq,
                latching=spec.latching,
            )
        else:
            # A latched alarm whose cause came back: a new raise for audio and ack.
            self._active[code] = replace(
                current, condition_present=True, acknowledged=False, detail=detail, seq=seq
            )
        self._paused_until_s = None
        self._record(t, code, "raised", detail)

    def clear_condition(self, code: AlarmCode, now_s: float) -> None:
        """The cause of ``code`` has gone. A latching alarm stays until acknowledged."""
        t = self._advance(now_s)
        current = self._active.get(code)
        if current is None or not current.condition_present:
            return
        self._bump()
        self._record(t, code, "cleared", current.detail)
        if current.latching and not current.acknowledged:
            self._active[code] = replace(current, condition_present=False)
        else:
            del self._active[code]
            self._record(t, code, "removed", current.detail)

    def acknowledge(
        self, now_s: float, *, up_to_seq: int | None = None, code: AlarmCode | None = None
    ) -> None:
        """Acknowledge the unacknowledged alarms raised at or before ``up_to_seq``
        (all of them when None), only ``code`` if given."""
        t = self._advance(now_s)
        chosen = [
            a
            for a in self._active.values()
            if not a.acknowledged
            and (up_to_seq is None or a.seq <= up_to_seq)
            and (code is None or a.code is code)
        ]
        if not chosen:
            return
        self._bump()
        for alarm in chosen:
            self._record(t, alarm.code, "acknowledged", alarm.detail)
            if alarm.condition_present:
                self._active[alarm.code] = replace(alarm, acknowledged=True)
            else:
                del self._active[alarm.code]
                self._record(t, alarm.code, "removed", alarm.detail)

    def pause_audio(self, now_s: float) -> None:
        """Silence the alarms present for ``audio_pause_s``; pressing again restarts it."""
        t = self._advance(now_s)
        self._bump()
        self._paused_until_s = t + self._audio_pause_s
        self._record(t, None, "audio_paused", f"until {self._paused_until_s:.3f} s")

    # -- reading --------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The change number: bumped by every change to what a snapshot shows."""
        return self._seq

    @property
    def log(self) -> tuple[AlarmLogEntry, ...]:
        """The newest entries, oldest first (at most ``log_capacity``)."""
        return tuple(self._log)

    @property
    def log_count(self) -> int:
        """How many entries were ever written: the ``number`` of the newest one."""
        return self._log_count

    def log_since(self, number: int) -> tuple[AlarmLogEntry, ...]:
        """The kept entries numbered after ``number``, for a reader that persists the log."""
        kept = len(self._log)
        first = self._log_count - kept + 1
        skip = min(kept, max(0, number - first + 1))
        return tuple(self._log)[skip:]

    def is_active(self, code: AlarmCode) -> bool:
        return code in self._active

    def active_codes(self) -> frozenset[AlarmCode]:
        """The codes active now, as one set (built again only after a change)."""
        cached = self._codes
        if cached[0] != self._seq:
            cached = self._codes = (self._seq, frozenset(self._active))
        return cached[1]

    def is_acknowledged(self, code: AlarmCode) -> bool:
        alarm = self._active.get(code)
        return alarm is not None and alarm.acknowledged

    def condition_present(self, code: AlarmCode) -> bool:
        alarm = self._active.get(code)
        return alarm is not None and alarm.condition_present

    def highest_active(self) -> Priority | None:
        return max((a.priority for a in self._active.values()), default=None)

    def paused_until_s(self, now_s: float) -> float | None:
        """End of the audio pause in force at ``now_s``, or None."""
        until = self._paused_until_s
        if until is None or self._effective_s(now_s) >= until:
            return None
        return until

    def audio_active(self, now_s: float) -> bool:
        """True when an active, unacknowledged alarm should sound at ``now_s``."""
        if self.paused_until_s(now_s) is not None:
            return False
        return any(not a.acknowledged for a in self._active.values())

    def snapshot(self, now_s: float) -> AlarmSnapshot:
        alarms = sorted(self._active.values(), key=lambda a: (-a.priority, a.raised_at_s, a.seq))
        return AlarmSnapshot(
            seq=self._seq,
            alarms=tuple(alarms),
            audio_active=self.audio_active(now_s),
            audio_paused_until_s=self.paused_until_s(now_s),
        )
