"""The valve as the host commanded it, kept apart from what the unit last reported.

Every close, for any reason, leaves the close *pending* until a status read after
it shows the valve closed (the valve read-back 0, and the feedback where the unit
has one); the controller sends it again each cycle while it is. A valve the unit
reports open that the host did not open is closed at once, with a high alarm. An
open that was on its way while a close went out is closed again when it returns.
No call here raises: a failed write is an alarm and a pending close.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import structlog

from cryoctl.control.stats import ControllerStats
from cryoctl.core.port import DevicePort, Status
from cryoctl.core.treatment import Treatment

__all__ = ["ValveBook"]

_log = structlog.get_logger("cryoctl.control.valve")


class ValveBook:
    def __init__(
        self,
        port: DevicePort,
        treatment: Treatment,
        clock: Callable[[], float],
        stats: ControllerStats,
    ) -> None:
        self._port = port
        self._t = treatment
        self._clock = clock
        self._stats = stats
        #: The host believes the valve commanded open (an open was acknowledged).
        self.open_sent = False
        #: A close went out and no status read after it has shown the valve closed
        #: (True at first: nothing is known of a valve until a status shows it).
        self.close_pending = True
        self.close_sent_at_s = -math.inf
        #: When the unit last acknowledged a close. A read that began before it may have
        #: been answered before the unit closed (a ``STAT`` on the line while the
        #: ``CLOSE`` waited its turn, stamped at its arrival): its "open" is no
        #: uncommanded open.
        self.close_acked_at_s = -math.inf
        #: One more for every close sent (an open awaited across a close is re-closed).
        self._close_gen = 0

    def judge(self, status: Status, now: float) -> None:
        """Confirm a pending close, or catch a valve open that the host did not open."""
        if status.valve_at_s < self.close_sent_at_s or status.read_at_s < self.close_sent_at_s:
            return  # read before the last close went out: it cannot confirm it
        if self.close_pending and not status.valve_commanded and status.valve_feedback is not True:
            self.close_pending = False
            self._stats.closes_confirmed += 1
            self._t.on_close_confirmed(now)
        elif (not self.open_sent and status.valve_commanded
              and status.valve_at_s > self.close_acked_at_s):
            self._stats.uncommanded_opens += 1
            self.close_pending = True
            self._t.on_uncommanded_open("the unit reports the valve open after a close", now)
            _log.error("valve open without a command", phase=self._t.phase.value)

    async def close(self) -> bool:
        """Close now; on failure the close stays pending and goes out again next cycle."""
        if self.close_pending and self.close_sent_at_s > -math.inf:
            self._stats.closes_resent += 1
        self.open_sent = False
        self.close_pending = True
        self._close_gen += 1
        self.close_sent_at_s = self._clock()
        self._stats.closes_sent += 1
        try:
            await self._port.close_valve()
        except Exception as exc:  # any failure: the close is sent again until confirmed
            self._stats.close_failures += 1
            detail = str(exc) or type(exc).__name__
            self._t.on_write_error("close", detail, self._clock())
            _log.error("close failed; sending again", error=detail)
            return False
        self.close_acked_at_s = self._clock()
        return True

    async def open(self, refused: Callable[[str], None]) -> None:
        """Open (or renew the lease); ``refused`` books a refusal, and the valve is closed."""
        gen = self._close_gen
        try:
            await self._port.open_valve()
        except Exception as exc:  # refused or lost: the unit stays shut, the core books it
            refused(str(exc) or type(exc).__name__)
            await self.close()
            return
        if gen != self._close_gen or not self._t.commands().valve_open:
            # A close went out (or was decided) while the open was on its way.
            await self.close()
        else:
            self.open_sent = True
