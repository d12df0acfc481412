"""The controller shell on real transports in real time, measured at the unit.

Each test runs the real :class:`~cryoctl.control.controller.Controller` (treatment core, alarm
manager, safety supervisor, ``time.monotonic``, the default realtime sleeper, 50 Hz)
around the real driver, opened from the URL of a simulated unit that the simulator's
fixtures serve over TCP on 127.0.0.1 or on a pty (CJ-Air: Modbus RTU; N2: its line
protocol). What the valve did is read from the unit's own valve history, never
only from what the controller believes; the link faults (``drop_all``, ``delay``) are
the simulator's. What the shell promises is in :mod:`cryoctl.control.controller`'s docstring;
the layers of safety behind it in DESIGN.md ("Safety in layers").

Cases: a press opens and a release closes at the unit; a panel e-stop on a link that
drops every frame; a close (or its answer) lost on the wire, and a short drop around a
release; answers later than the driver's timeout while spraying; a reconnect after a
drop; the CJ-Air's own open cap following the zone; and a stall of the host's own
loop, every request answered, that is not taken for a lost link.

Bounds are generous (a busy 2-core machine): what is asserted is the order of
things and that each layer holds, not the milliseconds; the milliseconds each run
measured are printed (``-s``), one ``measured`` line per test.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Any

import pytest
from wire_rig import HOST_CLOSE, PERIOD_S, TARGETS, UNIT_EXPIRY, Move, Rig, shipped, until, wired

from cryoctl.core.alarms import AlarmCode
from cryoctl.core.cycle import Output
from cryoctl.core.machine import Phase
from cryoctl.core.port import Status
from cryoctl.core.staff import NextZone, Stop
from cryoctl.profile import parse_profile
from cryoctl.profile.shipped import SHIPPED_PACKAGE

ALL = list(TARGETS)
TCP = ["n2_tcp", "cjair_tcp"]
#: The drivers' default answer timeouts (N2Driver 100 ms, CjAirDriver 250 ms).
ANSWER_TIMEOUT_S = {"n2": 0.1, "cj-air": 0.25}
#: How long the controller may take, at most, to send a close it decided on: a
#: request already on the wire must time out first (its read retries give way to it).
CLOSE_QUEUE_S = {"n2": 0.1, "cj-air": 0.25}
#: Scheduling slack on a loaded machine, on top of every bound below.
SLACK_S = 0.2
#: What the controller raises when the link fails while spraying: stale data or a lost
#: link where it judges the late answers itself; the unit's fault where the unit's own
#: watchdog closed the valve before the first (late) status came back.
LINK_ALARMS = {AlarmCode.STALE_DATA, AlarmCode.COMM_LOST, AlarmCode.UNIT_FAULT}


def measured(name: str, **numbers: Any) -> None:
    def show(v: Any) -> str:
        return f"{v * 1000:.1f} ms" if isinstance(v, float) else str(v)

    print(f"measured {name}: " + ", ".join(f"{k}={show(v)}" for k, v in numbers.items()))


def handle_for(request: pytest.FixtureRequest, name: str) -> Any:
    return request.getfixturevalue(TARGETS[name].fixture)


def first_close(rig: Rig, since_s: float) -> Move:
    closes = [m for m in rig.sim.moves_since(since_s) if not m.open]
    assert closes, f"no close at the unit since {since_s}: {rig.describe()}"
    return closes[0]


async def close_confirmed(rig: Rig, sent_before: int, within_s: float = 3.0) -> float:
    """Wait until a close sent after ``sent_before`` closes went out is confirmed by a
    status (``close_pending`` alone is False before any close is sent)."""
    c = rig.controller
    return await until(
        lambda: c.stats.closes_sent > sent_before and not c.close_pending,
        within_s, "a close sent and confirmed by a status", rig,
    )


def no_open_since(rig: Rig, since_s: float) -> None:
    opened = [m for m in rig.sim.moves_since(since_s) if m.open]
    assert not opened, f"the valve opened again at the unit: {opened}; {rig.describe()}"


# -- 1. a spray opens at the unit, a release closes it there ----------------------------


@pytest.mark.parametrize("name", ALL)
async def test_a_press_opens_the_valve_at_the_unit_and_a_release_closes_it(
    name: str, request: pytest.FixtureRequest
) -> None:
    """Trigger pressed and released through the simulator's HTTP control channel."""
    target = TARGETS[name]
    async with wired(handle_for(request, name), target) as rig:
        await rig.start_session()
        pressed_at = time.monotonic()
        opened = await rig.spraying(via_http=True)
        assert opened.at_s - pressed_at < 0.3
        await asyncio.sleep(0.3)
        sent_before = rig.controller.stats.closes_sent
        released_at = time.monotonic()
        await rig.sim.post("/trigger", {"pressed": False})
        await until(lambda: not rig.sim.valve_open(), 1.0, "the valve closed at the unit", rig)
        close = first_close(rig, released_at)
        assert close.why == HOST_CLOSE[target.kind], close
        # N2 sends EV,TRIG at once; the CJ-Air's release is seen by the next poll.
        assert close.at_s - released_at <= 0.1 + SLACK_S, close
        await close_confirmed(rig, sent_before, 1.0)
        assert rig.phase in (Phase.RESTING, Phase.ARMED)
        assert rig.controller.stats.close_failures == 0
        await asyncio.sleep(0.1)
        no_open_since(rig, released_at)
        assert not rig.task.done()
        measured(
            name,
            press_to_open=opened.at_s - pressed_at,
            open_s=close.at_s - opened.at_s,
            release_to_close=close.at_s - released_at,
            phase=rig.phase.value,
        )


