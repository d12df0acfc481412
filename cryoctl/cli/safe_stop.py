"""``cryoctl safe-stop --config PATH``: command the unit's valve closed, and nothing else.

``cryoctl.service`` runs it as ``ExecStopPost=``, after every end of the control
process (a clean stop, a crash, a watchdog kill, a failed start), when the link
to the unit is free again. It loads the config, opens the unit's link itself
(``open_unit(config.unit.url)``), connects, sends the close and releases the link
(the port's ``aclose``, which closes once more if it can); each step has its own
deadline, about four seconds in all. It writes no protection, no set-point, no
reset: nothing that could arm the unit.

What it did is logged with structlog in the config's ``[log] format`` (JSON lines
for journald under systemd). Exit status 0 whatever the unit did, also when it
cannot be reached: that is one ``error`` line naming the URL, and the unit's own
expiry (the N2 lease, the CJ-Air heartbeat watchdog) closes the valve anyway.
Exit status 2 only for a config that cannot be used, one line per problem on stderr.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, TypeVar

import click
import structlog

from cryoctl.cli._options import config_option
from cryoctl.config import load_config
from cryoctl.control.registry import open_unit
from cryoctl.core.port import DevicePort
from cryoctl.errors import ConfigError
from cryoctl.logging import configure_logging

__all__ = [
    "CLOSE_TIMEOUT_S",
    "CONNECT_TIMEOUT_S",
    "EXIT_BAD_CONFIG",
    "RELEASE_TIMEOUT_S",
    "command",
    "safe_stop",
]

#: A config that cannot be loaded, the only failure that is not exit status 0.
EXIT_BAD_CONFIG: Final = 2
#: Open the link and identify the unit.
CONNECT_TIMEOUT_S: Final = 2.0
#: The close and its answer.
CLOSE_TIMEOUT_S: Final = 1.0
#: Releasing the link (which sends one more close where the link allows it).
RELEASE_TIMEOUT_S: Final = 1.0

#: What systemd tells an ExecStopPost= command about the end of the main process.
_SYSTEMD_RESULT_ENV: Final = ("SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS")

_log = structlog.get_logger("cryoctl.safe_stop")

_T = TypeVar("_T")


async def _step(name: str, url: str, timeout_s: float,
                action: Callable[[], Awaitable[_T]]) -> bool:
    """Run one step within its deadline; log (never raise) how it failed."""
    try:
        async with asyncio.timeout(timeout_s):
            await action()
    except TimeoutError as exc:
        # A driver's DeviceTimeout is a TimeoutError too: say what it said.
        detail = str(exc) or f"no answer within {timeout_s:g} s"
        _log.error(f"{name} failed", url=url, error=detail, timeout_s=timeout_s)
        return False
    except Exception as exc:  # an unreachable unit, a refusal, a driver's own bug
        _log.error(f"{name} failed", url=url, error=str(exc) or type(exc).__name__,
                   error_type=type(exc).__name__)
        return False
    return True


async def safe_stop(url: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                    close_timeout_s: float = CLOSE_TIMEOUT_S,
                    release_timeout_s: float = RELEASE_TIMEOUT_S) -> bool:
    """Connect to the unit at ``url``, close its valve, release the link.

    Answers whether the close was sent and answered. Never raises for anything the
    unit or its link does: every failure is logged as an error naming ``url``.
    """
    try:
        port: DevicePort = open_unit(url)
    except Exception as exc:  # AddressError: a URL or an option its driver refuses
        _log.error("valve close not sent: no driver for the unit", url=url,
                   error=str(exc) or type(exc).__name__)
        return False
    closed = False
    if await _step("connect", url, connect_timeout_s, port.connect):
        closed = await _step("close valve", url, close_timeout_s, port.close_valve)
    # Released in every case: a half-open link (a connect that timed out) too.
    released = await _step("release link", url, release_timeout_s, port.aclose)
    if closed:
        _log.info("valve closed", url=url, link_released=released)
    else:
        _log.error("valve close not confirmed: unit unreachable or not answering; "
                   "its own expiry closes the valve", url=url)
    return closed


@click.command("safe-stop")
@config_option("The service config (TOML); only [unit] and [log] are used.")
def command(config_path: Path) -> None:
    """Command the unit's valve closed, and nothing else (cryoctl.service's ExecStopPost).

    Connects to the unit named in the config, sends the close and releases the
    link, each step with its own deadline. Configures and arms nothing. Exit status
    0 also when the unit cannot be reached (logged as an error); 2 for a bad config.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    configure_logging(config.log.format)
    url = config.unit.url
    ended = {name.lower(): os.environ[name] for name in _SYSTEMD_RESULT_ENV
             if name in os.environ}
    _log.info("safe-stop", url=url, kind=config.unit.kind.value, **ended)
    asyncio.run(safe_stop(url))
