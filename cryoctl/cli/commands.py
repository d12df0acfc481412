"""The core's own subcommands, gathered in one place."""

from __future__ import annotations

import click

from cryoctl.cli import doctor, estop, panel, pin, probe, profile, records, run, safe_stop, status


def register(group: click.Group) -> None:
    for module in (profile, probe, pin, run, status, estop, panel, safe_stop, doctor):
        group.add_command(module.command)
    group.add_command(records.command)
    group.add_command(records.audit_command)
