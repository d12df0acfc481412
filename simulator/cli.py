"""``cryoctl sim``: run a simulated unit (contributed through the cryoctl.commands entry point)."""

from __future__ import annotations

import click

from simulator.cjair.cli import cj_air
from simulator.n2.cli import n2


@click.group()
def sim() -> None:
    """Run a simulated unit on TCP, a pty or a serial port, with a control channel."""


sim.add_command(cj_air)
sim.add_command(n2)
