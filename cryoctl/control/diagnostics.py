"""What the controller tells about itself beyond control: its numbers and the link's frames.

- :class:`LoopTimer` measures each cycle's period and jitter and each poll's round
  trip into the controller's :class:`~cryoctl.control.stats.ControllerStats`
  (a bisect and an increment per observation, nothing encoded).
- :class:`FrameDump` writes the driver's ring of the last frames into the log,
  once, as one ``frame trace`` event, when the machine enters ``fault`` or
  ``disconnected``: what went over the wire just before is what a technician needs.
  A driver offers its ring as a ``trace`` attribute with ``dump(logger, reason)``
  (:class:`drivers.trace.FrameTrace`); a port without one is skipped.
"""

from __future__ import annotations

from typing import Any, Protocol

import structlog

from cryoctl.control.stats import ControllerStats
from cryoctl.core.machine import DISCONNECTED, FAULT, Phase
from cryoctl.core.port import DevicePort
from cryoctl.core.treatment import Treatment

__all__ = ["FrameDump", "LoopTimer", "driver_read_retries"]

_log = structlog.get_logger("cryoctl.control.controller")

#: The phases whose entry dumps the frame ring.
DUMP_ON: tuple[Phase, ...] = (FAULT, DISCONNECTED)


class _Ring(Protocol):
    def dump(self, logger: Any, reason: str) -> int: ...


class LoopTimer:
    """Period and jitter of the control cycles, round trip of the polls."""

    def __init__(self, stats: ControllerStats, period_s: float) -> None:
        self._stats = stats
        self._period_s = period_s
        self._last_cycle_s: float | None = None
        stats.set_period(period_s)

    def cycle_started(self, now: float) -> None:
        last, self._last_cycle_s = self._last_cycle_s, now
        if last is None:
            return
        period = now - last
        self._stats.period_s.observe(period)
        self._stats.jitter_s.observe(abs(period - self._period_s))

    def polled(self, took_s: float) -> None:
        self._stats.poll_s.observe(took_s)


def driver_read_retries(port: DevicePort) -> int | None:
    """The reads the driver tried again, when it counts them."""
    value = getattr(port, "read_retries_used", None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class FrameDump:
    """Dumps the driver's frame ring when the machine enters fault or disconnected."""

    def __init__(self, port: DevicePort, treatment: Treatment) -> None:
        self._port = port
        self._t = treatment
        self._phase = treatment.phase
        #: How many dumps were written (for tests and diagnostics).
        self.dumps = 0

    def check(self) -> None:
        """Call after each wake: dumps once per entry into a dumping phase. Never raises."""
        phase = self._t.phase
        if phase is self._phase:
            return
        self._phase = phase
        if phase not in DUMP_ON:
            return
        ring: _Ring | None = getattr(self._port, "trace", None)
        if ring is None or not callable(getattr(ring, "dump", None)):
            return
        alarms = sorted(code.value for code in self._t.alarms.active_codes())
        try:
            ring.dump(_log.bind(phase=phase.value, alarms=alarms,
                                session_held=self._t.session is not None),
                      f"entered {phase.value}")
        except Exception:  # a diagnostics failure must never reach the loop
            _log.exception("frame trace not dumped", phase=phase.value)
            return
        self.dumps += 1
