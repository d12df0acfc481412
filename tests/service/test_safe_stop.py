"""``cryoctl safe-stop``: in-process against a scripted port, each step on its deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from cryoctl.cli import safe_stop as module
from cryoctl.core.port import Identity
from cryoctl.errors import AddressError, DeviceTimeout, DeviceUnavailable

URL = "n2+socket://127.0.0.1:9"


class ScriptedPort:
    """Only the three calls safe-stop may make; any other attribute fails the test."""

    def __init__(self, **behaviour: Callable[[], Any]) -> None:
        self.calls: list[str] = []
        self._behaviour = behaviour

    async def _do(self, name: str) -> Any:
        self.calls.append(name)
        action = self._behaviour.get(name)
        if action is not None:
            result = action()
            if asyncio.iscoroutine(result):
                return await result
            return result
        return None

    async def connect(self) -> Identity:
        await self._do("connect")
        return Identity(model="m", serial="s", firmware="f", url=URL)

    async def close_valve(self) -> None:
        await self._do("close_valve")

    async def aclose(self) -> None:
        await self._do("aclose")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"safe-stop used {name!r}: it may only connect, close, release")


def _raise(exc: BaseException) -> Callable[[], Any]:
    def action() -> Any:
        raise exc

    return action


async def _hang() -> None:
    await asyncio.sleep(3600)


@pytest.fixture
def use_port(monkeypatch: pytest.MonkeyPatch) -> Callable[[ScriptedPort], list[str]]:
    opened: list[str] = []

    def install(port: ScriptedPort) -> list[str]:
        def open_unit(url: str) -> ScriptedPort:
            opened.append(url)
            return port

        monkeypatch.setattr(module, "open_unit", open_unit)
        return opened

    return install


def _errors(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["log_level"] == "error"]


async def test_connect_close_release_in_that_order(use_port: Any) -> None:
    port = ScriptedPort()
    opened = use_port(port)
    with capture_logs() as logs:
        assert await module.safe_stop(URL) is True
    assert opened == [URL]
    assert port.calls == ["connect", "close_valve", "aclose"]
    assert [e["event"] for e in logs] == ["valve closed"] and logs[0]["url"] == URL
    assert _errors(logs) == []


async def test_an_unreachable_unit_is_released_and_logged(use_port: Any) -> None:
    port = ScriptedPort(connect=_raise(DeviceUnavailable(f"{URL}: cannot open the link")))
    use_port(port)
    with capture_logs() as logs:
        assert await module.safe_stop(URL) is False
    assert port.calls == ["connect", "aclose"]  # no close on a link that is not there
    errors = _errors(logs)
    assert errors and all(e["url"] == URL for e in errors)
    assert "cannot open the link" in errors[0]["error"]


async def test_a_silent_unit_costs_only_the_deadlines(use_port: Any) -> None:
    port = ScriptedPort(connect=_hang, aclose=_hang)
    use_port(port)
    started = time.monotonic()
    with capture_logs() as logs:
        closed = await module.safe_stop(URL, connect_timeout_s=0.1, close_timeout_s=0.1,
                                        release_timeout_s=0.1)
    elapsed = time.monotonic() - started
    assert closed is False
    assert port.calls == ["connect", "aclose"]
    assert 0.2 <= elapsed < 1.0
    assert [e["event"] for e in _errors(logs)] == [
        "connect failed", "release link failed",
        "valve close not confirmed: unit unreachable or not answering; "
        "its own expiry closes the valve"]
    assert _errors(logs)[0]["error"] == "no answer within 0.1 s"


async def test_a_refused_close_is_an_error_and_the_link_is_released(use_port: Any) -> None:
    port = ScriptedPort(close_valve=_raise(DeviceTimeout(f"{URL}: CLOSE: no answer in 20 ms")))
    use_port(port)
    with capture_logs() as logs:
        assert await module.safe_stop(URL) is False
    assert port.calls == ["connect", "close_valve", "aclose"]
    assert _errors(logs)[0]["event"] == "close valve failed"
    assert "no answer in 20 ms" in _errors(logs)[0]["error"]


async def test_a_driver_bug_does_not_escape(use_port: Any) -> None:
    port = ScriptedPort(close_valve=_raise(RuntimeError("driver bug")))
    use_port(port)
    with capture_logs() as logs:
        assert await module.safe_stop(URL) is False
    assert port.calls == ["connect", "close_valve", "aclose"]
    assert _errors(logs)[0]["error_type"] == "RuntimeError"


async def test_a_url_no_driver_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    def open_unit(url: str) -> Any:
        raise AddressError(f"{url}: unknown scheme 'n2+socket'")

    monkeypatch.setattr(module, "open_unit", open_unit)
    with capture_logs() as logs:
        assert await module.safe_stop(URL) is False
    assert _errors(logs)[0]["url"] == URL and "unknown scheme" in _errors(logs)[0]["error"]


def test_the_default_deadlines_add_up_to_a_few_seconds() -> None:
    total = module.CONNECT_TIMEOUT_S + module.CLOSE_TIMEOUT_S + module.RELEASE_TIMEOUT_S
    assert 1.0 <= total <= 5.0
