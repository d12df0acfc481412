"""PIN hashes: round trip, refusals, a tampered or malformed hash, and ``cryoctl pin hash``."""

from __future__ import annotations

import base64
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cryoctl.cli import cli
from cryoctl.cli import pin as pin_cli
from cryoctl.errors import ConfigError
from cryoctl.pins import (
    HASH_BYTES,
    SALT_BYTES,
    SCRYPT_N,
    PinHash,
    check_pin,
    hash_pin,
    parse_pin_hash,
    random_pin,
    verify_pin,
)

ROOT = Path(__file__).resolve().parent.parent

# One hash of "2468" made once: scrypt is slow on purpose.
HASHED = hash_pin("2468")


def _fields(encoded: str) -> list[str]:
    return encoded.split("$")


def test_a_hash_has_its_documented_shape() -> None:
    scheme, n, r, p, salt, digest = _fields(HASHED)
    assert (scheme, n, r, p) == ("scrypt", str(SCRYPT_N), "8", "1")
    assert len(base64.b64decode(salt, validate=True)) == SALT_BYTES
    assert len(base64.b64decode(digest, validate=True)) == HASH_BYTES


def test_round_trip_and_a_wrong_pin() -> None:
    assert verify_pin("2468", HASHED)
    assert not verify_pin("2469", HASHED)
    assert not verify_pin("02468", HASHED)
    assert not verify_pin("", HASHED)


def test_each_hash_has_its_own_salt() -> None:
    again = hash_pin("2468")
    assert again != HASHED
    assert _fields(again)[4] != _fields(HASHED)[4]
    assert verify_pin("2468", again)


def test_a_parsed_hash_verifies_and_encodes_back() -> None:
    parsed = parse_pin_hash(HASHED)
    assert isinstance(parsed, PinHash)
    assert parsed.encode() == HASHED
    assert verify_pin("2468", parsed)


@pytest.mark.parametrize("pin", ["", "123", "1234567890123", "12a4", " 1234", "1234\n",
                                 "١٢٣٤", "12.4", "-123"])
def test_a_pin_that_breaks_the_rule_is_refused_and_never_matches(pin: str) -> None:
    with pytest.raises(ConfigError, match=r"^a PIN is 4 to 12 digits \(0-9\); this one ") as err:
        hash_pin(pin)
    assert isinstance(err.value, ValueError)
    if pin.strip():
        assert pin.strip() not in str(err.value)  # the PIN is never repeated
    assert not verify_pin(pin, HASHED)


def test_pins_at_the_length_bounds() -> None:
    assert check_pin("0000") == "0000"
    assert check_pin("9" * 12) == "9" * 12
    with pytest.raises(ConfigError, match="this one is 3 digits long"):
        check_pin("000")
    with pytest.raises(ConfigError, match="this one is 13 digits long"):
        check_pin("0" * 13)


def _tampered(index: int, change: bytes) -> str:
    fields = _fields(HASHED)
    raw = bytearray(base64.b64decode(fields[index]))
    raw[0] ^= change[0]
    fields[index] = base64.b64encode(bytes(raw)).decode()
    return "$".join(fields)


@pytest.mark.parametrize("index", [4, 5], ids=["salt", "hash"])
def test_a_tampered_salt_or_hash_no_longer_matches(index: int) -> None:
    assert not verify_pin("2468", _tampered(index, b"\x01"))


def test_tampered_cost_parameters_no_longer_match() -> None:
    fields = _fields(HASHED)
    fields[3] = "2"
    assert not verify_pin("2468", "$".join(fields))


def _with(index: int, value: str) -> str:
    fields = _fields(HASHED)
    fields[index] = value
    return "$".join(fields)


