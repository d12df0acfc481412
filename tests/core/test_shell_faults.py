"""The controller shell's failure paths, one injected failure at a time, in virtual time.

Each test is one of the holes a reviewer found by failing one call: a panel e-stop
whose close fails, a lost close on CJ-Air, a failed close in e-stop, a reset that
skipped the protection read-back, the CJ-Air open cap that did not follow the zone,
and telemetry judged by the trigger's age.
"""

from __future__ import annotations

import pytest
from core_rig import Rig, make_rig, shipped

from cryoctl.core.alarms import AlarmCode
from cryoctl.core.fake_unit import CJ_AIR_CAPABILITIES, N2_CAPABILITIES, OPEN_CAP_BIT
from cryoctl.core.machine import Phase
from cryoctl.core.port import Status
from cryoctl.errors import MachineRefused

PERIOD_S = 0.02
UNITS = [
    pytest.param(N2_CAPABILITIES, "M", "n2-face-cryomassage", id="n2"),
    pytest.param(CJ_AIR_CAPABILITIES, "F20", "air-face-tone", id="cj-air"),
]


def spraying(caps: object, nozzle: str, profile: str) -> Rig:
    rig = make_rig(caps, nozzle=nozzle, period_s=PERIOD_S)  # type: ignore[arg-type]
    rig.boot(shipped(profile))
    rig.act("start_session")
    rig.run(PERIOD_S)
    rig.unit.press_trigger()
    rig.settle()
    rig.run(0.3)
    assert rig.unit.valve_open and rig.treatment.phase is Phase.SPRAYING
    return rig


@pytest.mark.parametrize(("caps", "nozzle", "profile"), UNITS)
def test_a_panel_estop_whose_close_fails_still_latches_and_closes_next_cycle(
    caps: object, nozzle: str, profile: str
) -> None:
    rig = spraying(caps, nozzle, profile)
    rig.unit.fail_next("close", 1, error="timeout")
    acknowledged = rig.host_estop("panel")
    assert acknowledged is False
    t = rig.treatment
    assert t.phase is Phase.ESTOP
    assert t.records[-1].outcome == "estop"
    assert t.alarms.is_active(AlarmCode.ESTOP) and t.alarms.is_active(AlarmCode.CLOSE_FAILED)
    rig.run(2 * PERIOD_S)
    assert not rig.unit.valve_open, "the failed close was not sent again"
    assert not rig.controller.close_pending
    assert rig.treatment.phase is Phase.ESTOP


def test_a_lost_close_on_a_trigger_release_is_sent_again_at_the_next_cycle() -> None:
    rig = spraying(CJ_AIR_CAPABILITIES, "F20", "air-face-tone")
    # the event's own close and the wake-up's both lost
    rig.unit.fail_next("close", 2, error="timeout")
    released_at = rig.clock()
    rig.unit.release_trigger()
    rig.settle()
    assert rig.unit.valve_open, "the injected failure did not take"
    rig.run(2 * PERIOD_S)
    [(_, closed)] = rig.unit.open_intervals()
    assert closed is not None and closed - released_at <= PERIOD_S + 1e-9
    assert rig.treatment.alarms.is_active(AlarmCode.CLOSE_FAILED)


def test_a_close_acknowledged_but_not_carried_out_is_sent_until_the_unit_shows_it() -> None:
    rig = spraying(CJ_AIR_CAPABILITIES, "F20", "air-face-tone")
    rig.unit.inputs.ignore_closes = 3
    rig.unit.release_trigger()
    rig.settle()
    rig.run(5 * PERIOD_S)
    assert not rig.unit.valve_open
    assert len(rig.unit.told("ignored")) == 3
    assert not rig.controller.close_pending


@pytest.mark.parametrize(("caps", "nozzle", "profile"), UNITS)
def test_failed_closes_in_estop_never_end_the_loop(caps: object, nozzle: str, profile: str) -> None:
    rig = spraying(caps, nozzle, profile)
    rig.host_estop("panel")
    rig.unit.fail_next("close", 20, error="unavailable")
    rig.unit.inputs.report_open = True  # so the shell keeps closing
    rig.run(30 * PERIOD_S)
    assert rig.task is not None and not rig.task.done(), "the control loop died"
    assert rig.treatment.phase is Phase.ESTOP
    assert rig.controller.stats.close_failures >= 10
    rig.unit.inputs.report_open = False
    rig.run(3 * PERIOD_S)
    assert not rig.controller.close_pending


