"""``cryoctl pin``: make the PIN hashes the config's ``[auth]`` section holds.

``cryoctl pin hash`` asks for the PIN twice on a hidden prompt when it runs in a
terminal, or reads one line from standard input otherwise
(``echo 2468 | cryoctl pin hash``), and prints the ``scrypt$...`` string for
``staff_pin_hash`` or ``technician_pin_hash``. Exit status 1 when the PIN breaks
the rule (4 to 12 digits); the PIN itself is never printed.
"""

from __future__ import annotations

import sys

import click

from cryoctl.errors import ConfigError
from cryoctl.pins import PIN_MAX_DIGITS, check_pin, hash_pin

#: Most characters read from standard input; a PIN line is far shorter.
_MAX_LINE_CHARS = 256


def _interactive() -> bool:
    """Whether a person is at the terminal (a prompt), rather than a pipe or a file."""
    return sys.stdin.isatty()


def _checked(value: str) -> str:
    try:
        return check_pin(value)
    except ConfigError as exc:
        # click hides the reason of a refused hidden input; say it first.
        click.echo(str(exc), err=True)
        raise click.UsageError(str(exc)) from None


def _pin_from_stdin() -> str:
    line = sys.stdin.readline(_MAX_LINE_CHARS)
    if not line:
        raise ConfigError("no PIN on standard input (give one line of digits)")
    if len(line) == _MAX_LINE_CHARS and not line.endswith("\n"):
        raise ConfigError(f"the line on standard input is far longer than a PIN "
                          f"({PIN_MAX_DIGITS} digits at most)")
    return check_pin(line.removesuffix("\n").removesuffix("\r"))


@click.group("pin")
def command() -> None:
    """Make PIN hashes for the config's [auth] section."""


@command.command("hash")
def hash_() -> None:
    """Print the scrypt hash of a PIN, for staff_pin_hash or technician_pin_hash.

    In a terminal the PIN is asked for twice and not shown; otherwise one line is
    read from standard input.
    """
    if _interactive():
        pin: str = click.prompt("PIN", hide_input=True, confirmation_prompt="Repeat PIN",
                                value_proc=_checked, err=True)
    else:
        try:
            pin = _pin_from_stdin()
        except ConfigError as exc:
            click.echo(f"cryoctl pin hash: {exc}", err=True)
            raise SystemExit(1) from None
    click.echo(hash_pin(pin))
