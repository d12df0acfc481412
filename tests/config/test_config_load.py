"""Loading the service config: defaults, the example file, files that cannot be read."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from cryoctl.config import (
    MAX_CONFIG_BYTES,
    SCHEMES_BY_KIND,
    Config,
    Language,
    UnitConfig,
    load_config,
    parse_config,
)
from cryoctl.core.port import DeviceKind
from cryoctl.errors import ConfigError
from cryoctl.logging import LogFormat
from cryoctl.pins import hash_pin, verify_pin

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "systemd" / "cryoctl.example.toml"
MINIMAL = b'[unit]\nkind = "n2"\nurl = "n2+serial:///dev/cryo-unit"\n'


def _parse(text: str) -> Config:
    return parse_config(text.encode(), source="t.toml")


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        _parse(text)
    return refused.value.problems


def test_only_the_unit_is_required_and_the_rest_has_its_documented_defaults() -> None:
    config = parse_config(MINIMAL, source="min.toml")
    assert config.unit.kind is DeviceKind.N2
    assert config.unit.url == "n2+serial:///dev/cryo-unit"
    assert config.unit.period_ms == 20
    assert config.control.socket_path == Path("/run/cryoctl/control.sock")
    assert config.control.socket_mode == 0o660
    assert config.control.allowed_groups == ("cryoctl", "cryoctl-tech")
    assert (config.api.bind, config.api.port) == ("127.0.0.1", 8080)
    assert config.api.allowed_hosts == ("127.0.0.1", "localhost")
    assert config.api.max_body_bytes == 262144
    assert config.data.dir == Path("/var/lib/cryoctl")
    assert config.auth.staff_pin_hash is None and config.auth.technician_pin_hash is None
    assert (config.auth.token_lifetime_s, config.auth.token_idle_s) == (28800, 900)
    assert config.auth.staff_may_override is False
    assert config.panel.language is Language.EN
    assert config.log.format is LogFormat.AUTO
    assert config.records.course_gap_days == 30


def test_the_example_config_loads_and_shows_every_key_with_its_default() -> None:
    example = load_config(EXAMPLE)
    assert example.unit == UnitConfig(kind=DeviceKind.N2, url="n2+serial:///dev/cryo-unit")
    defaults = parse_config(MINIMAL, source="min.toml")
    assert example == defaults


def test_the_example_names_every_key_of_the_models() -> None:
    text = EXAMPLE.read_text()
    for section, model in Config.model_fields.items():
        assert f"\n[{section}]\n" in text, section
        annotation = model.annotation
        assert isinstance(annotation, type)
        for key in annotation.model_fields:
            assert f"\n{key} = " in text or f"\n# {key} = " in text, f"{section}.{key}"


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_every_scheme_of_a_kind_is_accepted(kind: DeviceKind) -> None:
    examples = {
        "n2+serial": "n2+serial:///dev/ttyACM0?baud=115200",
        "n2+socket": "n2+socket://127.0.0.1:5021",
        "modbus+tcp": "modbus+tcp://[::1]:5020?device_id=1",
        "modbus+rtu": "modbus+rtu:///dev/ttyUSB0?baud=19200&parity=E&device_id=1",
    }
    for scheme in SCHEMES_BY_KIND[kind]:
        config = _parse(f'[unit]\nkind = "{kind.value}"\nurl = "{examples[scheme]}"\n')
        assert config.unit.url == examples[scheme]


@pytest.mark.parametrize(("written", "mode"), [
    ("0o660", 0o660), ('"0660"', 0o660), ('"660"', 0o660), ("0o600", 0o600),
    ('"0640"', 0o640), ("432", 0o660), ("0", 0),
])
def test_the_socket_mode_as_an_octal_integer_or_a_string(written: str, mode: int) -> None:
    config = _parse(MINIMAL.decode() + f"[control]\nsocket_mode = {written}\n")
    assert config.control.socket_mode == mode


@pytest.mark.parametrize(("written", "problem"), [
    ("-1", "-1 is not a file mode (0o000 to 0o777)"),
    ("true", "expected a file mode (0o660, or the string \"0660\"), got true"),
    ("6.6", "expected a file mode (0o660, or the string \"0660\"), got the number 6.6"),
    ('"0o660"', "the string '0o660' is not an octal file mode like \"0660\""),
    ('"0668"', "the string '0668' is not an octal file mode like \"0660\""),
    ('"0664"', "0o664 lets every user of the board reach the control socket; the last digit "
               "must be 0"),
])
def test_a_socket_mode_that_is_refused(written: str, problem: str) -> None:
    assert _problems(MINIMAL.decode() + f"[control]\nsocket_mode = {written}\n") == [
        f"t.toml:5: control.socket_mode: {problem}"
    ]


def test_a_real_pin_hash_is_accepted_and_verifies() -> None:
    encoded = hash_pin("4815")
    config = _parse(MINIMAL.decode() + f'[auth]\nstaff_pin_hash = "{encoded}"\n')
    assert config.auth.staff_pin_hash == encoded
    assert verify_pin("4815", config.auth.staff_pin_hash)


def test_hosts_and_patterns() -> None:
    config = _parse(MINIMAL.decode() + '[api]\nbind = "::"\nallowed_hosts = '
                    '["*", "*.clinic.example", "10.0.0.7", "panel-1", "fe80::1"]\n')
    assert config.api.bind == "::"
    assert config.api.allowed_hosts == ("*", "*.clinic.example", "10.0.0.7", "panel-1",
                                        "fe80::1")


def test_the_config_is_frozen() -> None:
    config = parse_config(MINIMAL, source="min.toml")
    with pytest.raises(ValidationError):
        config.unit.period_ms = 10  # type: ignore[misc]


def test_a_config_built_in_code_obeys_the_rules_across_keys() -> None:
    with pytest.raises(ValidationError, match="is a scheme of cj-air units"):
        Config.model_validate({"unit": {"kind": "n2", "url": "modbus+tcp://127.0.0.1:5020"}})
    with pytest.raises(ValidationError, match="exceeds token_lifetime_s"):
        Config.model_validate({"unit": {"kind": "n2", "url": "n2+socket://h:1"},
                               "auth": {"token_lifetime_s": 60, "token_idle_s": 61}})


def test_the_simulation_config(tmp_path: Path) -> None:
    config = Config.for_simulation("cj-air", "modbus+tcp://127.0.0.1:5020?device_id=1",
                                   tmp_path)
    assert config.unit.kind is DeviceKind.CJ_AIR
    assert config.unit.url == "modbus+tcp://127.0.0.1:5020?device_id=1"
    assert config.data.dir == tmp_path
    assert config.control.socket_path == tmp_path / "control.sock"
    assert config.api.bind == "127.0.0.1"
    n2 = Config.for_simulation(DeviceKind.N2, "n2+socket://127.0.0.1:5021", tmp_path,
                               socket_path=tmp_path / "c.sock")
    assert n2.control.socket_path == tmp_path / "c.sock"


def test_a_relative_simulation_data_dir_is_made_absolute(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = Config.for_simulation("n2", "n2+socket://127.0.0.1:5021", "state")
    assert config.data.dir == tmp_path / "state"


def test_a_wrong_simulation_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        Config.for_simulation("n2", "modbus+tcp://127.0.0.1:5020", tmp_path)
    assert refused.value.problems == [
        "simulation config: unit.url: 'modbus+tcp' is a scheme of cj-air units, but unit.kind "
        "is 'n2' (use n2+serial or n2+socket)"
    ]
    with pytest.raises(ConfigError, match=r"^simulation config: unit.kind: the string 'co2'"):
        Config.for_simulation("co2", "n2+socket://127.0.0.1:5021", tmp_path)
    with pytest.raises(ConfigError, match=r"control\.socket_path: is \d+ bytes long"):
        Config.for_simulation("n2", "n2+socket://127.0.0.1:5021", tmp_path / ("d" * 120))


def test_a_quoted_value_with_braces_stays_as_written() -> None:
    """Rule messages are not format strings: a value's braces are shown, not expanded."""
    assert _problems(MINIMAL.decode() + '[data]\ndir = "{rule}/x"\n') == [
        "t.toml:5: data.dir: the string '{rule}/x' is not an absolute path"
    ]