@pytest.mark.parametrize("failing", ["read", "heartbeat", "open", "apply", "cap_open"])
def test_no_port_failure_ends_the_loop(failing: str) -> None:
    rig = spraying(CJ_AIR_CAPABILITIES, "F20", "air-face-tone")
    rig.unit.fail_next(failing, 5, error="refused")
    rig.run(0.5)
    rig.unit.release_trigger()
    rig.run(0.5)
    assert rig.task is not None and not rig.task.done()
    assert not rig.unit.valve_open


@pytest.mark.parametrize("reset", ["estop", "fault"])
def test_every_reset_writes_and_reads_back_the_protection_before_anything_sprays(
    reset: str,
) -> None:
    rig = spraying(N2_CAPABILITIES, "M", "n2-face-cryomassage")
    if reset == "estop":
        rig.host_estop("panel")
    else:
        rig.unit.set_fault_bits(0x8)
        rig.settle()
        rig.run(PERIOD_S)
        rig.unit.inputs.fault_bits = 0
    configures = len(rig.unit.told("configure"))
    rig.unit.inputs.config_mismatch = True  # the unit's watchdog does not read back now
    rig.act("request_estop_reset" if reset == "estop" else "request_fault_reset")
    rig.run(5 * PERIOD_S)
    assert len(rig.unit.told("configure")) > configures, "a reset skipped the read-back"
    assert rig.treatment.phase is Phase.FAULT
    assert rig.treatment.alarms.is_active(AlarmCode.CONFIG_MISMATCH)
    with pytest.raises(MachineRefused):
        rig.act("start_session")
    rig.unit.release_trigger()
    rig.run(0.2)
    rig.unit.press_trigger()
    rig.run(0.5)
    assert [t for t in rig.unit.told("valve") if t.value is True][-1].at_s < rig.clock() - 0.5


def test_the_cj_air_open_cap_follows_each_zone() -> None:
    loaded = shipped("air-face-tone")
    rig = make_rig(CJ_AIR_CAPABILITIES, nozzle="F20", period_s=PERIOD_S)
    rig.boot(loaded)
    assert rig.unit.max_open_ms == 500, "outside a session the cap is the unit's smallest"
    rig.act("start_session")
    zones = loaded.profile.zones
    assert rig.unit.max_open_ms == round(zones[0].max_dwell_s * 1000) + 500
    rig.act("next_zone")
    assert rig.unit.max_open_ms == round(zones[1].max_dwell_s * 1000) + 500
    rig.act("finish")
    assert rig.unit.max_open_ms == 500


def test_no_spray_in_a_zone_whose_cap_did_not_read_back() -> None:
    rig = make_rig(CJ_AIR_CAPABILITIES, nozzle="F20", period_s=PERIOD_S)
    rig.boot(shipped("air-face-tone"))
    rig.unit.inputs.config_mismatch = True
    rig.act("start_session")
    rig.unit.press_trigger()
    rig.run(0.5)
    assert not rig.unit.told("valve")
    assert any("time limit" in r for r in rig.treatment.spray_refusals(rig.clock()))
    assert rig.treatment.alarms.is_active(AlarmCode.CONFIG_MISMATCH)


def test_the_unit_closes_at_the_zone_cap_when_the_host_would_not() -> None:
    """Layer 2 on its own: a host that keeps the coil set is cut at dwell + margin."""
    rig = spraying(CJ_AIR_CAPABILITIES, "F20", "air-face-tone")
    dwell_s = shipped("air-face-tone").profile.zones[0].max_dwell_s
    [opened] = [t.at_s for t in rig.unit.told("valve") if t.value is True]
    rig.unit.tell_open()  # as a host that lost its dwell limit would
    rig.clock.advance(dwell_s + 0.6)
    rig.unit.status_now()
    [(start, end)] = rig.unit.open_intervals()
    assert start == opened and end == pytest.approx(opened + dwell_s + 0.5)
    assert rig.unit.inputs.fault_bits & OPEN_CAP_BIT