# -- 2. a panel e-stop while the link drops every frame ------------------------------------

ESTOP_DROP_S = 0.3


@pytest.mark.parametrize("name", ALL)
async def test_panel_estop_on_a_dead_link_latches_at_once_and_the_unit_ends_closed(
    name: str, request: pytest.FixtureRequest
) -> None:
    target = TARGETS[name]
    async with wired(handle_for(request, name), target) as rig:
        await rig.start_session()
        await rig.spraying()
        await asyncio.sleep(0.2)
        expiry_due = rig.sim.expiry_due_s()
        sent_before = rig.controller.stats.closes_sent
        dropped_at = rig.sim.fault("drop_all", True)
        asyncio.get_running_loop().call_later(ESTOP_DROP_S, rig.sim.fault, "drop_all", False)
        estop = asyncio.create_task(rig.controller.request_estop("panel"))
        await asyncio.sleep(0)
        # Latched before any I/O: the close is still on its way, the machine is in estop.
        assert not estop.done()
        assert rig.phase is Phase.ESTOP
        latched_in = time.monotonic() - dropped_at
        acknowledged = await asyncio.wait_for(estop, 3.0)  # returns, never raises
        returned_in = time.monotonic() - dropped_at
        assert isinstance(acknowledged, bool)
        assert rig.phase is Phase.ESTOP and not rig.task.done()
        await until(lambda: not rig.sim.valve_open(), 2.0, "the valve closed at the unit", rig)
        close = first_close(rig, dropped_at)
        cleared_at = dropped_at + ESTOP_DROP_S
        # Whichever comes first: the unit's own expiry, or the close sent again once
        # frames flow (after the request in flight has timed out).
        resend_by = cleared_at + CLOSE_QUEUE_S[target.kind] + 2 * PERIOD_S
        assert close.at_s <= min(expiry_due, resend_by) + SLACK_S, close
        assert close.why in (HOST_CLOSE[target.kind], *UNIT_EXPIRY[target.kind]), close
        await close_confirmed(rig, sent_before)
        assert rig.phase is Phase.ESTOP
        assert rig.treatment.records[-1].outcome == "estop"
        assert rig.treatment.alarms.is_active(AlarmCode.ESTOP)
        no_open_since(rig, dropped_at)
        assert not rig.task.done()
        measured(
            name,
            latched_in=latched_in,
            acknowledged=acknowledged,
            request_returned_in=returned_in,
            closed_by=close.why,
            closed_after_drop=close.at_s - dropped_at,
            expiry_due_after_drop=expiry_due - dropped_at,
            frames_back_after=ESTOP_DROP_S,
            close_failures=rig.controller.stats.close_failures,
        )


