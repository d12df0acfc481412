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

from cryoctl.cli._options import config_option
from cryoctl.config import load_config
from cryoctl.errors import ConfigError, StartupFailed
from cryoctl.profile.kinds import DeviceKind

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
@config_option()
@click.option(
    "--simulate",
    "kind",
    type=click.Choice([k.value for k in DeviceKind]),
    default=None,
    help="Run the whole device against a simulated unit of this kind (a developer's or a "
    "demo's): the unit and the panel server as children, state in the user's state dir.",
)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="With --simulate: where its config, socket and profiles go.")
@click.option("--panel-port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="With --simulate: the panel server's port on 127.0.0.1.")
@click.option("--control-port", type=click.IntRange(1, 65535), default=8765, show_default=True,
              help="With --simulate: the simulated unit's control channel on 127.0.0.1.")
def command(
    config_path: Path, kind: str | None, data_dir: Path | None, panel_port: int, control_port: int
) -> None:
    """Run the control process: the unit, the control loop and the control socket.

    Stops cleanly on SIGTERM or SIGINT, with the valve closed. With --simulate KIND it
    is the whole device on this machine: a simulated unit, this control process and
    the panel server at http://127.0.0.1:8080/.
    """
    if kind is None:
        raise SystemExit(_run_config(config_path))
    from cryoctl.control.simulate import SimulateOptions, simulate, state_dir

    opts = SimulateOptions(
        kind=DeviceKind(kind),
        data_dir=(data_dir or state_dir() / f"simulate-{kind}").resolve(),
        panel_port=panel_port,
        control_port=control_port,
    )
    try:
        raise SystemExit(simulate(opts))
    except StartupFailed as exc:
        click.echo(f"cryoctl run: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
