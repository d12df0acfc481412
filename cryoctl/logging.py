"""structlog set-up: JSON lines for journald in the daemon, readable console in a terminal.

Both structlog's loggers and the standard library's (uvicorn, pymodbus) go through
one handler, so every line on the stream has the same shape. A JSON line carries
``timestamp`` (ISO 8601, UTC), ``level``, ``logger`` and ``event``, then the
event's own keys::

    {"event": "unit ready", "level": "info", "logger": "cryoctl.control.controller",
     "timestamp": "2025-01-01T12:00:00.000000Z", "kind": "n2"}
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from typing import TextIO

import structlog

__all__ = ["LEVELS", "LogFormat", "configure", "configure_logging"]

LEVELS = ("debug", "info", "warning", "error")


class LogFormat(enum.StrEnum):
    """How log lines look: ``auto`` is JSON unless the stream is a terminal."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


def _level_number(level: str) -> int:
    if level.lower() not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    return logging.getLevelNamesMapping()[level.upper()]


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def configure_logging(format: LogFormat | str = LogFormat.AUTO, *, level: str = "info",
                      stream: TextIO | None = None) -> LogFormat:
    """Configure structlog and the standard library's logging once, at start-up.

    ``stream`` defaults to standard output (journald reads it under systemd); a
    command that prints its answer there logs to ``sys.stderr`` instead. ``auto``
    picks JSON when the stream is not a terminal, and a coloured console when it is
    (without colour when ``NO_COLOR`` is set). Answers the format chosen.
    """
    try:
        wanted = LogFormat(format)
    except ValueError:
        raise ValueError(f"log format {format!r} is not one of "
                         f"{', '.join(f.value for f in LogFormat)}") from None
    level_no = _level_number(level)
    out = sys.stdout if stream is None else stream
    terminal = _is_terminal(out)
    chosen = wanted
    if wanted is LogFormat.AUTO:
        chosen = LogFormat.CONSOLE if terminal else LogFormat.JSON

    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    final: list[structlog.typing.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
    ]
    if chosen is LogFormat.JSON:
        final += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False),
        ]
    else:
        colours = terminal and "NO_COLOR" not in os.environ
        final.append(structlog.dev.ConsoleRenderer(colors=colours))

    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Off, so structlog.testing.capture_logs still sees module-level loggers.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_no)
    # pymodbus logs a deprecation warning on every datastore access in 3.16.
    logging.getLogger("pymodbus").setLevel(max(level_no, logging.ERROR))
    # transitions logs every callback at info: noise in the journal at each state change
    # (cryoctl logs the state changes itself, as events with fields).
    logging.getLogger("transitions").setLevel(max(level_no, logging.WARNING))
    return chosen


def configure(*, level: str = "info", json: bool | None = None) -> None:
    """Log to standard error (commands that print their answer on standard output).

    ``json=None`` picks JSON when standard error is not a terminal (journald, CI).
    """
    fmt = LogFormat.AUTO if json is None else (LogFormat.JSON if json else LogFormat.CONSOLE)
    configure_logging(fmt, level=level, stream=sys.stderr)
