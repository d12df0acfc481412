"""What both ``cryoctl sim`` commands share: options, logging, and serving until a signal.

Once its transport listens a simulator prints one line to stdout, e.g.
``READY n2 url=n2+socket://127.0.0.1:5021 control=http://127.0.0.1:8766``, so
scripts (and tests) that bind port 0 learn the real addresses.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

from simulator.base import SimUnit
from simulator.control import ControlServer, serve_control

__all__ = ["Transport", "common_options", "host_port", "run", "serve_until_signalled"]

log = logging.getLogger(__name__)

#: How to open a unit's wire: returns its URL and how to close it again.
Transport = Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]

_F = TypeVar("_F", bound=Callable[..., Any])


def host_port(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint=option)
    return host, int(port)


def common_options(*, speed_help: str, wire_help: str) -> Callable[[_F], _F]:
    """--control, --speed, --wire-baud and --log-level, the same on every unit."""
    options = [
        click.option("--control", metavar="HOST:PORT", help="HTTP + JSON control channel."),
        click.option(
            "--speed",
            type=click.FloatRange(min=0.01, max=1000.0),
            default=1.0,
            show_default=True,
            help=speed_help,
        ),
        click.option("--wire-baud", type=click.IntRange(min=300), default=None, help=wire_help),
        click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warning", "error"]),
            default="info",
            show_default=True,
            help="debug logs every frame in and out.",
        ),
    ]

    def apply(func: _F) -> _F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("uvicorn").setLevel(max(logging.INFO, logging.getLogger().level))


async def serve_until_signalled(
    kind: str, unit: SimUnit, transport: Transport, control: tuple[str, int] | None
) -> None:
    """Open the wire and the control channel, print READY, and wait for SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    close_wire: Callable[[], Awaitable[None]] | None = None
    ctl: ControlServer | None = None
    try:
        url, close_wire = await transport()
        if control is not None:
            ctl = await serve_control(unit, *control)
        ready = f"READY {kind} url={url}" + (f" control={ctl.url}" if ctl else "")
        click.echo(ready)
        log.info("%s", ready)
        await stop.wait()
        log.info("%s simulator stopping", kind)
    finally:
        if ctl is not None:
            await ctl.close()
        if close_wire is not None:
            await close_wire()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(main: Coroutine[Any, Any, None], *, log_level: str) -> None:
    """Run a simulator to its end; an address that cannot be used is a one-line error."""
    _setup_logging(log_level)
    try:
        asyncio.run(main)
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
