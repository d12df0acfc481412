"""Options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from cryoctl.config import CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH

__all__ = ["config_option"]

_F = TypeVar("_F", bound=Callable[..., object])


def config_option(help: str = "The service config (TOML).") -> Callable[[_F], _F]:
    """``--config PATH``: the service config (default /etc/cryoctl/cryoctl.toml, or
    $CRYOCTL_CONFIG)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=DEFAULT_CONFIG_PATH,
        envvar=CONFIG_PATH_ENV,
        show_default=True,
        show_envvar=True,
        help=help,
    )