def test_stale_telemetry_stops_a_spray_although_the_trigger_is_fresh() -> None:
    rig = spraying(CJ_AIR_CAPABILITIES, "F20", "air-face-tone")
    rig.unit.inputs.telemetry_lag_s = 0.35
    rig.run(2 * PERIOD_S)
    assert not rig.unit.valve_open
    assert rig.treatment.alarms.is_active(AlarmCode.STALE_DATA)
    assert rig.core.supervisor.interventions == 0, "the machine itself must stop it"


def test_a_stopped_loop_is_unhealthy_and_answers_what_was_still_queued() -> None:
    import asyncio

    from cryoctl.core.staff import Pause

    rig = make_rig(N2_CAPABILITIES, nozzle="M", period_s=PERIOD_S)
    rig.boot(shipped("n2-face-cryomassage"))
    rig.run(0.1)
    assert rig.controller.healthy
    rig.controller.stop()
    pending = rig.loop.create_task(rig.controller.submit(Pause()))
    reply = rig.loop.run_until_complete(asyncio.wait_for(pending, 5))
    assert reply.ok is False, "a command sent as the loop stops is answered, never left hanging"
    assert rig.task is not None and rig.task.done()
    assert not rig.controller.healthy


class _LineTakesTime:
    """The unit's port, with a close that takes 2 ms on the line, during which the
    answer to the read that was ahead of it arrives (showing the valve still open)."""

    def __init__(self, rig: Rig) -> None:
        self._rig = rig
        self.answered: Status | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._rig.unit, name)

    async def close_valve(self) -> None:
        self._rig.clock.advance(0.001)
        self.answered = self._rig.unit.status_now()  # read before the unit closed: open
        self._rig.clock.advance(0.001)
        await self._rig.unit.close_valve()


@pytest.mark.parametrize(("caps", "nozzle", "profile"), UNITS)
def test_a_read_answered_before_the_close_was_acknowledged_is_no_uncommanded_open(
    caps: object, nozzle: str, profile: str
) -> None:
    """The N2 driver stamps a ``STAT`` at its answer's arrival, so a ``STAT`` that was on
    the line while a ``CLOSE`` waited its turn looks read after the close went out.
    Its "open" was seen before the unit closed: no uncommanded open, no high alarm. A
    read after the acknowledgement that still shows the valve open is one.
    """
    rig = spraying(caps, nozzle, profile)
    book = rig.controller._valve
    line = _LineTakesTime(rig)
    book._port = line  # type: ignore[assignment]
    assert rig.loop.run_until_complete(book.close())
    assert line.answered is not None and line.answered.valve_commanded
    assert line.answered.valve_at_s > book.close_sent_at_s
    book.judge(line.answered, rig.clock())
    assert AlarmCode.VALVE_OPEN_UNCOMMANDED not in rig.treatment.alarms.active_codes()
    rig.clock.advance(0.001)
    still_open = line.answered._replace(read_at_s=rig.clock(), valve_at_s=rig.clock())
    book.judge(still_open, rig.clock())
    assert AlarmCode.VALVE_OPEN_UNCOMMANDED in rig.treatment.alarms.active_codes()


@pytest.mark.parametrize(("caps", "nozzle", "profile"), UNITS)
def test_after_a_stall_of_the_host_only_a_request_left_unanswered_loses_the_link(
        caps: object, nozzle: str, profile: str) -> None:
    """The host stalls mid-spray (a GC pause): the silence it did not ask into is not a
    lost link; a close the unit then leaves unanswered, after that silence, is."""
    rig = spraying(caps, nozzle, profile)
    t = rig.treatment
    now = rig.clock.advance(5 * PERIOD_S)  # no read, no tick: the host stalled
    t.tick(now)
    assert t.phase is not Phase.DISCONNECTED, "the host's own stall taken for a lost link"
    assert not t.alarms.is_active(AlarmCode.COMM_LOST)
    t.on_write_error("close", "no answer to CLOSE within 100 ms", now)  # what the shell books
    t.tick(now)
    assert t.phase is Phase.DISCONNECTED, "a close the unit left unanswered, silent 5 periods"
    assert t.alarms.is_active(AlarmCode.COMM_LOST)
