"""Alarms: priorities, latching, acknowledgement, audio pause and a log.

The catalogue (:mod:`cryoctl.core.alarms._catalogue`) says what alarms exist; the
manager (:mod:`cryoctl.core.alarms._manager`) says how they come and go. See the
manager's module docstring for the rules.
"""

from cryoctl.core.alarms._catalogue import CATALOGUE, AlarmCode, AlarmSpec, Category, Priority
from cryoctl.core.alarms._manager import (
    DEFAULT_AUDIO_PAUSE_S,
    DEFAULT_LOG_CAPACITY,
    MAX_AUDIO_PAUSE_S,
    ActiveAlarm,
    AlarmLogEntry,
    AlarmManager,
    AlarmSnapshot,
    LogEvent,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_AUDIO_PAUSE_S",
    "DEFAULT_LOG_CAPACITY",
    "MAX_AUDIO_PAUSE_S",
    "ActiveAlarm",
    "AlarmCode",
    "AlarmLogEntry",
    "AlarmManager",
    "AlarmSnapshot",
    "AlarmSpec",
    "Category",
    "LogEvent",
    "Priority",
]