# -- 3. a close lost on the wire is sent again until a status shows it -------------------


def close_window(rig_box: list[Rig], name: str, how: str, window_s: float) -> Any:
    """An observer that spoils the link the moment the controller decides to close
    after a spray (before the close goes out), for ``window_s``."""
    state: dict[str, Any] = {"spraying": False, "at": None}

    def observe(out: Output, status: Status | None) -> None:
        if not rig_box or state["at"] is not None:
            return
        rig = rig_box[0]
        if out.valve_open:
            state["spraying"] = rig.phase is Phase.SPRAYING
            return
        if not state["spraying"]:
            return
        if how == "drop":
            state["at"] = rig.sim.fault("drop_all", True)
            clear = (rig.sim.fault, "drop_all", False)
        else:
            late_ms = (ANSWER_TIMEOUT_S[rig.target.kind] + 0.1) * 1000
            state["at"] = rig.sim.fault("delay", True, late_ms)
            clear = (rig.sim.fault, "delay", False)
        asyncio.get_running_loop().call_later(window_s, *clear)

    return observe, state


@pytest.mark.parametrize(
    "name,how",
    [(n, "drop") for n in ALL] + [(n, "delay") for n in TCP],
)
async def test_a_close_lost_on_the_wire_is_sent_again_until_a_status_confirms_it(
    name: str, how: str, request: pytest.FixtureRequest
) -> None:
    """The link fails exactly as the release's close goes out: ``drop`` loses the close
    (the unit never sees it), ``delay`` loses its answer (the unit closes, the host
    cannot know). Either way the close goes out again until a status shows it."""
    target = TARGETS[name]
    window_s = 0.1 if how == "drop" else 0.3
    box: list[Rig] = []
    observe, lost = close_window(box, name, how, window_s)
    async with wired(handle_for(request, name), target, observer=observe) as rig:
        box.append(rig)
        await rig.start_session()
        await rig.spraying()
        await asyncio.sleep(0.2)
        sent_before = rig.controller.stats.closes_sent
        released_at = rig.sim.trigger(False)
        await until(lambda: lost["at"] is not None, 1.0, "the close decided", rig)
        lost_at: float = lost["at"]
        await until(lambda: not rig.sim.valve_open(), 2.0, "the valve closed at the unit", rig)
        close = first_close(rig, released_at)
        confirmed_in = await close_confirmed(rig, sent_before) - lost_at
        stats = rig.controller.stats
        assert stats.close_failures >= 1, stats
        assert stats.closes_sent > stats.closes_confirmed, stats
        assert AlarmCode.CLOSE_FAILED in rig.raised()
        assert not rig.sim.valve_open()
        assert close.why in (HOST_CLOSE[target.kind], *UNIT_EXPIRY[target.kind]), close
        if how == "delay":
            assert close.why == HOST_CLOSE[target.kind], "the delayed close itself acted"
        assert not rig.task.done()
        await until(
            lambda: rig.phase not in (Phase.SPRAYING, Phase.DISCONNECTED, Phase.SELFTEST),
            3.0, "settled", rig,
        )
        await asyncio.sleep(0.2)
        assert rig.phase not in (Phase.FAULT, Phase.SPRAYING), rig.describe()
        no_open_since(rig, released_at)
        assert not rig.task.done()
        measured(
            f"{name}/{how}",
            release_to_close_decided=lost_at - released_at,
            closed_by=close.why,
            closed_after_window_opened=close.at_s - lost_at,
            confirmed_after=confirmed_in,
            closes_sent=stats.closes_sent,
            close_failures=stats.close_failures,
            phase=rig.phase.value,
        )


