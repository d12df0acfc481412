"""The panel server can die, drown or hang: the control process goes on as if nothing happened.

Three processes (``cryoctl sim n2``, ``cryoctl run --config``, ``cryoctl panel
--config``). What is measured comes from the control process itself: its period
and jitter histograms (the ``stats`` request, per window: the difference of two
reports) and the latency of an e-stop sent on the control socket, from the
request to the answer (which comes only after the close went out).

No timed assertion is absolute: every window is compared with the same run's idle
baseline, with a generous factor and a floor, because this machine's two cores
are shared and the load generator (and a starting panel server) compete with the
loop for them: what is asserted is that the loop keeps cycling, that at most a
tenth of its ticks are late, that its jitter's 90th percentile stays near the
baseline's, and that the e-stop's median latency does. The 99th percentile and
the late ticks are printed (``-s``), not asserted.
"""

from __future__ import annotations

import http.client
import signal
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from device_rig import SplitDevice, delta, http_get, mean_s, quantile_s, split_device, timed_estop
from procs import Children, wait_for

from cryoctl.protocol import ControlStats

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

#: A window's jitter p90 may be this many times the baseline's, or up to the floor.
JITTER_FACTOR = 5.0
JITTER_FLOOR_S = 0.020  # one period
#: At most this share of a window's ticks may be late (by more than a period).
LATE_SHARE = 0.1
#: An e-stop's latency (median) may be this many times the baseline's, or up to the floor.
ESTOP_FACTOR = 5.0
ESTOP_FLOOR_S = 0.050
WINDOW_S = 3.0
ESTOPS = 4


@dataclass
class Window:
    name: str
    elapsed_s: float
    cycles: int
    period_mean_s: float
    jitter_p90_s: float
    jitter_p99_s: float
    jitter_mean_s: float
    late_cycles: int
    estop_s: list[float]

    def line(self) -> str:
        estops = ", ".join(f"{s * 1000:.1f}" for s in self.estop_s) or "-"
        return (f"{self.name:>16}: {self.cycles:4d} cycles in {self.elapsed_s:.1f} s, "
                f"period mean {self.period_mean_s * 1000:6.2f} ms, "
                f"jitter mean {self.jitter_mean_s * 1000:5.2f} "
                f"p90 <= {self.jitter_p90_s * 1000:5.1f} "
                f"p99 <= {self.jitter_p99_s * 1000:5.1f} ms, "
                f"late {self.late_cycles}; "
                f"e-stop ms: {estops}")


def _estop_and_reset(device: SplitDevice) -> float:
    took = timed_estop(device.socket_path)
    assert device.status()["phase"] == "estop"
    device.on_command("reset_estop")
    wait_for(lambda: device.status()["phase"] == "idle", 10, "idle after the reset")
    return took


def _window(device: SplitDevice, name: str, *, estops: int = ESTOPS) -> Window:
    """``WINDOW_S`` of the loop's own numbers, with ``estops`` e-stops spread over it."""
    before: ControlStats = device.stats()
    began = time.monotonic()
    took: list[float] = []
    for i in range(estops):
        wait_until = began + WINDOW_S * (i + 0.5) / max(estops, 1)
        time.sleep(max(0.0, wait_until - time.monotonic()))
        took.append(_estop_and_reset(device))
    time.sleep(max(0.0, began + WINDOW_S - time.monotonic()))
    after = device.stats()
    period = delta(after.period_s, before.period_s)
    jitter = delta(after.jitter_s, before.jitter_s)
    late = after.counters["late_cycles"] - before.counters["late_cycles"]
    return Window(name, time.monotonic() - began, sum(period.counts), mean_s(period),
                  quantile_s(jitter, 0.9), quantile_s(jitter, 0.99), mean_s(jitter), late, took)


def _assert_undisturbed(base: Window, other: Window) -> None:
    assert other.cycles > other.elapsed_s / 0.02 * 0.8, other.line()  # the loop kept cycling
    assert other.late_cycles <= other.cycles * LATE_SHARE, f"{other.line()} / {base.line()}"
    assert other.jitter_p90_s <= max(base.jitter_p90_s * JITTER_FACTOR, JITTER_FLOOR_S), (
        f"{other.line()} / baseline {base.line()}")
    if other.estop_s:
        limit = max(statistics.median(base.estop_s) * ESTOP_FACTOR, ESTOP_FLOOR_S)
        assert statistics.median(other.estop_s) <= limit, f"{other.line()} / {base.line()}"


@pytest.fixture
def device(tmp_path: Path) -> Iterator[SplitDevice]:
    with Children(tmp_path) as children:
        dev = split_device(children, tmp_path, "n2", "--nozzle", "M")
        dev.start_control()
        dev.start_panel()
        yield dev


def _between(name: str, began_s: float, before: ControlStats, after: ControlStats) -> Window:
    period = delta(after.period_s, before.period_s)
    jitter = delta(after.jitter_s, before.jitter_s)
    return Window(name, time.monotonic() - began_s, sum(period.counts), mean_s(period),
                  quantile_s(jitter, 0.9), quantile_s(jitter, 0.99), mean_s(jitter),
                  after.counters["late_cycles"] - before.counters["late_cycles"], [])


