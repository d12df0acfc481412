"""The core's own subcommands, gathered in one place."""

from __future__ import annotations

import click

from cryoctl.cli import pin, probe, profile, safe_stop


def register(group: click.Group) -> None:
    for module in (profile, probe, pin, safe_stop):
        group.add_command(module.command)
