"""The control channel over real HTTP, against a minimal unit that records what it is told."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from simulator.base import LinkFaults, ManualClock, RealClock, SimUnit, UnsupportedControl
from simulator.cjair.unit import CjAirUnit
from simulator.control import serve_control


class RecordingUnit:
    """A unit with every control except ``level``; it keeps a history of calls."""

    kind = "recording"

    def __init__(self) -> None:
        self.link = LinkFaults()
        self.clock = ManualClock(5.0)
        self.calls: list[tuple[str, Any]] = []

    def advance(self, now_s: float | None = None) -> None:
        self.calls.append(("advance", now_s))

    def state(self) -> dict[str, Any]:
        return {"calls": [list(c) for c in self.calls], "link": self.link.as_dict()}

    def set_trigger(self, pressed: bool) -> None:
        self.calls.append(("trigger", pressed))

    def set_estop(self, pressed: bool) -> None:
        self.calls.append(("estop", pressed))

    def set_nozzle(self, code: str | None) -> None:
        if code not in (None, "S6"):
            raise ValueError(f"unknown nozzle {code!r}")
        self.calls.append(("nozzle", code))

    def set_hose(self, connected: bool) -> None:
        self.calls.append(("hose", connected))

    def set_skin(self, on_skin: bool) -> None:
        self.calls.append(("skin", on_skin))

    def set_o2(self, pct: float) -> None:
        self.calls.append(("o2", pct))

    def set_level(self, pct: float) -> None:
        raise UnsupportedControl("level", self.kind)

    def set_fault(self, name: str, active: bool, value: float | None = None) -> None:
        if name in ("drop_all", "corrupt", "delay", "freeze"):
            self.link.set(name, active, value)
        else:
            raise ValueError(f"unknown fault {name!r}")
        self.calls.append(("fault", name))


def test_recording_unit_meets_the_protocol() -> None:
    assert isinstance(RecordingUnit(), SimUnit)


async def test_routes_reach_the_unit_and_answer_state() -> None:
    unit = RecordingUnit()
    server = await serve_control(unit)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
            for path, body in [
                ("/trigger", {"pressed": True}),
                ("/estop", {"pressed": False}),
                ("/nozzle", {"code": "S6"}),
                ("/hose", {"connected": True}),
                ("/skin", {"on_skin": False}),
                ("/o2", {"pct": 20.5}),
            ]:
                answer = await client.post(path, json=body)
                assert answer.status_code == 200, answer.text
            delay = {"name": "delay", "active": True, "value": 25}
            answer = await client.post("/fault", json=delay)
            assert answer.status_code == 200
            assert answer.json()["link"]["delay_ms"] == 25.0
            state = (await client.get("/state")).json()
    finally:
        await server.close()
    assert [c[0] for c in state["calls"]] == [
        "trigger",
        "estop",
        "nozzle",
        "hose",
        "skin",
        "o2",
        "fault",
    ]
    assert state["calls"][5] == ["o2", 20.5]


async def test_clock_reads_the_units_clock_beside_the_hosts_monotonic_clock() -> None:
    unit = RecordingUnit()
    server = await serve_control(unit)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
            before = time.monotonic()
            clock = (await client.get("/clock")).json()
            after = time.monotonic()
            polls = await client.get("/polls")
    finally:
        await server.close()
    assert clock["t_s"] == 5.0
    assert before <= clock["monotonic_s"] <= after
    assert polls.status_code == 404
    assert polls.json()["field"] == "polls"


async def test_polls_list_the_cjair_units_discrete_input_reads() -> None:
    unit = CjAirUnit(clock=ManualClock(1.0))
    unit.read_discretes()
    unit.advance(1.02)
    unit.read_discretes()
    server = await serve_control(unit)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
            polls = (await client.get("/polls")).json()
    finally:
        await server.close()
    assert polls == {"t_s": [1.0, 1.02]}


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/level", {"pct": 50}, 400, "level"),
        ("/nozzle", {"code": "X99"}, 400, "nozzle"),
        ("/fault", {"name": "NO_SUCH_BIT", "active": True}, 400, "fault"),
        ("/fault", {"name": "corrupt", "active": True, "value": 1.5}, 400, "fault"),
        ("/trigger", {"pressed": "yes"}, 422, None),
        ("/trigger", {"pressed": True, "extra": 1}, 422, None),
        ("/o2", {}, 422, None),
    ],
)
async def test_refusals_name_the_field(
    path: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    unit = RecordingUnit()
    server = await serve_control(unit)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
            answer = await client.post(path, json=body)
    finally:
        await server.close()
    assert answer.status_code == status
    if field is not None:
        assert answer.json()["field"] == field
        assert field in answer.json()["error"]
    assert not [c for c in unit.calls if c[0] != "advance"]


def test_link_faults_refuse_unknown_names() -> None:
    link = LinkFaults()
    with pytest.raises(ValueError, match="unknown link fault"):
        link.set("jam", True)
    link.set("corrupt", True, 0.25)
    link.set("drop_all", True)
    assert link.corrupt_ratio == 0.25 and link.drop_all
    link.set("corrupt", False)
    assert link.corrupt_ratio == 0.0


def test_clocks() -> None:
    clock = ManualClock()
    assert clock.advance(1.5) == 1.5 == clock()
    with pytest.raises(ValueError):
        clock.advance(-1)
    fast = RealClock(speed=100.0)
    assert fast.real_delay_s(1.0) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        RealClock(speed=0)
