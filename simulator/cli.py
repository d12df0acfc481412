"""``cryoctl sim``: run a simulated unit (contributed through the cryoctl.commands entry point)."""

from __future__ import annotations

import click


@click.group()
def sim() -> None:
    """Run a simulated unit on TCP, a pty or a serial port, with a control channel."""
