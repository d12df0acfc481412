"""Find the line of a key path in TOML text, for messages that point into the file.

tomllib does not report where a key was; this scanner reads the usual layout
(``[table]``, ``[table.sub]`` and ``[[array]]`` headers, one ``key = value`` per
line) and answers ``None`` for anything it cannot place with confidence (dotted
keys, inline tables, a key that is missing), falling back to the line of the table
the key belongs to. Profiles and the service config both point into their files
with it.
"""

from __future__ import annotations

import re

__all__ = ["KeyLines", "line_of"]

_NAME = r'(?:"[A-Za-z0-9_-]+"|[A-Za-z0-9_-]+)'
_HEADER = re.compile(
    rf"\s*(\[\[?)\s*(?P<name>{_NAME}(?:\s*\.\s*{_NAME})*)\s*(\]\]?)\s*(?:#.*)?$"
)
_KEY = re.compile(r'\s*(?P<q>"?)([A-Za-z0-9_-]+)(?P=q)\s*=')
_PATH = re.compile(r"([A-Za-z0-9_-]+)(?:\[(\d+)\])?(?:\.([A-Za-z0-9_-]+))?")


def _table_name(header: str) -> str:
    """``"a" . b`` -> ``a.b``."""
    return ".".join(part.strip().strip('"') for part in header.split("."))


def _scan(text: str) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int, str], int]]:
    """Line numbers (1-based) of table headers and keys, keyed by (table, index[, key])."""
    headers: dict[tuple[str, int], int] = {}
    keys: dict[tuple[str, int, str], int] = {}
    counts: dict[str, int] = {}
    table, index = "", 0
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        quotes = line.count('"""') + line.count("'''")
        if in_multiline:
            in_multiline = quotes % 2 == 0
            continue
        header = _HEADER.match(line)
        if header:
            table = _table_name(header.group("name"))
            if header.group(1) == "[[":
                index = counts.get(table, -1) + 1
                counts[table] = index
            else:
                index = 0
            headers.setdefault((table, index), number)
            continue
        key = _KEY.match(line)
        if key:
            keys.setdefault((table, index, key.group(2)), number)
        in_multiline = quotes % 2 == 1
    return headers, keys


class KeyLines:
    """The key lines of one TOML text, scanned once, for many look-ups."""

    def __init__(self, text: str) -> None:
        self._headers, self._keys = _scan(text)

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` (``zones[2].max_dwell_s``, ``device.nozzle``), or ``None``.

        A key that is not written (a missing key) answers the line of its table header;
        a sub-table (``unit.extra`` written as ``[unit.extra]``) answers its own header.
        """
        match = _PATH.match(path)
        if not match:
            return None
        table, index_text, key = match.group(1), match.group(2), match.group(3)
        index = int(index_text) if index_text is not None else 0
        if key is None:
            if index_text is None and ("", 0, table) in self._keys:
                return self._keys[("", 0, table)]
            return self._headers.get((table, index))
        found = self._keys.get((table, index, key))
        if found is None and index_text is None:
            found = self._headers.get((f"{table}.{key}", 0))
        return found if found is not None else self._headers.get((table, index))


def line_of(text: str, path: str) -> int | None:
    """The line of ``path`` in ``text`` (see :meth:`KeyLines.line_of`)."""
    return KeyLines(text).line_of(path)