@pytest.mark.parametrize(("encoded", "message"), [
    ("", "not a PIN hash: expected scrypt$N$R$P$SALT$HASH as 'cryoctl pin hash' prints it "
         "(the PIN itself never goes in the config)"),
    ("2468", "not a PIN hash: expected scrypt$N$R$P$SALT$HASH"),
    ("argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "not a PIN hash"),
    ("scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==",
     "a PIN hash has 6 fields separated by $ (scrypt$N$R$P$SALT$HASH), this one has 5"),
    (HASHED + "$x", "this one has 7"),
    (_with(1, "16k"), "scrypt parameter N must be a positive decimal integer, got '16k'"),
    (_with(1, "-16384"), "scrypt parameter N must be a positive decimal integer"),
    (_with(1, "016384"), "scrypt parameter N must be a positive decimal integer"),
    (_with(1, "16000"), "scrypt parameter N must be a power of two from 2**10 to 2**20, "
                        "got 16000"),
    (_with(1, str(2**21)), "must be a power of two from 2**10 to 2**20, got 2097152"),
    (_with(1, "512"), "must be a power of two"),
    (_with(2, "0"), "scrypt parameter r must be a positive decimal integer, got '0'"),
    (_with(2, "33"), "scrypt parameter r must be between 1 and 32, got 33"),
    (_with(3, "17"), "scrypt parameter p must be between 1 and 16, got 17"),
    (_with(1, str(2**20)).replace("$8$", "$32$"),
     "scrypt parameters N=1048576, r=32 need more than the 256 MiB allowed"),
    (_with(4, "not*base64"), "the salt is not base64"),
    (_with(5, "aGFzaA"), "the hash is not base64"),  # padding missing
    (_with(5, "тест"), "the hash is not base64"),
    (_with(4, base64.b64encode(b"short").decode()), "the salt is 5 bytes; at least 16 are "
                                                    "required"),
    (_with(5, base64.b64encode(b"x" * 8).decode()), "the hash is 8 bytes; it must be 16 to 64"),
])
def test_a_malformed_hash_is_a_config_error_naming_the_problem(encoded: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_pin_hash(encoded)
    assert message in str(err.value)
    if encoded == "2468":
        assert "2468" not in str(err.value)  # a PIN pasted as its hash is not logged
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError):
        verify_pin("2468", encoded)


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_any_string_parses_or_is_a_config_error(encoded: str) -> None:
    try:
        parse_pin_hash(encoded)
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_random_pins() -> None:
    pins = {random_pin() for _ in range(200)}
    assert all(len(p) == 6 and p.isdigit() for p in pins)
    assert len(pins) > 150
    assert len(random_pin(4)) == 4
    assert len(random_pin(digits=12)) == 12
    assert check_pin(random_pin(12))
    for digits in (3, 13, 0):
        with pytest.raises(ConfigError, match="a PIN has 4 to 12 digits"):
            random_pin(digits)


# -- cryoctl pin hash --------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    from cryoctl.cli import _register

    _register()
    return CliRunner()


def test_cli_reads_a_line_from_stdin(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["pin", "hash"], input="135790\n")
    assert result.exit_code == 0, result.output
    encoded = result.stdout.strip()
    assert verify_pin("135790", encoded)
    assert result.stderr == ""


def test_cli_takes_a_line_without_newline_or_with_crlf(runner: CliRunner) -> None:
    assert verify_pin("1357", runner.invoke(cli, ["pin", "hash"], input="1357").stdout.strip())
    assert verify_pin("1357", runner.invoke(cli, ["pin", "hash"], input="1357\r\n")
                      .stdout.strip())


@pytest.mark.parametrize(("given_input", "message"), [
    ("12\n", "a PIN is 4 to 12 digits (0-9); this one is 2 digits long"),
    ("12 34\n", "this one has characters other than digits"),
    ("\n", "this one is empty"),
    ("", "no PIN on standard input"),
    ("1" * 1000, "the line on standard input is far longer than a PIN"),
])
def test_cli_refuses_a_bad_pin_on_stdin(runner: CliRunner, given_input: str, message: str) -> None:
    result = runner.invoke(cli, ["pin", "hash"], input=given_input)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("cryoctl pin hash: ")
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cli_prompts_twice_in_a_terminal(runner: CliRunner,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pin_cli, "_interactive", lambda: True)
    result = runner.invoke(cli, ["pin", "hash"], input="24680\n24680\n")
    assert result.exit_code == 0, result.output
    assert "PIN: " in result.stderr and "Repeat PIN: " in result.stderr
    assert "24680" not in result.stderr  # hidden input is not echoed
    assert verify_pin("24680", result.stdout.strip())


def test_cli_asks_again_after_a_bad_or_mismatched_pin(runner: CliRunner,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pin_cli, "_interactive", lambda: True)
    result = runner.invoke(cli, ["pin", "hash"], input="12\n1234\n4321\n5678\n5678\n")
    assert result.exit_code == 0, result.output
    assert "a PIN is 4 to 12 digits (0-9); this one is 2 digits long" in result.stderr
    assert "do not match" in result.stderr
    assert verify_pin("5678", result.stdout.strip())


def _cryoctl() -> list[str]:
    script = Path(sys.executable).with_name("cryoctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cryoctl"]


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def test_a_real_cryoctl_pin_hash_reads_stdin() -> None:
    done = subprocess.run([*_cryoctl(), "pin", "hash"], input="97531\n", capture_output=True,
                          text=True, env=_env(), timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert verify_pin("97531", done.stdout.strip())


def test_a_real_cryoctl_pin_hash_refuses_letters() -> None:
    done = subprocess.run([*_cryoctl(), "pin", "hash"], input="abcd\n", capture_output=True,
                          text=True, env=_env(), timeout=30, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == ("cryoctl pin hash: a PIN is 4 to 12 digits (0-9); this one has "
                           "characters other than digits\n")


def _read_until(fd: int, wanted: bytes, *, timeout_s: float = 20.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"waited for {wanted!r}, got {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_a_real_cryoctl_pin_hash_prompts_hidden_in_a_terminal() -> None:
    main, child = pty.openpty()
    try:
        proc = subprocess.Popen([*_cryoctl(), "pin", "hash"], stdin=child, stdout=child,
                                stderr=child, env=_env(), close_fds=True,
                                start_new_session=True)
        os.close(child)
        child = -1
        shown = _read_until(main, b"PIN: ")
        os.write(main, b"8642\n")
        shown += _read_until(main, b"Repeat PIN: ")
        os.write(main, b"8642\n")
        shown += _read_until(main, b"=\r\n")
        assert proc.wait(timeout=20) == 0
    finally:
        if child >= 0:
            os.close(child)
        os.close(main)
    assert b"8642" not in shown
    encoded = shown.decode().splitlines()[-1].strip()
    assert verify_pin("8642", encoded)
