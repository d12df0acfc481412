"""The service config: one TOML file the control process and the panel server both read.

``/etc/cryoctl/cryoctl.toml`` on a device; ``systemd/cryoctl.example.toml`` shows
every key with its default. Only ``[unit]`` is required::

    [unit]
    kind = "n2"                          # or "cj-air"
    url = "n2+serial:///dev/cryo-unit"   # the driver URL; its scheme must fit the kind

Unknown tables and keys are errors, values are never coerced from strings, and
every number is checked against its range. :func:`load_config` reads it all at
start-up and raises :class:`~cryoctl.errors.ConfigError` with one line per
problem, ``<file>:<line>: <key.path>: <rule>``, the way profiles are answered
(:mod:`cryoctl.tomlfile`). A URL's options (baud, device_id, ...) are the
driver's to check, when the control process opens the unit.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cryoctl.errors import ConfigError
from cryoctl.logging import LogFormat
from cryoctl.pins import parse_pin_hash
from cryoctl.profile.kinds import DeviceKind
from cryoctl.profile.signing import SignaturePolicy, parse_public_key
from cryoctl.tomlfile import (
    Problem,
    describe_value,
    format_problems,
    parse_toml_bytes,
    problems_from_validation,
    read_limited,
)

__all__ = [
    "CONFIG_PATH_ENV",
    "DEFAULT_CONFIG_PATH",
    "MAX_CONFIG_BYTES",
    "SCHEMES_BY_KIND",
    "ApiConfig",
    "AuthConfig",
    "Config",
    "ControlConfig",
    "DataConfig",
    "Language",
    "LogConfig",
    "PanelConfig",
    "ProfilesConfig",
    "RecordsConfig",
    "UnitConfig",
    "load_config",
    "parse_config",
    "problems_of",
]

DEFAULT_CONFIG_PATH: Final = Path("/etc/cryoctl/cryoctl.toml")
#: Names another config file (for a developer, or a test).
CONFIG_PATH_ENV: Final = "CRYOCTL_CONFIG"
#: Largest config file accepted; a real one is a few hundred bytes.
MAX_CONFIG_BYTES: Final = 64 * 1024

#: The driver URL schemes of each kind of unit.
SCHEMES_BY_KIND: Final[dict[DeviceKind, tuple[str, ...]]] = {
    DeviceKind.N2: ("n2+serial", "n2+socket"),
    DeviceKind.CJ_AIR: ("modbus+tcp", "modbus+rtu"),
}
_NETWORK_SCHEMES: Final = frozenset({"n2+socket", "modbus+tcp"})
_SCHEMES: Final = tuple(s for schemes in SCHEMES_BY_KIND.values() for s in schemes)

#: A Unix socket's path must fit sun_path (108 bytes with its NUL).
_MAX_SOCKET_PATH_BYTES: Final = 107
_MAX_MODE: Final = 0o777
_DEFER_RULES: Final = "cryoctl.config.defer_rules"
_TABLES: Final = {name: f"[{name}]" for name in
                  ("unit", "control", "api", "data", "auth", "panel", "log", "records",
                   "profiles")}

_GROUP = re.compile(r"[a-z_][a-z0-9_-]{0,30}\$?")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")
_OCTAL_MODE = re.compile(r"0?[0-7]{3}")


class Language(enum.StrEnum):
    """The touch panel's language (its message catalogues)."""

    EN = "en"
    RU = "ru"


def _refuse(rule: str) -> PydanticCustomError:
    # The rule goes in through the context, so braces in a quoted value stay text.
    return PydanticCustomError("config_rule", "{rule}", {"rule": rule})


