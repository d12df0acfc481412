"""The core's own subcommands, gathered in one place."""

from __future__ import annotations

import importlib

import click

#: module names under cryoctl.cli, each exposing ``command`` (a click command or group).
_MODULES = ("profile", "probe")


def register(group: click.Group) -> None:
    for name in _MODULES:
        try:
            module = importlib.import_module(f"cryoctl.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cryoctl.cli.{name}":
                continue  # not built yet
            raise
        command = module.command
        group.add_command(command)
