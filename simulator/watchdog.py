"""Why a simulated unit's watchdog tripped, in words, for its log and ``GET /state``.

A unit on its own trips its watchdog one window after power-on: nothing feeds it
until a host connects. That is the ICD's behaviour, not a fault of the simulator,
and a developer who looks at ``/state`` a minute later should be told so.
"""

from __future__ import annotations

import logging

__all__ = ["log_trip", "watchdog_reason"]

log = logging.getLogger("simulator.watchdog")


def watchdog_reason(
    *, window_ms: int, fed_at_s: float, power_on_s: float, feed: str, reset: str
) -> str:
    """One sentence: whether any host ever fed the watchdog, and how to clear it."""
    if fed_at_s <= power_on_s:
        return (
            f"no host has sent a {feed} since power-on, so the watchdog lapsed "
            f"{window_ms} ms after it (expected while nothing drives the unit); "
            f"a host that connects clears it with {reset}"
        )
    return (
        f"the host's last {feed} was at t={fed_at_s:.3f} s and none came within "
        f"{window_ms} ms (the host stopped or the link dropped); {reset} clears it"
    )


def log_trip(kind: str, reason: str) -> None:
    log.warning("%s WATCHDOG tripped: %s", kind, reason)
