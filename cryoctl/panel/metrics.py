"""``GET /metrics``: the panel server's counters and the device's state, for Prometheus.

Each app has its own registry (never prometheus-client's global one), so two apps
in one process (tests) count apart. Counters, incremented as things happen:

- ``cryoctl_panel_socket_messages_total{direction, type}``: messages on the
  control socket, ``sent`` (requests: status, command, load_profile, estop) and
  ``received`` (replies and pushes: status, reply, estop, snapshot, event);
- ``cryoctl_panel_api_requests_total{method, route, status}``: HTTP requests by
  route template (``unmatched`` for a path no route has, or one refused before
  routing);
- ``cryoctl_panel_logins_failed_total``, ``cryoctl_panel_estops_requested_total``,
  ``cryoctl_panel_events_clients_dropped_total``.

Gauges read from the latest snapshot at each scrape (:class:`SnapshotCollector`):
``cryoctl_control_link_up``, ``cryoctl_state{phase}`` (1 for the current phase, 0
for every other), ``cryoctl_healthy``, ``cryoctl_snapshot_seq``,
``cryoctl_alarms_active{code, priority}``.

The seam for the control loop's own numbers: when a snapshot carries a
``"metrics"`` mapping, each entry is exported as ``cryoctl_control_<name>``; a
number becomes a gauge, and ``{"buckets": [[le, cumulative_count], ...,
["+Inf", count]], "sum": s}`` a histogram (e.g. the loop period or the close
latency, measured in the control process). Names are sanitised; malformed entries
are skipped, never an error.

The control loop's period, jitter, poll round trip and counters come from a
``stats`` request made at each scrape (:mod:`cryoctl.panel.control_metrics`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryoctl.panel.control_metrics import ControlStatsCollector, fetch_stats

__all__ = ["PanelMetrics", "RequestCounter", "SnapshotCollector", "router"]

_PRIORITIES = {1: "low", 2: "medium", 3: "high"}
#: The treatment machine's phases as snapshots name them (cryoctl.core.machine.Phase;
#: a test keeps the two alike). ``cryoctl_state`` shows each, so a phase that never
#: occurred is a 0, not a missing series; a phase not listed here is shown when seen.
PHASES = ("starting", "selftest", "idle", "ready", "treating_armed", "treating_spraying",
          "treating_resting", "paused", "completed", "estop", "fault", "disconnected")
_NAME = re.compile(r"[^a-zA-Z0-9_]")
_log = structlog.get_logger("cryoctl.panel.api")
#: Routes polled all the time: their requests are logged at debug level.
_POLLED = frozenset({"/api/v1/status", "/metrics"})
#: Longest a scrape waits for the control process's stats.
_STATS_TIMEOUT_S = 2.0


class SnapshotCollector:
    """Gauges from the latest snapshot, computed at scrape time."""

    def __init__(self, latest: Callable[[], dict[str, Any] | None],
                 link_up: Callable[[], bool]) -> None:
        self._latest = latest
        self._link_up = link_up
        self._phases_seen: set[str] = set(PHASES)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("cryoctl_control_link_up",
                                "Whether the control process's pushes are arriving (1) or not (0)",
                                value=1.0 if self._link_up() else 0.0)
        snapshot = self._latest()
        if snapshot is None:
            return
        phase = snapshot.get("phase")
        state = GaugeMetricFamily("cryoctl_state", "The treatment state machine's phase (1 = now)",
                                  labels=["phase"])
        if isinstance(phase, str):
            self._phases_seen.add(phase)
        for seen in sorted(self._phases_seen):
            state.add_metric([seen], 1.0 if seen == phase else 0.0)
        yield state
        healthy = snapshot.get("healthy")
        if isinstance(healthy, bool):
            yield GaugeMetricFamily("cryoctl_healthy", "The loop is on time and the unit answers",
                                    value=1.0 if healthy else 0.0)
        seq = snapshot.get("seq")
        if isinstance(seq, int):
            yield GaugeMetricFamily("cryoctl_snapshot_seq", "Number of the latest snapshot",
                                    value=float(seq))
        yield self._alarms(snapshot.get("alarms"))
        controls = snapshot.get("metrics")
        if isinstance(controls, Mapping):
            yield from _control_metrics(controls)

    @staticmethod
    def _alarms(alarms: object) -> Metric:
        family = GaugeMetricFamily("cryoctl_alarms_active", "Active alarms (1 each)",
                                   labels=["code", "priority"])
        listed = alarms.get("alarms") if isinstance(alarms, Mapping) else None
        for alarm in listed if isinstance(listed, list) else ():
            if not isinstance(alarm, Mapping):
                continue
            code, priority = alarm.get("code"), alarm.get("priority")
            level = _PRIORITIES.get(priority, str(priority)) if isinstance(priority, int) \
                else str(priority)
            family.add_metric([str(code), level], 1.0)
        return family


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _histogram(name: str, value: Mapping[str, Any]) -> Metric | None:
    buckets, total = value.get("buckets"), _number(value.get("sum"))
    if not isinstance(buckets, list) or total is None or not buckets:
        return None
    pairs: list[tuple[str, float]] = []
    for item in buckets:
        if not (isinstance(item, list | tuple) and len(item) == 2):
            return None
        bound, count = item
        number = _number(count)
        if number is None:
            return None
        label = "+Inf" if bound in ("+Inf", math.inf) else _number(bound)
        if label is None:
            return None
        pairs.append((label if isinstance(label, str) else repr(label), number))
    if pairs[-1][0] != "+Inf":
        return None
    try:
        return HistogramMetricFamily(name, "Measured in the control process",
                                     buckets=pairs, sum_value=total)
    except ValueError:
        return None


def _control_metrics(controls: Mapping[str, Any]) -> Iterator[Metric]:
    for raw_name, value in sorted(controls.items(), key=lambda kv: str(kv[0])):
        name = "cryoctl_control_" + _NAME.sub("_", str(raw_name))[:80]
        number = _number(value)
        if number is not None:
            yield GaugeMetricFamily(name, "Reported by the control process", value=number)
        elif isinstance(value, Mapping):
            family = _histogram(name, value)
            if family is not None:
                yield family


class PanelMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.socket_messages = Counter(
            "cryoctl_panel_socket_messages", "Messages on the control socket",
            ["direction", "type"], registry=self.registry)
        self.api_requests = Counter(
            "cryoctl_panel_api_requests", "HTTP requests answered",
            ["method", "route", "status"], registry=self.registry)
        self.logins_failed = Counter(
            "cryoctl_panel_logins_failed", "Sign-ins refused for a wrong PIN",
            registry=self.registry)
        self.estops_requested = Counter(
            "cryoctl_panel_estops_requested", "E-stops requested through the API",
            registry=self.registry)
        self.events_clients_dropped = Counter(
            "cryoctl_panel_events_clients_dropped",
            "Event stream clients dropped because they could not keep up",
            registry=self.registry)
        self.control = ControlStatsCollector()
        self.registry.register(self.control)

    def sent(self, kind: str) -> None:
        self.socket_messages.labels("sent", kind).inc()

    def received(self, kind: str) -> None:
        self.socket_messages.labels("received", kind).inc()

    def watch(self, latest: Callable[[], dict[str, Any] | None],
              link_up: Callable[[], bool]) -> None:
        self.registry.register(SnapshotCollector(latest, link_up))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestCounter:
    """ASGI middleware counting every HTTP answer by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: PanelMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.api_requests.labels(scope["method"], template, str(status)).inc()
            # Polls (status, metrics) at debug: a kiosk and Prometheus ask all day long.
            poll = scope["method"] == "GET" and template in _POLLED
            client = scope.get("client")
            (_log.debug if poll else _log.info)(
                "api_request", method=scope["method"], route=template, path=scope.get("path"),
                status=status, ms=round((time.perf_counter() - began) * 1000, 2),
                client=client[0] if client else None)


router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics",
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                             "description": "Prometheus text exposition format"}})
async def metrics(request: Request) -> Response:
    state = request.app.state.panel
    panel_metrics: PanelMetrics = state.metrics
    panel_metrics.sent("stats")
    stats = await fetch_stats(state.link, timeout_s=min(state.call_timeout_s, _STATS_TIMEOUT_S))
    if stats is not None:
        panel_metrics.received("stats")
    panel_metrics.control.set(stats)
    return Response(panel_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
