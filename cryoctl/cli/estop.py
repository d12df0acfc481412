"""``cryoctl estop``: e-stop through the control socket, from a shell.

Always accepted by the control process, and answered only after the close has gone
out to the unit. Prints whether the unit acknowledged the close (it is sent again
every cycle until a status confirms it either way) and exits 0; exits 2 with one
line when the control process cannot be reached. The valve is then closed only by
the unit's own expiry, or its e-stop button.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cryoctl.cli._socket import EXIT_UNREACHABLE, socket_options, socket_path
from cryoctl.client import ControlClient
from cryoctl.errors import ControlUnavailable, RequestRejected

__all__ = ["command"]


async def _estop(path: Path, source: str, timeout_s: float) -> bool:
    async with ControlClient(path, timeout_s=timeout_s) as client:
        return await client.estop(source)


@click.command("estop")
@socket_options
@click.option("--source", default="cli", show_default=True,
              help="Who pressed it, for the log and the session record.")
def command(socket: Path | None, config_path: Path | None, timeout_ms: int, source: str) -> None:
    """E-stop: latch, and close the valve now."""
    path = socket_path(socket, config_path)
    try:
        acknowledged = asyncio.run(_estop(path, source, timeout_ms / 1000))
    except (ControlUnavailable, RequestRejected) as exc:
        click.echo(f"cryoctl estop: NOT SENT: {exc}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
    if acknowledged:
        click.echo("e-stop latched; the unit acknowledged the close")
    else:
        click.echo("e-stop latched; the unit did NOT acknowledge the close "
                   "(it is sent again every cycle until a status confirms it)")
