"""sd_notify against a socket the test binds itself, the way systemd's would listen."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from cryoctl.control.notify import MAX_STATUS_CHARS, Notifier


def _listen(address: str | bytes) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(5)
    return listener


def _received(listener: socket.socket) -> str:
    return listener.recv(4096).decode()


@pytest.fixture
def path_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, socket.socket]]:
    # A short folder: a socket path may be at most 107 bytes.
    path = str(tmp_path_factory.mktemp("ntfy") / "notify.sock")
    listener = _listen(path)
    yield path, listener
    listener.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, socket.socket]]:
    name = f"cryoctl-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    listener = _listen(b"\0" + name.encode())
    yield f"@{name}", listener
    listener.close()


@pytest.mark.parametrize("kind", ["path_socket", "abstract_socket"])
def test_each_message_arrives_as_one_datagram(kind: str, request: pytest.FixtureRequest) -> None:
    address, listener = request.getfixturevalue(kind)
    with Notifier.from_env({"NOTIFY_SOCKET": address}) as notifier:
        assert notifier.enabled
        assert notifier.ready()
        assert _received(listener) == "READY=1"
        assert notifier.watchdog()
        assert _received(listener) == "WATCHDOG=1"
        assert notifier.status("treating: zone 2 of 5")
        assert _received(listener) == "STATUS=treating: zone 2 of 5"
        assert notifier.stopping()
        assert _received(listener) == "STOPPING=1"
        assert notifier.sent == 4 and notifier.failed == 0


def test_ready_and_stopping_can_carry_a_status(path_socket: tuple[str, socket.socket]) -> None:
    address, listener = path_socket
    notifier = Notifier(address)
    notifier.ready("idle, unit n2 ready")
    assert _received(listener) == "READY=1\nSTATUS=idle, unit n2 ready"
    notifier.stopping("stopping: SIGTERM")
    assert _received(listener) == "STOPPING=1\nSTATUS=stopping: SIGTERM"
    notifier.close()


def test_a_status_stays_one_short_line(path_socket: tuple[str, socket.socket]) -> None:
    """A newline would start a new assignment: a STATUS could forge READY=1 otherwise."""
    address, listener = path_socket
    notifier = Notifier(address)
    notifier.status("fault\nREADY=1\n\tlatched")
    assert _received(listener) == "STATUS=fault READY=1 latched"
    notifier.status("x" * 1000)
    assert _received(listener) == "STATUS=" + "x" * MAX_STATUS_CHARS
    notifier.close()


def test_without_notify_socket_every_method_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    for notifier in (Notifier.from_env(), Notifier.from_env({"NOTIFY_SOCKET": ""})):
        assert not notifier.enabled
        assert notifier.address is None
        assert not notifier.ready()
        assert not notifier.watchdog()
        assert not notifier.status("x")
        assert not notifier.stopping()
        assert (notifier.sent, notifier.failed) == (0, 0)
        assert notifier._socket is None  # nothing was even opened
        assert notifier.watchdog_interval_s() is None


@pytest.mark.parametrize("address", ["relative/notify.sock", "@", "vsock:2:1234",
                                     "/" + "x" * 200, "@" + "y" * 200])
def test_an_unusable_address_is_a_logged_no_op(address: str) -> None:
    with capture_logs() as logs:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert not notifier.enabled
    assert not notifier.ready()
    assert [entry["event"] for entry in logs] == [
        "notify socket ignored: not an absolute path or @name"]


def test_a_vanished_socket_does_not_raise(path_socket: tuple[str, socket.socket]) -> None:
    address, listener = path_socket
    notifier = Notifier(address)
    assert notifier.ready()
    listener.close()
    Path(address).unlink()
    with capture_logs() as logs:
        assert not notifier.watchdog()
        assert not notifier.watchdog()
        assert not notifier.status("still here")
    assert notifier.failed == 3 and notifier.sent == 1
    # One warning for the run of failures, not one per ping.
    assert [entry["event"] for entry in logs] == ["notify send failed"]
    assert logs[0]["message"] == "WATCHDOG=1" and logs[0]["log_level"] == "warning"

    again = _listen(address)
    with capture_logs() as logs:
        assert notifier.watchdog()
    assert _received(again) == "WATCHDOG=1"
    assert [entry["event"] for entry in logs] == ["notify sends again"]
    again.close()
    notifier.close()


def test_a_missing_abstract_name_does_not_raise() -> None:
    notifier = Notifier(f"@cryoctl-nobody-{uuid.uuid4().hex}")
    assert not notifier.ready()
    assert notifier.failed == 1


def test_a_full_queue_never_blocks_the_caller(path_socket: tuple[str, socket.socket]) -> None:
    """Nobody reads: the socket's queue fills, and sends fail at once instead of waiting."""
    address, listener = path_socket
    notifier = Notifier(address)
    started = time.monotonic()
    results = [notifier.watchdog() for _ in range(2000)]
    assert time.monotonic() - started < 2.0
    assert results[0] is True
    assert False in results
    assert notifier.sent + notifier.failed == 2000
    assert _received(listener) == "WATCHDOG=1"
    notifier.close()


def test_the_watchdog_interval_comes_from_watchdog_usec() -> None:
    own = str(os.getpid())
    assert Notifier.from_env({"WATCHDOG_USEC": "2000000"}).watchdog_interval_s() == 2.0
    assert Notifier.from_env({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": own}
                             ).watchdog_interval_s() == 0.5
    assert Notifier.from_env({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}
                             ).watchdog_interval_s() is None
    assert Notifier.from_env({}).watchdog_interval_s() is None


@pytest.mark.parametrize("value", ["", "0", "-5", "2s", "1e6", "١٢٣"])
def test_a_bad_watchdog_usec_is_logged_and_ignored(value: str) -> None:
    with capture_logs() as logs:
        notifier = Notifier.from_env({"WATCHDOG_USEC": value})
    assert notifier.watchdog_interval_s() is None
    assert [entry["event"] for entry in logs] == ["watchdog setting ignored"]


def test_unset_environment_keeps_children_from_speaking_for_the_service(
    monkeypatch: pytest.MonkeyPatch, path_socket: tuple[str, socket.socket]
) -> None:
    address, listener = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier.from_env(unset_environment=True)
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        assert name not in os.environ
    assert notifier.watchdog_interval_s() == 1.0
    assert notifier.ready()
    assert _received(listener) == "READY=1"
    notifier.close()


def test_a_read_environment_is_left_alone_without_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "@whatever")
    Notifier.from_env()
    assert os.environ["NOTIFY_SOCKET"] == "@whatever"