# -- files that cannot be read ------------------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "cryoctl.toml")
    assert refused.value.problems == [f"{tmp_path / 'cryoctl.toml'}: no such file"]


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": is a directory, not a config file$"):
        load_config(tmp_path)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "cryoctl.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"cryoctl\.toml: not a regular file$"):
        load_config(fifo)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "cryoctl.toml"
    path.write_bytes(MINIMAL)
    path.chmod(0)
    with pytest.raises(ConfigError, match=r"cryoctl\.toml: cannot open \(Permission denied\)$"):
        load_config(path)


def test_a_socket_in_place_of_the_file(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("sock") / "cryoctl.toml"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    try:
        with pytest.raises(ConfigError, match=r"cryoctl\.toml: cannot open \(No such device"):
            load_config(path)
    finally:
        listener.close()


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:
        handle.truncate(10 * 1024 * 1024)
    with pytest.raises(ConfigError) as refused:
        load_config(big)
    assert refused.value.problems == [
        f"{big}: 10485760 bytes exceed the limit of {MAX_CONFIG_BYTES} bytes for a config file"
    ]


def test_a_nul_in_the_path() -> None:
    with pytest.raises(ConfigError, match="not a usable path"):
        load_config("bad\x00name.toml")


def test_a_config_error_is_a_value_error_with_one_line_per_problem() -> None:
    problems = _problems("[unit]\nkind = 1\nurl = 2\nperiod_ms = 3\nextra = 4\n")
    assert problems == [
        "t.toml:2: unit.kind: the integer 1 is not one of 'n2' or 'cj-air'",
        "t.toml:3: unit.url: expected a string, got the integer 2",
        "t.toml:4: unit.period_ms: 3 must be between 10 and 100",
        "t.toml:5: unit.extra: unknown key",
    ]
    assert issubclass(ConfigError, ValueError)