def _between(low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise _refuse(f"{value} must be between {low} and {high}")
        return value

    return AfterValidator(check)


def _absolute_path(value: object) -> Path:
    if not isinstance(value, str):
        raise _refuse(f"expected an absolute path as a string, got {describe_value(value)}")
    if "\0" in value or not value.startswith("/"):
        raise _refuse(f"{describe_value(value)} is not an absolute path")
    return Path(value)


def _socket_path(value: Path) -> Path:
    size = len(os.fsencode(value))
    if size > _MAX_SOCKET_PATH_BYTES:
        raise _refuse(f"is {size} bytes long; a Unix socket path may be at most "
                      f"{_MAX_SOCKET_PATH_BYTES}")
    return value


def _socket_mode(value: object) -> int:
    if isinstance(value, str):
        if _OCTAL_MODE.fullmatch(value) is None:
            raise _refuse(f"{describe_value(value)} is not an octal file mode like \"0660\"")
        mode = int(value, 8)
    elif isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        raise _refuse(f"expected a file mode (0o660, or the string \"0660\"), "
                      f"got {describe_value(value)}")
    if not 0 <= mode <= _MAX_MODE:
        if isinstance(value, int) and _OCTAL_MODE.fullmatch(str(value)):
            raise _refuse(f"{value} is read as a decimal number; write the mode as "
                          f"0o{value:0>3} or \"0{value:0>3}\"")
        if mode < 0:
            raise _refuse(f"{mode} is not a file mode (0o000 to 0o777)")
        raise _refuse(f"{mode:#o} is outside 0o000..0o777 (a socket has no setuid, setgid "
                      "or sticky bit)")
    if mode & 0o007:
        raise _refuse(f"{mode:#o} lets every user of the board reach the control socket; "
                      "the last digit must be 0")
    return mode


def _group(value: str) -> str:
    if _GROUP.fullmatch(value) is None:
        raise _refuse(f"{describe_value(value)} is not a group name (lower-case letters, "
                      "digits, _ and -, starting with a letter or _, at most 32 characters)")
    return value


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return _HOSTNAME.fullmatch(value) is not None
    return True


def _host(value: str) -> str:
    if not _is_host(value):
        raise _refuse(f"{describe_value(value)} is not a host name or an IP address")
    return value


def _host_pattern(value: str) -> str:
    if value == "*" or (value.startswith("*.") and _is_host(value[2:])) or _is_host(value):
        return value
    raise _refuse(f"{describe_value(value)} is not a host name, an IP address, "
                  "* or *.DOMAIN")


def _unit_url(value: str) -> str:
    shown = describe_value(value)
    if not value.strip() or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise _refuse(f"{shown} is not a unit URL (no spaces or control characters)")
    if "://" not in value:
        raise _refuse(f"{shown} is not a unit URL (expected SCHEME://..., e.g. "
                      "n2+serial:///dev/cryo-unit or modbus+tcp://HOST:PORT)")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"{shown} is a malformed URL ({exc})") from None
    if parts.scheme not in _SCHEMES:
        raise _refuse(f"{parts.scheme[:20]!r} is not a unit scheme ({', '.join(_SCHEMES)})")
    if parts.scheme in _NETWORK_SCHEMES:
        if not parts.hostname:
            raise _refuse(f"{shown} has no host (expected {parts.scheme}://HOST:PORT)")
        if port == 0:
            raise _refuse(f"{shown}: port 0 is not a port")
    elif parts.netloc or parts.path in ("", "/"):
        raise _refuse(f"{shown} names no device (expected {parts.scheme}:///dev/PATH)")
    return value


def _pin_hash(value: str) -> str:
    try:
        parse_pin_hash(value)
    except ConfigError as exc:
        raise _refuse(str(exc)) from None
    return value


_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _public_key(value: str) -> str:
    try:
        parse_public_key(value)
    except ValueError as exc:
        raise _refuse(f"{exc} (expected ed25519:BASE64, from cryoctl profile keygen)") from None
    return value


def _key_name(value: str) -> str:
    if _KEY_NAME.fullmatch(value) is None:
        raise _refuse(f"{describe_value(value)} is not a key name (letters, digits, . _ -, "
                      "at most 64 characters)")
    return value


