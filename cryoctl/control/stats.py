"""What the control process counts, for diagnostics and ``GET /metrics``.

Everything is aggregated here, in the control process, as it happens: a
histogram is a fixed list of bucket bounds and one count per bucket (an
observation is a bisect and an increment, no allocation), a counter an integer.
Nothing is encoded per cycle; :meth:`ControllerStats.report` builds the
:class:`~cryoctl.protocol.ControlStats` message only when a ``stats`` request asks
for it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from itertools import pairwise

from cryoctl.core.snapshot import ControlEvent, Snapshot
from cryoctl.protocol import ControlStats, HistogramData

__all__ = [
    "JITTER_BOUNDS_S",
    "POLL_BOUNDS_S",
    "ControllerStats",
    "Histogram",
    "period_bounds_s",
]

#: Bounds for how far a period was from the nominal one.
JITTER_BOUNDS_S: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5)
#: Bounds for one status read's round trip.
POLL_BOUNDS_S: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_PERIOD_FACTORS = (0.5, 0.8, 0.9, 0.95, 0.975, 1.0, 1.025, 1.05, 1.1, 1.25, 1.5, 2.0, 5.0, 10.0)


def period_bounds_s(period_s: float) -> tuple[float, ...]:
    """Bounds for the loop's period, around the nominal ``period_s``."""
    return tuple(round(period_s * f, 9) for f in _PERIOD_FACTORS)


class Histogram:
    """Counts per bucket (``<= bound``; the last one above every bound), sum and max."""

    __slots__ = ("bounds_s", "counts", "max_s", "sum_s")

    def __init__(self, bounds_s: Sequence[float]) -> None:
        bounds = tuple(float(b) for b in bounds_s)
        if not bounds or any(b >= c for b, c in pairwise(bounds)):
            raise ValueError("histogram bounds must be increasing and not empty")
        self.bounds_s = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum_s = 0.0
        self.max_s = 0.0

    def observe(self, value_s: float) -> None:
        self.counts[bisect_left(self.bounds_s, value_s)] += 1
        self.sum_s += value_s
        if value_s > self.max_s:
            self.max_s = value_s

    @property
    def count(self) -> int:
        return sum(self.counts)

    def data(self) -> HistogramData:
        return HistogramData(bounds_s=list(self.bounds_s), counts=list(self.counts),
                             sum_s=self.sum_s, max_s=self.max_s)


@dataclass
class ControllerStats:
    """Counts for diagnostics and metrics (the integer fields are the counters)."""

    cycles: int = 0
    late_cycles: int = 0
    read_errors: int = 0
    write_errors: int = 0
    closes_sent: int = 0
    closes_confirmed: int = 0
    #: Closes sent while an earlier one was still unconfirmed.
    closes_resent: int = 0
    close_failures: int = 0
    uncommanded_opens: int = 0
    internal_errors: int = 0
    #: Reads the driver had to try again (it reports them; 0 if it does not).
    read_retries: int = 0
    period_s: Histogram = field(default_factory=lambda: Histogram(period_bounds_s(0.02)))
    jitter_s: Histogram = field(default_factory=lambda: Histogram(JITTER_BOUNDS_S))
    poll_s: Histogram = field(default_factory=lambda: Histogram(POLL_BOUNDS_S))
    alarms_raised: Counter[str] = field(default_factory=Counter)
    sessions: Counter[str] = field(default_factory=Counter)
    socket_received: Counter[str] = field(default_factory=Counter)
    socket_sent: Counter[str] = field(default_factory=Counter)

    def set_period(self, period_s: float) -> None:
        """Buckets around this nominal period (before the loop runs)."""
        self.period_s = Histogram(period_bounds_s(period_s))

    def on_published(self, item: Snapshot | ControlEvent) -> None:
        """A publisher listener: counts alarms raised and sessions ended."""
        if not isinstance(item, ControlEvent):
            return
        if item.name == "alarm_raised":
            self.alarms_raised[str(item.data.get("code"))] += 1
        elif item.name == "session_ended":
            self.sessions[str(item.data.get("outcome"))] += 1

    def counters(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), int)}

    def report(self) -> ControlStats:
        return ControlStats(
            period_s=self.period_s.data(),
            jitter_s=self.jitter_s.data(),
            poll_s=self.poll_s.data(),
            counters=self.counters(),
            alarms_raised=dict(self.alarms_raised),
            sessions=dict(self.sessions),
            socket_received=dict(self.socket_received),
            socket_sent=dict(self.socket_sent),
        )
