"""structlog set-up: JSON lines for journald in the daemon, readable console in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(*, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog and the standard library's logging once, at start-up.

    ``json=None`` picks JSON when stderr is not a terminal (journald, CI).
    """
    use_json = (not sys.stderr.isatty()) if json is None else json
    level_no = logging.getLevelNamesMapping().get(level.upper())
    if level_no is None:
        raise ValueError(f"log level {level!r} is not one of debug, info, warning, error")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=level_no, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
    )
    # pymodbus logs a deprecation warning on every datastore access in 3.16.
    logging.getLogger("pymodbus").setLevel(max(level_no, logging.ERROR))
