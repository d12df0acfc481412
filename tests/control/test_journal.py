"""The event journal: every published event is one log line, whatever fields it carries."""

from __future__ import annotations

from structlog.testing import capture_logs

from cryoctl.control.journal import log_event
from cryoctl.core.snapshot import ControlEvent


def test_a_spray_event_with_its_own_time_is_logged_with_both_times() -> None:
    event = ControlEvent(7, 12.5, "spray_started",
                         {"session_id": 1, "zone": 0, "site": 0, "at_s": 12.48,
                          "ended_by": None})
    with capture_logs() as logs:
        log_event(event)
    [line] = logs
    assert line["event"] == "spray started" and line["event_seq"] == 7
    assert line["at_s"] == 12.5 and line["event_at_s"] == 12.48
    assert line["zone"] == 0 and line["log_level"] == "info"
