"""The driver's frame ring in the control process's JSON log, at a unit fault and a lost link.

Real processes: ``cryoctl sim`` and ``cryoctl run --config``; the fault and the
dropped link are injected through the simulator's control channel. When the
machine enters ``fault`` or ``disconnected`` the log must hold one ``frame trace``
event naming that phase, with the last frames that crossed the wire.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from device_rig import split_device
from procs import Children, wait_for

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

#: A fault each unit latches (the machine goes to ``fault``).
UNIT_FAULT = {"n2": "OVERPRESSURE", "cj-air": "TEMP_SENSOR"}


def _dumps(events: list[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == "frame trace" and e.get("phase") == phase]


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
def test_frames_dumped_at_a_unit_fault_and_a_dropped_link(tmp_path: Path, kind: str) -> None:
    with Children(tmp_path) as children:
        device = split_device(children, tmp_path, kind)
        device.start_control()
        wait_for(lambda: device.status()["phase"] == "idle", 10, "idle")

        device.sim.post("fault", {"name": "drop_all", "active": True})
        wait_for(lambda: device.status()["phase"] == "disconnected", 10, "disconnected")
        wait_for(lambda: _dumps(device.control_log(), "disconnected"), 5,
                 "the frame trace at the link loss")
        device.sim.post("fault", {"name": "drop_all", "active": False})
        wait_for(lambda: device.status()["phase"] == "idle", 15, "idle again, the link back")

        device.sim.post("fault", {"name": UNIT_FAULT[kind], "active": True})
        wait_for(lambda: device.status()["phase"] == "fault", 5, "the machine in fault")
        wait_for(lambda: _dumps(device.control_log(), "fault"), 5, "the frame trace at the fault")
        events = device.control_log()

    (at_fault,) = _dumps(events, "fault")  # one event, not one per cycle
    (at_loss,) = _dumps(events, "disconnected")
    for dump in (at_fault, at_loss):
        assert dump["level"] == "warning" and dump["logger"] == "cryoctl.control.controller"
        assert dump["link"] == device.sim.url
        assert dump["reason"] == f"entered {dump['phase']}"
        assert dump["count"] == len(dump["frames"]) > 10
        directions = {line.split()[1] for line in dump["frames"]}
        assert directions == {"tx", "rx"}, dump["frames"][:5]
    assert at_fault["alarms"], "the fault's alarm is named"
    # the frames before the loss: the last ones are requests that got no answer
    assert at_loss["frames"][-1].split()[1] == "tx"