AROUND_RELEASE_DROP_S = 0.15


@pytest.mark.parametrize("name", ALL)
async def test_a_short_drop_around_a_release_closes_and_arms_again(
    name: str, request: pytest.FixtureRequest
) -> None:
    """Frames dropped from just before a release until shortly after it, well inside
    the unit's own expiry: the release (an N2 event, a CJ-Air poll) is lost with them.
    The valve ends closed at the unit, and once the link is back the controller can be
    armed again: a short outage latches no fault the unit does not have."""
    target = TARGETS[name]
    async with wired(handle_for(request, name), target) as rig:
        await rig.start_session()
        await rig.spraying()
        await asyncio.sleep(0.2)
        expiry_due = rig.sim.expiry_due_s()
        sent_before = rig.controller.stats.closes_sent
        dropped_at = rig.sim.fault("drop_all", True)
        rig.sim.trigger(False)
        await asyncio.sleep(AROUND_RELEASE_DROP_S)
        cleared_at = rig.sim.fault("drop_all", False)
        await until(lambda: not rig.sim.valve_open(), 2.0, "the valve closed at the unit", rig)
        close = first_close(rig, dropped_at)
        resend_by = cleared_at + CLOSE_QUEUE_S[target.kind] + 2 * PERIOD_S
        assert close.at_s <= min(expiry_due, resend_by) + SLACK_S, close
        await close_confirmed(rig, sent_before)
        stats = rig.controller.stats
        await until(
            lambda: rig.phase not in (Phase.SPRAYING, Phase.DISCONNECTED, Phase.SELFTEST),
            3.0, "settled", rig,
        )
        await asyncio.sleep(0.2)
        settled = rig.phase
        assert rig.phase is not Phase.FAULT, [
            (e.code, e.detail) for e in rig.treatment.alarms.log if e.event == "raised"
        ]
        no_open_since(rig, dropped_at)
        await rig.rearm()
        again = await rig.spraying()
        assert not rig.task.done()
        measured(
            name,
            closed_by=close.why,
            closed_after_drop=close.at_s - dropped_at,
            expiry_due_after_drop=expiry_due - dropped_at,
            frames_back_after=cleared_at - dropped_at,
            closes_sent=stats.closes_sent,
            close_failures=stats.close_failures,
            settled_in=settled.value,
            sprayed_again_after_drop=again.at_s - dropped_at,
        )


# -- 4. answers later than the driver's timeout while spraying ---------------------------


@pytest.mark.parametrize("name", TCP)
async def test_late_answers_while_spraying_close_raise_an_alarm_and_need_a_new_press(
    name: str, request: pytest.FixtureRequest
) -> None:
    target = TARGETS[name]
    late_ms = (ANSWER_TIMEOUT_S[target.kind] + 0.1) * 1000
    async with wired(handle_for(request, name), target) as rig:
        await rig.start_session()
        await rig.spraying()
        await asyncio.sleep(0.2)
        expiry_due = rig.sim.expiry_due_s()
        late_at = rig.sim.fault("delay", True, late_ms)
        await until(lambda: not rig.sim.valve_open(), 1.5, "the valve closed at the unit", rig)
        close = first_close(rig, late_at)
        assert close.at_s <= expiry_due + SLACK_S, close
        await asyncio.sleep(max(0.0, late_at + 0.5 - time.monotonic()))
        rig.sim.fault("delay", False)
        assert not rig.task.done()
        await until(
            lambda: bool(rig.raised() & LINK_ALARMS), 2.0, "an alarm for the link", rig,
        )
        await until(
            lambda: rig.phase in (Phase.IDLE, Phase.FAULT, Phase.ARMED, Phase.PAUSED)
            and rig.controller.healthy,
            3.0, "the link back", rig,
        )
        back_in = time.monotonic() - late_at
        phase_back = rig.phase
        no_open_since(rig, late_at)
        if rig.phase is not Phase.ARMED:
            await rig.rearm()
        again = await rig.sprays_only_after_a_new_press(late_at)
        measured(
            name,
            answers_late_by=late_ms / 1000,
            closed_by=close.why,
            closed_after=close.at_s - late_at,
            expiry_due_after=expiry_due - late_at,
            link_back_after=back_in,
            phase_back=phase_back.value,
            alarms=sorted(a.value for a in rig.raised()),
            sprayed_again_after=again.at_s - late_at,
        )


