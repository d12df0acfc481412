"""A small TOML writer for tests: documents of scalars, lists, tables and arrays of tables.

Shared by the profile and the config tests, which build documents as dicts and
need them as text (tomllib only reads).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["to_toml"]


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii() else (
        _string(key)
    )


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def to_toml(doc: dict[str, Any]) -> str:
    """TOML text for a document of scalars, lists, tables and arrays of tables."""
    lines: list[str] = []
    tables = []
    for key, value in doc.items():
        if isinstance(value, dict) or _is_table_array(value):
            tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables:
        entries = value if isinstance(value, list) else [value]
        header = f"[[{_key(key)}]]" if isinstance(value, list) else f"[{_key(key)}]"
        for entry in entries:
            lines.append("")
            lines.append(header)
            lines.extend(f"{_key(k)} = {_value(v)}" for k, v in entry.items())
    return "\n".join(lines) + "\n"
