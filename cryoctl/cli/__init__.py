"""The ``cryoctl`` command line (click).

Subcommands of the core live in this package; packages the core may not import
(the simulator) contribute theirs through the ``cryoctl.commands`` entry points,
loaded only when named.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from cryoctl import __version__

COMMAND_GROUP = "cryoctl.commands"


class _Cli(click.Group):
    """A group that also offers the plugin commands, loading one only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        plugins = [ep.name for ep in entry_points(group=COMMAND_GROUP)]
        return sorted({*super().list_commands(ctx), *plugins})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        own = super().get_command(ctx, cmd_name)
        if own is not None:
            return own
        for ep in entry_points(group=COMMAND_GROUP):
            if ep.name == cmd_name:
                command = ep.load()
                if isinstance(command, click.Command):
                    return command
        return None


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="cryoctl")
def cli() -> None:
    """Controller service of a cryotherapy device."""


def _register() -> None:
    # Imported here so each subcommand module can import `cli` without a cycle.
    from cryoctl.cli import commands

    commands.register(cli)


def main() -> None:
    _register()
    cli(prog_name="cryoctl")
