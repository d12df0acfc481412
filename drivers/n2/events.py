"""N2 ``EV`` lines as the port's :class:`~cryoctl.core.port.DeviceEvent`."""

from __future__ import annotations

import structlog

from cryoctl.core.port import DeviceEvent, EventKind
from cryoctl.errors import ProtocolError
from drivers.n2.codec import EventFrame
from drivers.n2.icd import EV_ESTOP, EV_FAULT, EV_LEASE, EV_NOZZLE, EV_TRIG
from drivers.n2.replies import parse_event

__all__ = ["device_event"]

_log = structlog.get_logger("drivers.n2")

_KINDS = {
    EV_TRIG: EventKind.TRIGGER,
    EV_ESTOP: EventKind.ESTOP,
    EV_NOZZLE: EventKind.NOZZLE,
    EV_LEASE: EventKind.LEASE_EXPIRED,
    EV_FAULT: EventKind.FAULT,
}


def device_event(frame: EventFrame, *, at_s: float, url: str) -> DeviceEvent | None:
    """The port event for ``frame``, or None (logged) when its fields do not fit the ICD."""
    try:
        event = parse_event(frame)
    except ProtocolError as exc:
        _log.warning("n2 event dropped", url=url, reason=str(exc))
        return None
    return DeviceEvent(kind=_KINDS[event.name], at_s=at_s, value=event.value)
