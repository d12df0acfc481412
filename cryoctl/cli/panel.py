"""``cryoctl panel``: run the panel server (the touch panel's HTTP and WebSocket API).

It reads the service config, reaches the control process through its socket
(``control.socket_path``) and serves on ``api.bind``:``api.port``. Exit status 1
with one line per problem for a bad config, or one line when the control socket
client is missing; never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from cryoctl.cli._options import config_option
from cryoctl.config import load_config
from cryoctl.errors import ConfigError
from cryoctl.logging import configure_logging


@click.command("panel")
@config_option("The service config file.")
def command(config_path: Path) -> None:
    """Run the panel server: the touch panel's HTTP and WebSocket API."""
    # Imported here: FastAPI and uvicorn load only for this command.
    from cryoctl.panel import make_link, serve

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    try:
        link = make_link(config)
    except ImportError as exc:
        click.echo(f"cryoctl panel: {exc}", err=True)
        raise SystemExit(1) from None
    configure_logging(config.log.format)
    serve(config, link)
