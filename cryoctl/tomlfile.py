"""Read a small TOML file and say what is wrong with it, one line per problem.

Shared by the treatment profiles and the service config, so both answer a bad file
the same way: ``<file>:<line>: <key.path>: <rule>``, the line wherever the key is
in the file (:mod:`cryoctl.tomllines`), never a traceback. Every function raises the
error class it is given (:class:`~cryoctl.errors.ProfileError` or
:class:`~cryoctl.errors.ConfigError`), whose ``problems`` are those lines.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cryoctl.errors import ConfigError, ProfileError
from cryoctl.tomllines import KeyLines

__all__ = [
    "MAX_PROBLEMS",
    "FileError",
    "Problem",
    "describe_error",
    "describe_value",
    "format_problems",
    "key_path",
    "parse_toml_bytes",
    "problems_from_validation",
    "read_limited",
]

#: Most problems reported for one file; the rest are counted.
MAX_PROBLEMS = 100

#: The error classes a file's problems are raised as.
FileError = type[ProfileError] | type[ConfigError]

_TOML_POSITION = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_END = re.compile(r"^(?P<msg>.*?) \(at end of document\)$")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

_EXPECTED = {
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file: the key path (``zones[2].max_dwell_s``) and the rule."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _too_big(source: str, size: int, *, max_bytes: int, what: str, error: FileError,
             grew: bool = False) -> ProfileError | ConfigError:
    amount = f"more than {max_bytes} bytes" if grew else f"{size} bytes"
    return error(f"{source}: {amount} exceed the limit of {max_bytes} bytes for a {what}")


def read_limited(path: str | os.PathLike[str], *, max_bytes: int, what: str,
                 error: FileError) -> bytes:
    """A regular file's bytes, refusing directories, devices and files above ``max_bytes``.

    Never reads more than ``max_bytes + 1`` bytes, never blocks on a FIFO. ``what``
    names the file in messages ("profile file", "config file").
    """
    name = os.fsdecode(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except IsADirectoryError:
        raise error(f"{name}: is a directory, not a {what}") from None
    except OSError as exc:
        raise error(f"{name}: cannot open ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL byte in the path
        raise error(f"{name!r}: not a usable path ({exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{name}: is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{name}: not a regular file")
        if info.st_size > max_bytes:
            raise _too_big(name, info.st_size, max_bytes=max_bytes, what=what, error=error)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise _too_big(name, len(data), max_bytes=max_bytes, what=what, error=error, grew=True)
    return data


def _decode(data: bytes, source: str, error: FileError) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def _parse_toml(text: str, source: str, error: FileError) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_POSITION.match(message)
        if at:
            raise error(f"{source}:{at['line']}: TOML syntax: {at['msg']} "
                        f"(column {at['col']})") from None
        end = _TOML_END.match(message)
        if end:
            raise error(f"{source}: TOML syntax: {end['msg']} at the end of the file") from None
        raise error(f"{source}: TOML syntax: {message}") from None
    except RecursionError:
        raise error(f"{source}: TOML syntax: values nested too deeply") from None
    except ValueError:
        # tomllib lets int() refuse an integer too long to convert (over 4300 digits).
        raise error(f"{source}: TOML syntax: an integer has too many digits") from None


def parse_toml_bytes(data: bytes, *, source: str, max_bytes: int, what: str,
                     error: FileError) -> tuple[str, dict[str, Any]]:
    """The text and the TOML document of a file's bytes; one-line errors naming ``source``.

    Refuses more than ``max_bytes``, an empty file, a byte-order mark, bytes that are
    not UTF-8 and TOML syntax errors (with the line and column).
    """
    if len(data) > max_bytes:
        raise _too_big(source, len(data), max_bytes=max_bytes, what=what, error=error)
    if not data.strip():
        raise error(f"{source}: the file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        raise error(f"{source}: starts with a byte-order mark; save it as UTF-8 without one")
    text = _decode(data, source, error)
    return text, _parse_toml(text, source, error)


def format_problems(source: str, text: str, problems: Sequence[Problem], *,
                    limit: int = MAX_PROBLEMS) -> list[str]:
    """``<source>:<line>: <path>: <rule>`` for each problem, the line where it is known.

    The first ``limit`` problems are shown and the rest counted in a last line.
    """
    located = KeyLines(text)
    lines = []
    for problem in problems[:limit]:
        line = located.line_of(problem.path) if problem.path else None
        where = f"{source}:{line}" if line is not None else source
        lines.append(f"{where}: {problem}")
    if len(problems) > limit:
        lines.append(f"{source}: {len(problems) - limit} more problems not shown")
    return lines


def describe_value(value: object) -> str:
    """A short, safe description of a TOML value for a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**30 else "a very long integer"
        return f"the integer {text}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return "a date or time"
    return type(value).__name__


def _key(part: str) -> str:
    if _BARE_KEY.fullmatch(part):
        return part
    quoted = json.dumps(part)  # escapes quotes, newlines and control characters
    return quoted if len(quoted) <= 40 else quoted[:36] + '..."'


def key_path(loc: Sequence[int | str]) -> str:
    """``('zones', 2, 'max_dwell_s')`` -> ``zones[2].max_dwell_s``; odd keys quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_key(part)}" if out else _key(part)
    return out


def describe_error(error: ErrorDetails, path: str, *, tables: Mapping[str, str]) -> str:
    """The rule one pydantic error broke, in words a technician can act on.

    ``tables`` maps each top-level table to its header as written (``"zones":
    "[[zones]]"``), for "the [unit] table is required and missing". A custom error
    (``PydanticCustomError``) is its own message.
    """
    kind = error["type"]
    value = error.get("input")
    top_level = len(error["loc"]) == 1
    if kind == "missing":
        if top_level and path in tables:
            return f"the {tables[path]} table is required and missing"
        return "this key is required and missing"
    if kind == "extra_forbidden":
        return "unknown table" if isinstance(value, dict) else "unknown key"
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        header = tables.get(path, "") if top_level else ""
        if kind in ("tuple_type", "list_type") and header.startswith("[["):
            expected = f"a list of {header} tables"
        return f"expected {expected}, got {describe_value(value)}"
    if kind == "enum":
        ctx = error.get("ctx") or {}
        return f"{describe_value(value)} is not one of {ctx.get('expected', '?')}"
    if kind == "finite_number":
        return f"expected a finite number, got {describe_value(value)}"
    return str(error["msg"])


def problems_from_validation(
    exc: ValidationError,
    *,
    tables: Mapping[str, str],
    relocate: Callable[[list[int | str]], list[int | str] | None] | None = None,
) -> list[Problem]:
    """One problem per distinct error of ``exc``, in pydantic's order.

    ``relocate`` may rewrite an error's location, or answer ``None`` to drop the
    error (a profile keeps only the union member its device names).
    """
    problems: list[Problem] = []
    seen: set[Problem] = set()
    for error in exc.errors(include_url=False):
        loc: list[int | str] | None = list(error["loc"])
        if relocate is not None and loc is not None:
            loc = relocate(loc)
        if loc is None:
            continue
        path = key_path(loc)
        problem = Problem(path, describe_error(error, path, tables=tables))
        if problem not in seen:
            seen.add(problem)
            problems.append(problem)
    return problems