# -- 5. a reconnect after a drop re-verifies the protection and sprays nothing --------


RECONNECT_DROP_S = 1.0


@pytest.mark.parametrize("name", ALL)
async def test_a_reconnect_after_a_drop_reads_the_protection_back_and_sprays_nothing(
    name: str, request: pytest.FixtureRequest
) -> None:
    target = TARGETS[name]
    async with wired(handle_for(request, name), target) as rig:
        unit = rig.sim.unit
        protection = rig.controller.protection
        await rig.start_session()
        await rig.spraying()  # and the trigger stays held to the end
        await asyncio.sleep(0.2)
        resets_before = fault_resets(rig)
        dropped_at = rig.sim.fault("drop_all", True)
        await until(lambda: rig.phase is Phase.DISCONNECTED, 2.0, "disconnected", rig)
        disconnected_in = time.monotonic() - dropped_at
        if target.cjair:
            # The unit as after a power cycle during the outage: the ICD's defaults.
            from simulator.cjair.registers import Holding

            with unit.atomic():
                unit.write_holding(Holding.WATCHDOG_MS, 1000)
                unit.write_holding(Holding.MAX_OPEN_MS, 20000)
        await asyncio.sleep(max(0.0, dropped_at + RECONNECT_DROP_S - time.monotonic()))
        cleared_at = rig.sim.fault("drop_all", False)
        await until(
            lambda: rig.phase not in (Phase.DISCONNECTED, Phase.SELFTEST), 3.0, "back", rig
        )
        back_in = time.monotonic() - cleared_at
        # back within the grace time: the session is held, paused (a resume and a new
        # press to spray again)
        assert rig.phase is Phase.PAUSED, rig.describe()
        assert rig.treatment.session is not None and not rig.treatment.records
        if target.cjair:
            wanted_ms = rig.treatment.open_cap_wanted_ms()
            await until(lambda: rig.sim.state()["holding"]["MAX_OPEN_MS"] == wanted_ms, 2.0,
                        "the zone's open cap written again", rig)
        state = rig.sim.state()
        if target.cjair:
            assert state["holding"]["WATCHDOG_MS"] == protection.watchdog_ms
            assert fault_resets(rig) > resets_before
        else:
            assert state["wdt_ms"] == protection.watchdog_ms
            # The unit's watchdog starved during the drop; configure's RESET cleared it.
            history = [(rig.sim.host_s(f["t_s"]), f["faults"]) for f in state["fault_history"]]
            tripped = [t for t, bits in history if int(bits, 16) & 1 and t >= dropped_at]
            assert tripped, history
            assert history[-1][1] == "0000" and history[-1][0] >= cleared_at, history
        assert AlarmCode.COMM_LOST in rig.raised()
        assert not rig.sim.valve_open()
        close = first_close(rig, dropped_at)
        no_open_since(rig, dropped_at)
        await rig.rearm()
        again = await rig.sprays_only_after_a_new_press(dropped_at)
        assert not rig.task.done()
        measured(
            name,
            disconnected_after=disconnected_in,
            closed_by=close.why,
            closed_after_drop=close.at_s - dropped_at,
            back_after_frames_flow=back_in,
            sprayed_again_after_drop=again.at_s - dropped_at,
        )


def fault_resets(rig: Rig) -> int:
    """CJ-Air: FAULT_RESETs the unit took (configure sends one); 0 on the N2."""
    return sum(1 for e in rig.sim.state().get("events", []) if e["event"] == "FAULT_RESET")


# -- the host's own stall is not a lost link ------------------------------------------

HOST_STALL_S = 0.1


