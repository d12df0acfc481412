"""The control process's histograms and counters, and the stats message they make."""

from __future__ import annotations

import pytest

from cryoctl.control.stats import ControllerStats, Histogram, period_bounds_s
from cryoctl.protocol import StatsReply, decode_message, encode


def test_histogram_counts_each_value_in_its_bucket() -> None:
    h = Histogram((0.001, 0.01, 0.1))
    for value in (0.0005, 0.001, 0.002, 0.05, 0.5, 2.0):
        h.observe(value)
    assert h.counts == [2, 1, 1, 2]  # <= 1 ms (bound included), <= 10 ms, <= 100 ms, above
    assert h.count == 6
    assert h.sum_s == pytest.approx(2.5535)
    assert h.max_s == 2.0


@pytest.mark.parametrize("bounds", [(), (0.1, 0.1), (0.2, 0.1)])
def test_histogram_bounds_must_increase(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="increasing"):
        Histogram(bounds)


def test_period_buckets_follow_the_nominal_period() -> None:
    bounds = period_bounds_s(0.05)
    assert 0.05 in bounds and bounds[0] < 0.05 < bounds[-1]


def test_the_report_goes_over_the_socket_and_back() -> None:
    stats = ControllerStats()
    stats.set_period(0.02)
    stats.period_s.observe(0.0201)
    stats.jitter_s.observe(0.0001)
    stats.poll_s.observe(0.0004)
    stats.closes_sent = 3
    stats.socket_received["status"] += 2
    report = stats.report()
    assert report.counters["closes_sent"] == 3 and report.counters["cycles"] == 0
    assert "period_s" not in report.counters  # histograms are not counters
    back = decode_message(encode(StatsReply(id=4, stats=report)))
    assert isinstance(back, StatsReply) and back.stats == report
    assert back.stats.socket_received == {"status": 2}
    assert sum(back.stats.period_s.counts) == 1
