"""Which control socket a command talks to: ``--socket PATH``, or the one ``--config`` names.

Without either, the config at ``$CRYOCTL_CONFIG`` or ``/etc/cryoctl/cryoctl.toml``
names it when that file exists, and ``/run/cryoctl/control.sock`` is used otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from cryoctl.client import DEFAULT_SOCKET_PATH
from cryoctl.config import CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH, load_config
from cryoctl.errors import ConfigError

__all__ = ["EXIT_UNREACHABLE", "socket_options", "socket_path"]

#: The control process cannot be reached (or the config naming it is bad).
EXIT_UNREACHABLE: Final = 2

_F = TypeVar("_F", bound=Callable[..., Any])


def socket_options(func: _F) -> _F:
    """``--socket PATH``, ``--config PATH`` and ``--timeout-ms``."""
    options = [
        click.option("--socket", "socket", type=click.Path(path_type=Path, dir_okay=False),
                     default=None, help="The control socket (instead of --config)."),
        click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
                     default=None, help="Take the socket path from this service config."),
        click.option("--timeout-ms", type=click.IntRange(100, 60_000), default=3000,
                     show_default=True, help="Give up when there is no answer within this."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def socket_path(socket: Path | None, config_path: Path | None) -> Path:
    """The socket to use; exits 2 with the config's problems (or a usage line)."""
    if socket is not None and config_path is not None:
        raise click.UsageError("give --socket or --config, not both")
    if socket is not None:
        return socket
    if config_path is None:
        named = os.environ.get(CONFIG_PATH_ENV)
        if named:
            config_path = Path(named)
        elif DEFAULT_CONFIG_PATH.exists():
            config_path = DEFAULT_CONFIG_PATH
        else:
            return DEFAULT_SOCKET_PATH
    try:
        return load_config(config_path).control.socket_path
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
