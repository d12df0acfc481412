"""``cryoctl sim``: run a simulated unit (contributed through the cryoctl.commands entry point)."""

from __future__ import annotations

import click

from simulator.cjair.cli import cj_air
from simulator.n2.cli import n2


@click.group()
def sim() -> None:
    """Run a simulated unit on TCP or a pseudo-terminal (pty), with a control channel.

    A real serial port is not offered: point the driver at the pty instead.
    """


sim.add_command(cj_air)
sim.add_command(n2)
