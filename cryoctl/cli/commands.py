"""The core's own subcommands, gathered in one place."""

from __future__ import annotations

import click

from cryoctl.cli import panel, pin, probe, profile


def register(group: click.Group) -> None:
    for module in (profile, probe, pin, panel):
        group.add_command(module.command)
