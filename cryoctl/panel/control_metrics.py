"""The control loop's own numbers in ``GET /metrics``, fetched over the control socket.

The control process aggregates them (:mod:`cryoctl.control.stats`: bucket counts,
counters); at each scrape the panel asks once with a ``stats`` request
(:class:`~cryoctl.protocol.ControlStats`) and turns the answer into:

- ``cryoctl_control_loop_period_seconds``, ``cryoctl_control_loop_jitter_seconds``,
  ``cryoctl_control_poll_round_trip_seconds``: histograms, plus a ``..._max_seconds``
  gauge each (the largest seen);
- ``cryoctl_control_<counter>_total`` for each of the loop's counters (cycles,
  late_cycles, read_errors, read_retries, closes_sent, closes_confirmed,
  closes_resent, close_failures, ...);
- ``cryoctl_control_alarms_raised_total{code}``, ``cryoctl_control_sessions_total{outcome}``,
  ``cryoctl_control_socket_messages_total{direction, type}``.

When the control process does not answer within the scrape's deadline these are
left out of that scrape (``cryoctl_control_link_up`` says why); nothing is shown
from an old answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from cryoctl.protocol import ControlStats, HistogramData

__all__ = ["ControlStatsCollector", "fetch_stats"]

_log = structlog.get_logger(__name__)

_HISTOGRAMS = (
    ("period_s", "cryoctl_control_loop_period_seconds",
     "Time between the starts of two control cycles"),
    ("jitter_s", "cryoctl_control_loop_jitter_seconds",
     "How far each control period was from the nominal one"),
    ("poll_s", "cryoctl_control_poll_round_trip_seconds",
     "One status read from the unit, request to answer"),
)


async def fetch_stats(link: Any, *, timeout_s: float) -> ControlStats | None:
    """The control process's stats, or None when it cannot say within ``timeout_s``."""
    stats = getattr(link, "stats", None)
    if stats is None or not getattr(link, "connected", False):
        return None
    try:
        async with asyncio.timeout(timeout_s):
            answer = await stats()
    except OSError as exc:  # TimeoutError included: this scrape goes without them
        _log.info("control stats not fetched", error=str(exc) or type(exc).__name__)
        return None
    return answer if isinstance(answer, ControlStats) else None


def _histogram(name: str, doc: str, data: HistogramData) -> Iterator[Metric]:
    cumulative = list(accumulate(data.counts))
    buckets = [(repr(bound), float(count))
               for bound, count in zip(data.bounds_s, cumulative, strict=False)]
    buckets.append(("+Inf", float(cumulative[-1] if cumulative else 0)))
    yield HistogramMetricFamily(name, doc, buckets=buckets, sum_value=data.sum_s)
    yield GaugeMetricFamily(f"{name[:-len('_seconds')]}_max_seconds",
                            f"{doc}: the largest since start", value=data.max_s)


class ControlStatsCollector:
    """Yields the metrics of the latest :class:`ControlStats` handed to :meth:`set`."""

    def __init__(self) -> None:
        self._stats: ControlStats | None = None

    def set(self, stats: ControlStats | None) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        if stats is None:
            return
        for field, name, doc in _HISTOGRAMS:
            yield from _histogram(name, doc, getattr(stats, field))
        for counter, value in sorted(stats.counters.items()):
            yield CounterMetricFamily(f"cryoctl_control_{counter}",
                                      f"The control loop's {counter.replace('_', ' ')}",
                                      value=float(value))
        alarms = CounterMetricFamily("cryoctl_control_alarms_raised",
                                     "Alarms raised, by code", labels=["code"])
        for code, count in sorted(stats.alarms_raised.items()):
            alarms.add_metric([code], float(count))
        yield alarms
        sessions = CounterMetricFamily("cryoctl_control_sessions",
                                       "Sessions ended, by outcome", labels=["outcome"])
        for outcome, count in sorted(stats.sessions.items()):
            sessions.add_metric([outcome], float(count))
        yield sessions
        messages = CounterMetricFamily("cryoctl_control_socket_messages",
                                       "Control socket messages, as the control process "
                                       "received and sent them", labels=["direction", "type"])
        for direction, counts in (("received", stats.socket_received),
                                  ("sent", stats.socket_sent)):
            for kind, count in sorted(counts.items()):
                messages.add_metric([direction, kind], float(count))
        yield messages