@pytest.mark.parametrize("name", TCP)
async def test_a_stall_of_the_host_before_a_press_is_not_a_lost_link(
    name: str, request: pytest.FixtureRequest
) -> None:
    """The controller's own loop stalls for five periods inside a cycle (as in a GC pause
    or on a CPU-starved machine) while the trigger is pressed; the unit and the link do
    not stall (the simulator runs in its own thread) and every request is answered."""
    target = TARGETS[name]
    box: list[Rig] = []
    stall: dict[str, Any] = {"armed": False, "pressed_at": None}

    def stall_once(out: Output, status: Status | None) -> None:
        if stall["armed"]:
            stall["armed"] = False
            stall["pressed_at"] = box[0].sim.trigger(True)
            time.sleep(HOST_STALL_S)  # blocks the event loop: the host stalls

    async with wired(handle_for(request, name), target, observer=stall_once) as rig:
        box.append(rig)
        await rig.start_session()
        await asyncio.sleep(0.2)
        stall["armed"] = True
        await until(lambda: stall["pressed_at"] is not None, 1.0, "the stall", rig)
        pressed_at: float = stall["pressed_at"]
        await until(
            lambda: any(m.open for m in rig.sim.moves_since(pressed_at)),
            1.0, "the press spraying after the stall", rig,
        )
        assert AlarmCode.COMM_LOST not in rig.raised()
        assert rig.controller.stats.read_errors == 0
        assert not rig.treatment.records


# -- 6. the CJ-Air's own open cap follows the zone ---------------------------------------


def with_second_zone_dwell(dwell_s: int) -> Any:
    """air-face-tone with a shorter dwell in its second zone (the shipped zones are equal)."""
    text = resources.files(SHIPPED_PACKAGE).joinpath("air-face-tone.toml").read_text()
    first = text.index("max_dwell_s = 45")
    second = text.index("max_dwell_s = 45", first + 1)
    text = text[:second] + f"max_dwell_s = {dwell_s}" + text[second + len("max_dwell_s = 45"):]
    return parse_profile(text.encode(), source="air-face-tone (second zone shortened)")


@pytest.mark.parametrize("profile", ["shipped", "second zone shorter"])
async def test_cjair_open_cap_follows_the_zone(
    profile: str, request: pytest.FixtureRequest
) -> None:
    target = TARGETS["cjair_tcp"]
    loaded = shipped("air-face-tone") if profile == "shipped" else with_second_zone_dwell(20)
    zones = loaded.profile.zones

    def cap_at_unit() -> int:
        return int(rig.sim.state()["holding"]["MAX_OPEN_MS"])

    def wanted(zone: int) -> int:
        return round(zones[zone].max_dwell_s * 1000 + 500)

    async with wired(handle_for(request, "cjair_tcp"), target, loaded=loaded) as rig:
        assert cap_at_unit() == rig.controller.protection.max_open_ms == 500
        await rig.start_session()
        await until(lambda: cap_at_unit() == wanted(0), 1.0, "the first zone's cap", rig)
        assert rig.treatment.open_cap_confirmed_ms == wanted(0)
        assert len(zones) > 1
        reply = await rig.controller.submit(NextZone())
        assert reply.ok, reply.reason
        await until(lambda: cap_at_unit() == wanted(1), 1.0, "the second zone's cap", rig)
        assert rig.treatment.open_cap_confirmed_ms == wanted(1)
        opened = await rig.spraying()  # the zone may spray once its cap is confirmed
        rig.sim.trigger(False)
        await until(lambda: not rig.sim.valve_open(), 1.0, "closed", rig)
        reply = await rig.controller.submit(Stop())
        assert reply.ok, reply.reason
        await until(lambda: cap_at_unit() == 500, 1.0, "the cap back outside a session", rig)
        measured(
            f"cjair_tcp/{profile}",
            max_open_ms_per_zone=[wanted(0), wanted(1)],
            after_stop=cap_at_unit(),
            sprayed_in=zones[1].name,
            opened_by=opened.why,
        )
