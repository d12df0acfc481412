"""The fake unit refuses what real units refuse and keeps its history; the supervisor alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cryoctl.core.fake_unit import CJ_AIR_CAPABILITIES, N2_CAPABILITIES, FakeUnit, VirtualClock
from cryoctl.core.port import DevicePort, EventKind, Status
from cryoctl.core.supervisor import SafetySupervisor, SupervisorContext
from cryoctl.errors import DeviceRefused, DeviceTimeout


def test_fake_unit_is_a_device_port() -> None:
    assert isinstance(FakeUnit(N2_CAPABILITIES, VirtualClock()), DevicePort)
    assert isinstance(FakeUnit(CJ_AIR_CAPABILITIES, VirtualClock()), DevicePort)


def test_history_is_timestamped_and_the_lease_runs_out() -> None:
    clock = VirtualClock(10.0)
    unit = FakeUnit(N2_CAPABILITIES, clock, lease_ms=200)
    unit.inputs.nozzle = "A"
    events: list[EventKind] = []
    unit.subscribe(lambda e: events.append(e.kind))
    unit.tell_open()
    clock.advance(0.1)
    unit.tell_open()  # renews
    clock.advance(0.25)
    status = unit.status_now()
    assert not status.valve_commanded
    assert unit.open_intervals() == [(10.0, pytest.approx(10.3))]
    assert [t.what for t in unit.history] == ["open", "valve", "open", "read_status", "valve"]
    assert events == [EventKind.LEASE_EXPIRED]


def test_refuses_to_open_while_latched_and_reset_needs_the_button_released() -> None:
    clock = VirtualClock()
    unit = FakeUnit(CJ_AIR_CAPABILITIES, clock)
    unit.press_estop_button()
    with pytest.raises(DeviceRefused):
        unit.tell_open()
    unit.tell_reset_estop()
    assert unit.estop_latched
    unit.release_estop_button()
    unit.tell_reset_estop()
    assert not unit.estop_latched
    unit.tell_open()
    assert unit.valve_open


def test_failed_reads_raise_timeouts() -> None:
    unit = FakeUnit(N2_CAPABILITIES, VirtualClock())
    unit.inputs.fail_reads = 1
    with pytest.raises(DeviceTimeout):
        unit.status_now()
    assert isinstance(unit.status_now(), Status)


def context(**changes: object) -> SupervisorContext:
    base = dict(
        session_id=1,
        site=(0, 0),
        nozzle="M",
        max_dwell_s=3.0,
        max_total_s=5.0,
        passes=2,
        rest_s=10.0,
        max_session_s=100.0,
        max_cryogen_g=50.0,
        flow_g_s=1.0,
        skin_stop_c=None,
        skin_warn_c=None,
        paused=False,
        host_estop=False,
    )
    base.update(changes)
    return SupervisorContext(**base)  # type: ignore[arg-type]


def status(at_s: float, **changes: object) -> Status:
    base = dict(
        read_at_s=at_s,
        valve_at_s=at_s,
        telemetry_at_s=at_s,
        valve_commanded=False,
        valve_feedback=None,
        trigger=True,
        estop_latched=False,
        nozzle="M",
        fault_bits=0,
        faults=frozenset(),
        watchdog_tripped=False,
        o2_pct=20.9,
    )
    base.update(changes)
    return Status(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "st, ctx, reason",
    [
        (None, context(), "no status from the unit"),
        (status(0.0), None, "no session"),
        (status(-0.1), context(), "stale status"),
        (status(0.0, nozzle="A"), context(), "nozzle 'A' is not 'M'"),
        (status(0.0, o2_pct=19.4), context(), "oxygen low or unknown"),
        (status(0.0, estop_latched=True), context(), "session halted: unit e-stop"),
        (status(0.0, fault_bits=0x1), context(), "session halted: unit fault"),
        (status(0.0, trigger=False), context(), "trigger not held"),
        (status(0.0), context(host_estop=True), "session halted: host e-stop"),
        (status(0.0), context(paused=True), "session paused"),
    ],
)
def test_supervisor_refuses_an_open_for_each_broken_invariant(
    st: Status | None, ctx: SupervisorContext | None, reason: str
) -> None:
    verdict = SafetySupervisor(control_period_s=0.02).check(0.0, st, True, ctx)
    assert verdict.force_close
    assert reason in verdict.reasons


@pytest.mark.parametrize(
    "halting",
    [status(0.0, estop_latched=True), status(0.0, fault_bits=0x8), None],
    ids=["unit e-stop", "unit fault", "link lost"],
)
def test_a_halted_session_never_sprays_again_a_new_one_may(halting: Status | None) -> None:
    sup = SafetySupervisor(control_period_s=0.02)
    ctx = replace(context(), link_grace_s=0.1)
    first = status(0.0)
    assert not sup.check(0.0, first, False, ctx).force_close
    if halting is None:  # still only that status, past the grace time: no answer
        sup.check(0.101, first, False, ctx)
    else:
        sup.check(0.0, halting, False, ctx)
    later = status(1.0)
    refused = sup.check(1.0, later, True, ctx)
    assert refused.force_close
    assert any(r.startswith("session halted") for r in refused.reasons)
    new = replace(ctx, session_id=2)
    sup.check(1.02, status(1.02, trigger=False), False, new)  # a new press for the new session
    assert not sup.check(1.04, status(1.04), True, new).force_close


def test_a_short_outage_does_not_halt_but_the_next_open_needs_a_new_press() -> None:
    sup = SafetySupervisor(control_period_s=0.02)
    ctx = replace(context(), link_grace_s=10.0)
    first = status(0.0)
    assert not sup.check(0.0, first, True, ctx).force_close  # spraying
    sup.check(0.5, first, False, ctx)  # half a second with no new answer: closed
    held = sup.check(0.52, status(0.52), True, ctx)
    assert "trigger not released since the last close" in held.reasons
    assert not any(r.startswith("session halted") for r in held.reasons)
    sup.check(0.54, status(0.54, trigger=False), False, ctx)
    later = 0.5 + ctx.rest_s + 0.1  # after the zone's rest, a new press sprays again
    assert not sup.check(later, status(later), True, ctx).force_close


def test_supervisor_counts_dwell_rest_and_passes_itself() -> None:
    sup = SafetySupervisor(control_period_s=0.02)
    ctx = context()
    t = 0.0
    while t <= 3.0:
        assert not sup.check(t, status(t), True, ctx).force_close
        t = round(t + 0.02, 6)
    assert sup.check(t, status(t), True, ctx).reasons == ("dwell limit",)
    t += 0.02
    assert "trigger not released since the last close" in sup.check(t, status(t), True, ctx).reasons
    sup.check(t + 0.02, status(t + 0.02, trigger=False), False, ctx)
    assert "zone rest not over" in sup.check(t + 1.0, status(t + 1.0), True, ctx).reasons
    t += 10.1
    assert not sup.check(t, status(t), True, ctx).force_close
    sup.check(t + 0.5, status(t + 0.5, trigger=False), False, ctx)
    t += 11.0
    assert "passes used up" in sup.check(t, status(t), True, ctx).reasons
    assert not sup.check(t, status(t), True, context(site=(0, 1))).force_close
    assert sup.interventions == 4
