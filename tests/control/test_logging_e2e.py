"""The journal of a running device: one structlog event, with fields, for each thing done.

Three processes, their log format left at ``auto`` and their output a file (not a
terminal): every line must be one JSON object. An e-stop through the API and a
technician's reset over the control socket must leave, in order, the API call in
the panel's log and, in the control process's: the socket messages, the commands
to the unit, the alarm, and each state change.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from device_rig import split_device
from procs import Children, wait_for

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    events = [json.loads(line) for line in lines]  # every line is JSON
    for event in events:
        assert {"event", "level", "logger", "timestamp"} <= event.keys(), event
    return events


def _find(events: list[dict[str, Any]], event: str, *,
          following: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """The first ``event`` with these fields (after the event ``following``, if given)."""
    first = 0 if following is None else events.index(following) + 1
    for e in events[first:]:
        if e["event"] == event and all(e.get(k) == v for k, v in fields.items()):
            return e
    raise AssertionError(f"no {event!r} with {fields} in the log:\n"
                         + "\n".join(json.dumps(e) for e in events[-40:]))


def test_state_changes_unit_commands_alarms_socket_and_api_calls_are_events(
        tmp_path: Path) -> None:
    with Children(tmp_path) as children:
        device = split_device(children, tmp_path, "n2")
        device.config.write_text(device.config.read_text().replace(
            'format = "json"', 'format = "auto"'))
        device.start_control()
        device.start_panel()
        wait_for(lambda: device.status()["phase"] == "idle", 10, "idle")
        request = urllib.request.Request(f"{device.base_url}/api/v1/estop", method="POST",
                                         data=b"")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        device.on_command("reset_estop")
        wait_for(lambda: device.status()["phase"] == "idle", 10, "idle after the reset")
        control = _json_lines(children.log("control-1"))
        panel = _json_lines(children.log("panel-1"))

    api = _find(panel, "api_request", method="POST", route="/api/v1/estop", status=200)
    assert api["level"] == "info" and isinstance(api["ms"], float)
    request = _find(control, "control request", type="estop")
    estop = _find(control, "estop requested", source="panel", following=request)
    close = _find(control, "unit command", command="close", ok=True, following=estop)
    reply = _find(control, "control reply", type="estop", acknowledged=True, following=close)
    latched = _find(control, "state changed", before="idle", after="estop", following=request)
    alarm = _find(control, "alarm raised", code="estop", following=request)
    reset = _find(control, "control request", type="command", command="reset_estop",
                  following=reply)
    sent = _find(control, "unit command", command="reset_estop", ok=True, following=reset)
    selftest = _find(control, "state changed", before="estop", after="selftest", following=sent)
    configure = _find(control, "unit command", command="configure", ok=True, watchdog_ms=500,
                      lease_ms=200, following=sent)
    idle = _find(control, "state changed", before="selftest", after="idle", following=configure)
    steps = [request, estop, close, reply, latched, alarm, reset, sent, selftest, configure, idle]
    start = _find(control, "unit command", command="connect", ok=True)
    assert control.index(start) < control.index(request)
    assert all(e["logger"].startswith("cryoctl.") for e in steps)
