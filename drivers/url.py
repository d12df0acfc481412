"""Unit addresses as URLs, the way pyserial addresses ports.

::

    modbus+tcp://HOST:PORT?device_id=1
    modbus+rtu:///dev/ttyUSB0?baud=19200&parity=E&device_id=1
    n2+serial:///dev/ttyACM0?baud=115200
    n2+socket://HOST:PORT

Every problem is an :class:`~cryoctl.errors.AddressError` whose message is one line
naming the URL and the reason. A query key that the scheme does not read is an
error, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from cryoctl.errors import AddressError

__all__ = [
    "MODBUS_RTU",
    "MODBUS_TCP",
    "N2_SERIAL",
    "N2_SOCKET",
    "SCHEMES",
    "UnitAddress",
    "parse_url",
]

MODBUS_TCP: Final = "modbus+tcp"
MODBUS_RTU: Final = "modbus+rtu"
N2_SERIAL: Final = "n2+serial"
N2_SOCKET: Final = "n2+socket"

#: Standard line rates a serial URL may ask for.
STANDARD_BAUDS: Final = frozenset(
    {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}
)
PARITIES: Final = frozenset({"N", "E", "O"})
DEVICE_ID_MIN: Final = 1
DEVICE_ID_MAX: Final = 247
PORT_MIN: Final = 1
PORT_MAX: Final = 65535


@dataclass(frozen=True, slots=True)
class _SchemeRules:
    network: bool
    #: query keys read by this scheme, with their defaults
    defaults: dict[str, str]
    default_port: int | None = None


#: Defaults from the ICDs: CJ-Air RTU 19200 8E1, unit id 1, TCP port 502; N2 115200 8N1.
_RULES: Final[dict[str, _SchemeRules]] = {
    MODBUS_TCP: _SchemeRules(network=True, defaults={"device_id": "1"}, default_port=502),
    MODBUS_RTU: _SchemeRules(
        network=False, defaults={"baud": "19200", "parity": "E", "device_id": "1"}
    ),
    N2_SERIAL: _SchemeRules(network=False, defaults={"baud": "115200", "parity": "N"}),
    N2_SOCKET: _SchemeRules(network=True, defaults={}),
}

SCHEMES: Final = tuple(_RULES)


@dataclass(frozen=True, slots=True)
class UnitAddress:
    """A parsed unit URL. Network schemes fill host/port; serial schemes fill path/baud/parity."""

    url: str
    scheme: str
    host: str | None = None
    port: int | None = None
    path: str | None = None
    baud: int | None = None
    parity: str | None = None
    device_id: int | None = None

    @property
    def is_network(self) -> bool:
        return self.host is not None

    def serial_for_url_target(self) -> str:
        """What pyserial's ``serial_for_url`` opens: ``socket://HOST:PORT`` or a device path."""
        if self.host is not None:
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"socket://{host}:{self.port}"
        if self.path is None:  # pragma: no cover - parse_url never builds this
            raise AddressError(f"{self.url}: no device path")
        return self.path


def _fail(url: str, reason: str) -> AddressError:
    shown = url if url.isprintable() else repr(url)
    return AddressError(f"{shown}: {reason}")


def _int_in(url: str, key: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise _fail(url, f"{key}={text!r} is not a whole number") from None
    if not low <= value <= high:
        raise _fail(url, f"{key}={value} is outside {low}..{high}")
    return value


def _query(url: str, query: str, rules: _SchemeRules, scheme: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _fail(url, f"malformed query {query!r}") from None
    values = dict(rules.defaults)
    seen: set[str] = set()
    for key, value in pairs:
        if key not in rules.defaults:
            known = ", ".join(sorted(rules.defaults)) or "none"
            raise _fail(url, f"unknown option {key!r} for {scheme} (known: {known})")
        if key in seen:
            raise _fail(url, f"option {key!r} given twice")
        seen.add(key)
        values[key] = value
    return values


def parse_url(url: str, *, schemes: tuple[str, ...] = SCHEMES) -> UnitAddress:
    """Parse ``url`` into a :class:`UnitAddress`, accepting only ``schemes``."""
    if not isinstance(url, str) or not url.strip():
        raise _fail(repr(url), "empty unit URL")
    if any(ch.isspace() for ch in url):
        raise _fail(url, "whitespace in unit URL")
    try:
        parts = urlsplit(url)
        raw_port = parts.port
    except ValueError as exc:
        raise _fail(url, f"malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if "://" not in url or not scheme:
        raise _fail(url, "not a unit URL (expected SCHEME://..., e.g. modbus+tcp://HOST:PORT)")
    if scheme not in schemes:
        raise _fail(url, f"unknown scheme {scheme!r} (known: {', '.join(schemes)})")
    if parts.fragment:
        raise _fail(url, f"unexpected fragment #{parts.fragment}")
    if parts.username is not None or parts.password is not None:
        raise _fail(url, "user information is not allowed in a unit URL")
    rules = _RULES[scheme]
    options = _query(url, parts.query, rules, scheme)

    device_id = None
    if "device_id" in options:
        device_id = _int_in(url, "device_id", options["device_id"], DEVICE_ID_MIN, DEVICE_ID_MAX)

    if rules.network:
        host = parts.hostname
        if not host:
            raise _fail(url, "missing host (expected SCHEME://HOST:PORT)")
        if parts.path not in ("", "/"):
            raise _fail(url, f"unexpected path {parts.path!r} after HOST:PORT")
        port = raw_port if raw_port is not None else rules.default_port
        if port is None:
            raise _fail(url, "missing port (expected SCHEME://HOST:PORT)")
        if not PORT_MIN <= port <= PORT_MAX:
            raise _fail(url, f"port {port} is outside {PORT_MIN}..{PORT_MAX}")
        return UnitAddress(url=url, scheme=scheme, host=host, port=port, device_id=device_id)

    if parts.netloc:
        raise _fail(url, f"unexpected host {parts.netloc!r} (expected {scheme}:///dev/PATH)")
    if not parts.path or parts.path == "/":
        raise _fail(url, f"missing device path (expected {scheme}:///dev/PATH)")
    baud = _int_in(url, "baud", options["baud"], 1, 10_000_000)
    if baud not in STANDARD_BAUDS:
        raise _fail(url, f"baud={baud} is not a standard rate")
    parity = options["parity"].upper()
    if parity not in PARITIES:
        raise _fail(url, f"parity={options['parity']!r} is not one of N, E, O")
    return UnitAddress(
        url=url,
        scheme=scheme,
        path=parts.path,
        baud=baud,
        parity=parity,
        device_id=device_id,
    )
