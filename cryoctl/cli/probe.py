"""``cryoctl probe URL``: who answers at a unit URL, and one status snapshot.

The probe writes nothing to the unit's settings: it connects, identifies, reads one
status and releases the link (the port's ``aclose``, which also commands the valve
closed, the safe state). Any DeviceError or AddressError is one line on stderr and
exit status 2.

The status's times (``read_at_s``, ``valve_at_s``, ``telemetry_at_s``, ``echo_at_s``)
are the host's monotonic seconds, which mean nothing outside this process: they are
shown as wall-clock times in UTC under the name without ``_s`` (``read_at``, ...),
and a time that never came (``-inf``) as none.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json as json_module
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import click

from cryoctl import logging as cryo_logging
from cryoctl.control.registry import open_unit
from cryoctl.core.port import Capabilities, Identity, Status
from cryoctl.errors import AddressError, DeviceError, DeviceTimeout

__all__ = ["EXIT_UNREACHABLE", "command", "probe_unit"]

EXIT_UNREACHABLE: Final = 2
#: Release of the link gets this long of its own after the probe's deadline.
CLOSE_TIMEOUT_S: Final = 1.0
#: The status fields that are host monotonic times end so; shown without the ``_s``.
_MONOTONIC_SUFFIX: Final = "_at_s"


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeResult:
    identity: Identity
    capabilities: Capabilities
    status: Status
    #: One reading of the monotonic clock and the wall clock, taken together after the
    #: status, to show its read times as wall-clock times.
    clock_at_s: float = 0.0
    wall_at_s: float = 0.0

    def wall_time(self, monotonic_s: float) -> str | None:
        """A monotonic reading as ISO 8601 UTC, to the millisecond; None if not finite."""
        if not math.isfinite(monotonic_s):
            return None
        wall = self.wall_at_s - (self.clock_at_s - monotonic_s)
        return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


async def probe_unit(
    url: str,
    *,
    timeout_ms: int = 3000,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> ProbeResult:
    """Connect to ``url``, identify the unit, read one status, release the link."""
    port = open_unit(url, clock=clock)
    try:
        async with asyncio.timeout(timeout_ms / 1000):
            identity = await port.connect()
            status = await port.read_status()
            clock_at_s, wall_at_s = clock(), wall_clock()
    except TimeoutError as exc:
        if isinstance(exc, DeviceError):
            raise
        raise DeviceTimeout(f"{url}: no complete answer within {timeout_ms} ms") from None
    finally:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await port.aclose()
        except (TimeoutError, DeviceError) as exc:
            logging.getLogger("cryoctl.probe").warning("link not released cleanly: %s", exc)
    return ProbeResult(identity=identity, capabilities=port.capabilities, status=status,
                       clock_at_s=clock_at_s, wall_at_s=wall_at_s)


def _status_fields(result: ProbeResult) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in result.status._asdict().items():
        if name.endswith(_MONOTONIC_SUFFIX):
            fields[name.removesuffix("_s")] = None if value is None else result.wall_time(value)
        else:
            fields[name] = value
    fields["faults"] = sorted(result.status.faults)
    return fields


def as_json(result: ProbeResult) -> dict[str, Any]:
    return {
        "identity": dataclasses.asdict(result.identity),
        "kind": result.capabilities.kind.value,
        "status": _status_fields(result),
    }


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def as_table(result: ProbeResult) -> str:
    rows: list[tuple[str, str]] = [
        ("url", result.identity.url),
        ("kind", result.capabilities.kind.value),
        ("model", result.identity.model),
        ("serial", result.identity.serial),
        ("firmware", result.identity.firmware),
    ]
    status = _status_fields(result)
    status["fault_bits"] = f"{result.status.fault_bits:#06x}"
    rows += [(name, _shown(value)) for name, value in status.items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


@click.command("probe")
@click.argument("url")
@click.option("--json", "as_json_flag", is_flag=True, help="Print one JSON object.")
@click.option(
    "--timeout-ms",
    type=click.IntRange(100, 60_000),
    default=3000,
    show_default=True,
    help="Give up when the unit has not answered everything within this time.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="error",
    show_default=True,
    help="Log to stderr at this level (debug shows every frame).",
)
def command(url: str, as_json_flag: bool, timeout_ms: int, log_level: str) -> None:
    """Print the identity and one status snapshot of the unit at URL.

    URL examples: modbus+tcp://HOST:PORT?device_id=1, n2+serial:///dev/ttyACM0.
    Exit status 2 when the URL is wrong or the unit cannot be reached.
    """
    cryo_logging.configure(level=log_level, json=False)
    if log_level != "debug":
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        result = asyncio.run(probe_unit(url, timeout_ms=timeout_ms))
    except (DeviceError, AddressError) as exc:
        click.echo(f"cryoctl probe: {exc}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
    if as_json_flag:
        click.echo(json_module.dumps(as_json(result), sort_keys=True))
    else:
        click.echo(as_table(result))
