"""``cryoctl sim n2``: the simulated N2 unit on a pty or a TCP port, until SIGINT/SIGTERM.

Once listening it prints one line to stdout, e.g.
``READY n2 url=n2+socket://127.0.0.1:5021 control=http://127.0.0.1:8766``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from simulator.base import RealClock
from simulator.n2.server import serve_pty, serve_tcp
from simulator.n2.unit import N2Config, N2Unit
from simulator.serve import Transport, common_options, host_port, run, serve_until_signalled

__all__ = ["n2"]


def _transport(
    unit: N2Unit,
    clock: RealClock,
    *,
    pty: Path | None,
    tcp: tuple[str, int] | None,
    wire_baud: int | None,
) -> Transport:
    async def open_wire() -> tuple[str, Callable[[], Awaitable[None]]]:
        if pty is not None:
            line = await serve_pty(unit, clock, pty, wire_baud=wire_baud)
            return f"n2+serial://{pty}?baud=115200", line.close
        assert tcp is not None
        tcp_line = await serve_tcp(unit, clock, *tcp, wire_baud=wire_baud)
        return f"n2+socket://{tcp_line.host}:{tcp_line.port}", tcp_line.close

    return open_wire


@click.command("n2")
@click.option("--pty", "pty", type=click.Path(path_type=Path), help="Symlink to a new pty.")
@click.option("--tcp", "tcp", metavar="HOST:PORT", help="Raw TCP (pyserial socket:// URLs).")
@common_options(
    speed_help="The unit's clock runs this many times faster than real time: physics, and the "
    "lease and WDT with it.",
    wire_help="Delay every line by its 8N1 frame time at this baud rate.",
)
@click.option(
    "--serial-number",
    default=N2Config.serial,
    show_default=True,
    help="Serial number the unit gives in its ID answer.",
)
@click.option(
    "--nozzle",
    default=N2Config.nozzle,
    show_default=True,
    help="Nozzle fitted at power-on (A B C D M P, or - for none).",
)
def n2(
    pty: Path | None,
    tcp: str | None,
    control: str | None,
    speed: float,
    wire_baud: int | None,
    log_level: str,
    serial_number: str,
    nozzle: str,
) -> None:
    """The N2 cryodestructor (ICD rev C line protocol) on --pty PATH or --tcp HOST:PORT."""
    if (pty is None) == (tcp is None):
        raise click.UsageError("give exactly one of --pty PATH or --tcp HOST:PORT")
    tcp_addr = host_port(tcp, "--tcp") if tcp is not None else None
    control_addr = host_port(control, "--control") if control is not None else None
    try:
        config = N2Config(serial=serial_number, nozzle=nozzle)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    clock = RealClock(speed)
    unit = N2Unit(clock=clock, config=config)
    wire = _transport(
        unit,
        clock,
        pty=pty.absolute() if pty is not None else None,
        tcp=tcp_addr,
        wire_baud=wire_baud,
    )
    run(serve_until_signalled("n2", unit, wire, control_addr), log_level=log_level)
