"""``GET /metrics`` of a running device after a session: the control loop's own numbers.

The unit (``cryoctl sim n2``), the control process and the panel server run as
three processes; a session is run over the control socket with the trigger pressed
at the unit's control channel, stopped, then e-stopped through the API. The
scrape must show the loop's period, jitter and poll histograms with counts and
values that fit a 50 Hz loop, the closes confirmed, the session by its outcome, the
e-stop's alarm by code and the socket messages by type.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from device_rig import split_device
from procs import Children, wait_for
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


def _scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_after_a_session(tmp_path: Path) -> None:
    with Children(tmp_path) as children:
        device = split_device(children, tmp_path, "n2", "--nozzle", "M")
        device.start_control()
        device.start_panel()
        device.start_session()
        time.sleep(1.0)  # a second of armed cycles
        device.sim.post("trigger", {"pressed": True})
        wait_for(device.spraying, 5, "a spray")
        time.sleep(0.5)
        device.sim.post("trigger", {"pressed": False})
        device.on_command("stop")
        wait_for(lambda: device.status()["phase"] == "completed", 5, "the session's end")
        request = urllib.request.Request(f"{device.base_url}/api/v1/estop", method="POST",
                                         data=b"")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200

        m = _scrape(device.base_url)

    def one(name: str, **labels: str) -> float:
        return m[(name, tuple(sorted(labels.items())))]

    period_count = one("cryoctl_control_loop_period_seconds_count")
    period_sum = one("cryoctl_control_loop_period_seconds_sum")
    print(f"\nperiod: {period_count:.0f} cycles, mean {period_sum / period_count * 1000:.2f} ms, "
          f"max {one('cryoctl_control_loop_period_max_seconds') * 1000:.1f} ms; "
          f"jitter mean {one('cryoctl_control_loop_jitter_seconds_sum') / period_count * 1e3:.3f}"
          f" ms; poll mean {one('cryoctl_control_poll_round_trip_seconds_sum') / one('cryoctl_control_poll_round_trip_seconds_count') * 1e3:.3f} ms")  # noqa: E501
    assert period_count > 75  # more than 1.5 s of cycles
    assert 0.018 < period_sum / period_count < 0.025  # 50 Hz, on average
    # the buckets are cumulative and end with every observation
    assert one("cryoctl_control_loop_period_seconds_bucket", le="+Inf") == period_count
    assert one("cryoctl_control_loop_period_seconds_bucket", le="0.01") < period_count / 10
    assert one("cryoctl_control_loop_period_seconds_bucket", le="0.04") > period_count * 0.9
    assert one("cryoctl_control_loop_jitter_seconds_count") == period_count
    assert one("cryoctl_control_loop_jitter_seconds_sum") / period_count < 0.01
    polls = one("cryoctl_control_poll_round_trip_seconds_count")
    assert polls >= period_count * 0.9  # one read a cycle
    assert 0 < one("cryoctl_control_poll_round_trip_seconds_sum") / polls < 0.05
    assert one("cryoctl_control_cycles_total") >= period_count
    assert one("cryoctl_control_closes_confirmed_total") >= 2  # start-up, the release
    assert one("cryoctl_control_closes_sent_total") >= one("cryoctl_control_closes_confirmed_total")
    assert one("cryoctl_control_close_failures_total") == 0
    assert ("cryoctl_control_read_retries_total", ()) in m
    assert ("cryoctl_control_closes_resent_total", ()) in m
    assert one("cryoctl_control_sessions_total", outcome="stopped") == 1
    assert one("cryoctl_control_alarms_raised_total", code="estop") == 1
    assert one("cryoctl_control_socket_messages_total", direction="received",
               type="subscribe") >= 1
    assert one("cryoctl_control_socket_messages_total", direction="received",
               type="stats") >= 1
    assert one("cryoctl_control_socket_messages_total", direction="received",
               type="estop") == 1
    assert one("cryoctl_control_socket_messages_total", direction="sent", type="snapshot") >= 1
    assert one("cryoctl_panel_socket_messages_total", direction="received", type="stats") >= 1
    assert one("cryoctl_control_link_up") == 1