AbsolutePath = Annotated[Path, BeforeValidator(_absolute_path)]
SocketPath = Annotated[Path, BeforeValidator(_absolute_path), AfterValidator(_socket_path)]
SocketMode = Annotated[int, BeforeValidator(_socket_mode)]
GroupName = Annotated[StrictStr, AfterValidator(_group)]
Host = Annotated[StrictStr, AfterValidator(_host)]
HostPattern = Annotated[StrictStr, AfterValidator(_host_pattern)]
UnitUrl = Annotated[StrictStr, AfterValidator(_unit_url)]
PinHashText = Annotated[StrictStr, AfterValidator(_pin_hash)]
PublicKeyText = Annotated[StrictStr, AfterValidator(_public_key)]
KeyName = Annotated[StrictStr, AfterValidator(_key_name)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class UnitConfig(_Section):
    """``[unit]``: which unit, where it is, and how often the control loop runs."""

    kind: DeviceKind
    #: The driver URL: n2+serial:///dev/cryo-unit, n2+socket://HOST:PORT,
    #: modbus+tcp://HOST:PORT?device_id=1, modbus+rtu:///dev/ttyUSB0?baud=19200.
    url: UnitUrl
    period_ms: Annotated[StrictInt, _between(10, 100)] = 20


class ControlConfig(_Section):
    """``[control]``: the control process's Unix socket, for the panel server and the CLI."""

    socket_path: SocketPath = Path("/run/cryoctl/control.sock")
    #: 0o660, or the string "0660"; nobody outside the owner and group.
    socket_mode: SocketMode = 0o660
    #: Groups whose members may use the socket, besides root and the service's own user.
    #: ``cryoctl``: the panel server's user (cryoctl-panel) has it as its primary group.
    allowed_groups: tuple[GroupName, ...] = ("cryoctl", "cryoctl-tech")


class ApiConfig(_Section):
    """``[api]``: the panel server's HTTP and WebSocket listener."""

    bind: Host = "127.0.0.1"
    port: Annotated[StrictInt, _between(1, 65535)] = 8080
    #: Host headers the server answers (``*`` and ``*.DOMAIN`` patterns allowed).
    allowed_hosts: tuple[HostPattern, ...] = ("127.0.0.1", "localhost")
    max_body_bytes: Annotated[StrictInt, _between(1024, 16 * 1024 * 1024)] = 256 * 1024


class DataConfig(_Section):
    """``[data]``: where session records, the alarm log and installed profiles live."""

    dir: AbsolutePath = Path("/var/lib/cryoctl")


class AuthConfig(_Section):
    """``[auth]``: the panel's PINs (hashes from ``cryoctl pin hash``) and its tokens."""

    staff_pin_hash: PinHashText | None = None
    technician_pin_hash: PinHashText | None = None
    token_lifetime_s: Annotated[StrictInt, _between(60, 7 * 24 * 3600)] = 8 * 3600
    #: A token unused this long is no longer accepted.
    token_idle_s: Annotated[StrictInt, _between(30, 24 * 3600)] = 15 * 60
    #: Whether staff (not only technicians) may override a soft limit.
    staff_may_override: StrictBool = False


class PanelConfig(_Section):
    """``[panel]``: the touch panel itself."""

    language: Language = Language.EN


class LogConfig(_Section):
    """``[log]``: JSON lines, a console, or ``auto`` (JSON unless stdout is a terminal)."""

    format: LogFormat = LogFormat.AUTO


class RecordsConfig(_Section):
    """``[records]``: how session records are grouped."""

    #: A session more than this long after a patient's last one starts a new course.
    course_gap_days: Annotated[StrictInt, _between(1, 365)] = 30


class ProfilesConfig(_Section):
    """``[profiles]``: whether installed profiles must carry a vendor's signature.

    ``trusted_keys`` names each public key (``ed25519:BASE64``, printed by
    ``cryoctl profile keygen``); a signature that verifies under none of them is
    always refused, and with ``require_signatures`` an unsigned one is too.
    """

    require_signatures: StrictBool = False
    trusted_keys: dict[KeyName, PublicKeyText] = {}

    def policy(self) -> SignaturePolicy:
        return SignaturePolicy.from_texts(required=self.require_signatures,
                                          keys=self.trusted_keys)


class Config(_Section):
    """The whole config. Building one checks every rule, the cross-key ones too."""

    unit: UnitConfig
    control: ControlConfig = ControlConfig()
    api: ApiConfig = ApiConfig()
    data: DataConfig = DataConfig()
    auth: AuthConfig = AuthConfig()
    panel: PanelConfig = PanelConfig()
    log: LogConfig = LogConfig()
    records: RecordsConfig = RecordsConfig()
    profiles: ProfilesConfig = ProfilesConfig()

    @model_validator(mode="after")
    def _obey_rules(self, info: ValidationInfo) -> Config:
        context: Any = info.context
        if isinstance(context, dict) and context.get(_DEFER_RULES):
            return self
        problems = problems_of(self)
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        return self

    @classmethod
    def for_simulation(cls, kind: DeviceKind | str, unit_url: str,
                       data_dir: str | os.PathLike[str], *,
                       socket_path: str | os.PathLike[str] | None = None) -> Config:
        """The config of ``cryoctl run --simulate``: a simulated unit, state in ``data_dir``.

        The control socket goes in ``data_dir`` too (``control.sock``), unless
        ``socket_path`` is given, so a developer needs no /run or /var.
        """
        folder = os.fsdecode(os.path.abspath(data_dir))
        sock = (os.fsdecode(os.path.abspath(socket_path)) if socket_path is not None
                else os.path.join(folder, "control.sock"))
        raw = {
            "unit": {"kind": str(kind), "url": unit_url},
            "control": {"socket_path": sock},
            "data": {"dir": folder},
        }
        answer = _validate(raw)
        if isinstance(answer, Config):
            return answer
        raise ConfigError([f"simulation config: {problem}" for problem in answer])


def _rules(config: Config) -> Iterator[Problem]:
    unit = config.unit
    scheme = urlsplit(unit.url).scheme
    schemes = SCHEMES_BY_KIND[unit.kind]
    if scheme not in schemes:
        other = next(kind for kind, owned in SCHEMES_BY_KIND.items() if scheme in owned)
        yield Problem("unit.url", f"{scheme!r} is a scheme of {other.value} units, but "
                      f"unit.kind is {unit.kind.value!r} (use {' or '.join(schemes)})")
    if not config.api.allowed_hosts:
        yield Problem("api.allowed_hosts", "must name at least one host")
    if config.profiles.require_signatures and not config.profiles.trusted_keys:
        yield Problem("profiles.require_signatures",
                      "is true but profiles.trusted_keys names no key to verify with")
    auth = config.auth
    if auth.token_idle_s > auth.token_lifetime_s:
        yield Problem("auth.token_idle_s", f"{auth.token_idle_s} exceeds token_lifetime_s "
                      f"({auth.token_lifetime_s})")


def problems_of(config: Config) -> list[Problem]:
    """The rules across keys that ``config`` breaks (the per-key ones hold by construction)."""
    return list(_rules(config))


def _validate(raw: dict[str, Any]) -> Config | list[Problem]:
    """A config from a TOML document, or every problem it has, with its key path."""
    try:
        config = Config.model_validate(raw, context={_DEFER_RULES: True})
    except ValidationError as exc:
        return problems_from_validation(exc, tables=_TABLES)
    return problems_of(config) or config


def parse_config(data: bytes, *, source: str) -> Config:
    """Validate a config file's bytes. Raises ConfigError with one line per problem."""
    text, raw = parse_toml_bytes(data, source=source, max_bytes=MAX_CONFIG_BYTES,
                                 what="config file", error=ConfigError)
    answer = _validate(raw)
    if isinstance(answer, Config):
        return answer
    raise ConfigError(format_problems(source, text, answer))


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG_PATH) -> Config:
    """Read and validate the config file at ``path``; messages name it as given."""
    data = read_limited(path, max_bytes=MAX_CONFIG_BYTES, what="config file", error=ConfigError)
    return parse_config(data, source=os.fsdecode(path))