def test_panel_killed_and_restarted_while_a_session_runs(device: SplitDevice) -> None:
    """Asserted: the windows with the panel gone and with the new one linked. The new
    panel server's own start-up (a Python process importing FastAPI on two shared
    cores) is measured and printed: it competes with the loop for CPU, not for the loop."""
    device.start_session()
    session_id = device.status()["session"]["session_id"]
    base = _window(device, "baseline", estops=0)
    before, began = device.stats(), time.monotonic()
    assert device.panel is not None
    device.panel.send_signal(signal.SIGKILL)
    device.panel.wait(timeout=5)
    # With no panel server: the session goes on, and sprays when the trigger is pressed.
    time.sleep(0.5)
    assert device.status()["phase"] == "treating_armed"
    device.sim.post("trigger", {"pressed": True})
    wait_for(device.spraying, 5, "a spray with the panel server gone")
    time.sleep(0.3)
    device.sim.post("trigger", {"pressed": False})
    wait_for(lambda: not device.sim.state()["valve_open"], 5, "closed at the release")
    assert device.status()["session"]["session_id"] == session_id  # the same session
    time.sleep(0.5)
    gone_stats = device.stats()
    gone = _between("panel gone", began, before, gone_stats)
    # A new panel server: linked again, its snapshots are the running session's.
    began = time.monotonic()
    device.start_panel()
    code, _ = http_get(f"{device.base_url}/api/v1/status")
    assert code == 200
    # the pushed snapshots reach it again (at least 10 Hz while treating)
    first_seq = _pushed_seq(device)
    wait_for(lambda: _pushed_seq(device) > first_seq, 5, "snapshots pushed to the new panel")
    started_stats = device.stats()
    starting = _between("panel starting", began, gone_stats, started_stats)
    assert device.status()["phase"].startswith("treating_")  # armed or resting
    assert device.status()["session"]["session_id"] == session_id
    linked = _window(device, "new panel linked", estops=0)
    # The socket's e-stop still works, in the session, with the new panel attached.
    took = timed_estop(device.socket_path)
    assert device.status()["phase"] == "estop"
    assert not device.sim.state()["valve_open"]
    print(f"\n{base.line()}\n{gone.line()}\n{starting.line()}\n{linked.line()}\n"
          f"e-stop after the restart: {took * 1000:.1f} ms")
    _assert_undisturbed(base, gone)
    _assert_undisturbed(base, linked)
    assert starting.cycles > starting.elapsed_s / 0.02 * 0.8, starting.line()
    assert device.stats().counters["internal_errors"] == 0


def _pushed_seq(device: SplitDevice) -> float:
    """The number of the latest snapshot the panel server was pushed (its /metrics)."""
    code, body = http_get(f"{device.base_url}/metrics")
    assert code == 200
    for line in body.decode().splitlines():
        if line.startswith("cryoctl_snapshot_seq "):
            return float(line.split()[1])
    return -1.0


# -- a flooded panel, a hung panel --------------------------------------------------------

@contextmanager
def _held_open(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that send half a request and then nothing."""
    held = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(s)
        yield held
    finally:
        for s in held:
            s.close()


@contextmanager
def _flood(port: int, *, rate_hz: float, threads: int = 8) -> Iterator[Callable[[], float]]:
    """GET /api/v1/status at about ``rate_hz`` in all, on keep-alive connections."""
    stop = threading.Event()
    done = [0] * threads
    began = time.monotonic()

    def worker(i: int) -> None:
        gap_s = threads / rate_hz
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        next_s = time.monotonic()
        while not stop.is_set():
            try:
                conn.request("GET", "/api/v1/status", headers={"Host": "127.0.0.1"})
                conn.getresponse().read()
                done[i] += 1
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            next_s += gap_s
            pause = next_s - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                next_s = time.monotonic()
        conn.close()

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    try:
        yield lambda: sum(done) / (time.monotonic() - began)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=10)


def test_a_flooded_and_a_hung_panel_leave_the_loop_and_the_estop_alone(
        device: SplitDevice) -> None:
    base = _window(device, "baseline")
    with _held_open(device.panel_port, 100), \
            _flood(device.panel_port, rate_hz=1000, threads=16) as achieved:
        time.sleep(0.5)
        asked = device.stats().socket_received["status"]
        flooded = _window(device, "flooded")
        rate = achieved()
        asked = device.stats().socket_received["status"] - asked
    assert device.panel is not None
    device.panel.send_signal(signal.SIGSTOP)
    try:
        hung = _window(device, "hung (SIGSTOP)")
    finally:
        device.panel.send_signal(signal.SIGCONT)
    wait_for(device.panel_linked, 15, "the panel linked again after SIGCONT")
    print(f"\n{base.line()}\n{flooded.line()}  [{rate:.0f} requests/s answered, "
          f"100 connections held open; {asked / flooded.elapsed_s:.0f} status requests/s "
          f"reached the control socket]\n{hung.line()}")
    assert rate > 100, "the flood did not reach the panel"
    _assert_undisturbed(base, flooded)
    _assert_undisturbed(base, hung)
