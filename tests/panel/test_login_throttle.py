"""Wrong PINs: growing delays per client, 429 with Retry-After, a right PIN refused meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import structlog
from conftest import STAFF_PIN, TECHNICIAN_PIN, WRONG_PIN, make_config, running
from fastapi import FastAPI
from panel_fakes import FakeClock, FakeLink

from cryoctl.panel import create_app
from cryoctl.panel.tokens import LoginThrottle


async def _try(client: httpx.AsyncClient, pin: str) -> httpx.Response:
    return await client.post("/api/v1/login", json={"pin": pin})


async def test_delays_grow_and_a_right_pin_waits(client: httpx.AsyncClient,
                                                 clock: FakeClock) -> None:
    with structlog.testing.capture_logs() as logs:
        for delay in (1, 2, 4, 8):
            answer = await _try(client, WRONG_PIN)
            assert answer.status_code == 401
            assert answer.headers["retry-after"] == str(delay)
            refused = await _try(client, STAFF_PIN)  # right, but too soon
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == str(delay)
            assert "try again" in refused.json()["detail"]
            clock.advance(delay - 0.5)
            assert (await _try(client, STAFF_PIN)).status_code == 429
            assert (await _try(client, STAFF_PIN)).headers["retry-after"] == "1"
            clock.advance(0.5)
        assert (await _try(client, STAFF_PIN)).status_code == 200
    failures = [e for e in logs if e["event"] == "login_failed"]
    assert [e["count"] for e in failures] == [1, 2, 3, 4]
    assert {e["client"] for e in failures} == {"127.0.0.1"}
    assert all(e["log_level"] == "warning" for e in failures)
    assert all(STAFF_PIN not in str(e) and WRONG_PIN not in str(e) for e in logs)


async def test_success_forgets_the_failures(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for _ in range(3):
        await _try(client, WRONG_PIN)
        clock.advance(60)
    assert (await _try(client, TECHNICIAN_PIN)).status_code == 200
    answer = await _try(client, WRONG_PIN)
    assert answer.headers["retry-after"] == "1"  # counting starts again


async def test_delay_caps_at_a_minute_and_the_lock_out_is_logged(
        client: httpx.AsyncClient, clock: FakeClock) -> None:
    with structlog.testing.capture_logs() as logs:
        delays = []
        for _ in range(9):
            answer = await _try(client, WRONG_PIN)
            delays.append(int(answer.headers["retry-after"]))
            clock.advance(delays[-1])
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    lockouts = [e for e in logs if e["event"] == "login_locked_out"]
    assert len(lockouts) == 1 and lockouts[0]["count"] == 7
    assert lockouts[0]["retry_after_s"] == 60


async def test_other_clients_are_not_held_up(app: FastAPI, client: httpx.AsyncClient) -> None:
    await _try(client, WRONG_PIN)
    assert (await _try(client, STAFF_PIN)).status_code == 429
    other = httpx.ASGITransport(app=app, client=("192.0.2.7", 4000))
    async with httpx.AsyncClient(transport=other, base_url="http://testserver") as second:
        assert (await _try(second, STAFF_PIN)).status_code == 200


async def test_failed_logins_are_counted(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for _ in range(2):
        await _try(client, WRONG_PIN)
        clock.advance(10)
    text = (await client.get("/metrics")).text
    assert "cryoctl_panel_logins_failed_total 2.0" in text


async def test_no_pin_configured_for_a_role_refuses_it(tmp_path: Path, link: FakeLink,
                                                       clock: FakeClock) -> None:
    config = make_config(tmp_path, auth={"technician_pin_hash": None})
    async with running(create_app(config, link, clock=clock)) as client:
        assert (await _try(client, TECHNICIAN_PIN)).status_code == 401
        clock.advance(5)
        assert (await _try(client, STAFF_PIN)).status_code == 200


async def test_a_second_try_while_the_first_is_checked_is_refused(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import cryoctl.panel.auth as auth

    started, release = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    real = auth._match

    def slow_match(*args: object) -> object:
        loop.call_soon_threadsafe(started.set)
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=5)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(auth, "_match", slow_match)
    first = asyncio.create_task(_try(client, STAFF_PIN))
    await started.wait()
    second = await _try(client, STAFF_PIN)
    assert second.status_code == 429
    release.set()
    assert (await first).status_code == 200


def test_throttle_forgets_a_client_after_an_hour() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after_s("10.0.0.1") == 16
    clock.advance(3600)
    assert throttle.retry_after_s("10.0.0.1") == 0
    assert throttle.failed("10.0.0.1").count == 1
