"""The unit's own protection: what the controller writes and reads back before arming."""

from __future__ import annotations

from cryoctl.core.port import DeviceKind, Protection
from cryoctl.profile import ceilings

__all__ = ["default_protection"]


def default_protection(kind: DeviceKind) -> Protection:
    """The unit's own protection the controller writes and reads back before arming.

    CJ-Air: outside a session the open cap is the smallest the unit takes; each
    zone's start raises it to that zone's dwell plus the margin.
    """
    if kind is DeviceKind.N2:
        return Protection(watchdog_ms=500, lease_ms=200)
    return Protection(watchdog_ms=500, max_open_ms=ceilings.CJAIR_MAX_OPEN_MS_MIN)
