"""``cryoctl run``: the control process (systemd's ``cryoctl.service``).

``--config PATH`` (default ``/etc/cryoctl/cryoctl.toml``, or ``$CRYOCTL_CONFIG``)
names the service config. A config with problems is one line per problem on
stderr, naming the file, the line and the key, and exit status 2; so is a unit that
cannot be started (the line names its URL) or a socket that cannot be opened.
Other ways to run (a simulated unit) are further options of this one command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import click

from cryoctl.config import CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH, load_config
from cryoctl.errors import ConfigError, StartupFailed

__all__ = ["EXIT_USAGE", "command"]

#: A bad config, or a unit or socket that cannot be brought up.
EXIT_USAGE: Final = 2


def _run_config(config_path: Path) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        return EXIT_USAGE
    # Imported here: `cryoctl status` and the other commands need none of the controller.
    from cryoctl.control.daemon import main

    try:
        return main(config)
    except StartupFailed as exc:
        click.echo(f"cryoctl run: {exc}", err=True)
        return EXIT_USAGE


@click.command("run")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG_PATH,
    envvar=CONFIG_PATH_ENV,
    show_default=True,
    show_envvar=True,
    help="The service config (TOML).",
)
def command(config_path: Path) -> None:
    """Run the control process: the unit, the control loop and the control socket.

    Stops cleanly on SIGTERM or SIGINT, with the valve closed.
    """
    raise SystemExit(_run_config(config_path))
