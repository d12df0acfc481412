"""The published events in the log: every state change, alarm and session is one event.

A publisher listener (the control process subscribes it at start): each
:class:`~cryoctl.core.snapshot.ControlEvent` becomes one structlog event named
after it (``state changed`` with ``before`` and ``after``, ``alarm raised`` with
``code`` and ``detail``, ``session started``, ``session ended`` with ``outcome``),
its scalar fields as the event's fields. A lost link and its return are logged by
the controller itself, with what it knows then, and are skipped here.
"""

from __future__ import annotations

from typing import Any

import structlog

from cryoctl.core.snapshot import ControlEvent, Snapshot

__all__ = ["log_event"]

_log = structlog.get_logger("cryoctl.control.events")

_WARNINGS = frozenset({"alarm_raised"})
_SKIPPED = frozenset({"link_lost", "link_back"})
#: The fields every logged event has itself.
_OWN = frozenset({"event_seq", "at_s"})


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def log_event(item: Snapshot | ControlEvent) -> None:
    """Log one published event (snapshots are not logged: they are state, not change)."""
    if not isinstance(item, ControlEvent) or item.name in _SKIPPED:
        return
    # An event's own time (a spray's ``at_s``) is kept beside the publication's, renamed.
    fields: dict[str, Any] = {(f"event_{k}" if k in _OWN else k): v
                              for k, v in item.data.items() if _scalar(v)}
    level = _log.warning if item.name in _WARNINGS else _log.info
    level(item.name.replace("_", " "), event_seq=item.seq, at_s=round(item.at_s, 4), **fields)
