"""The N2 command table as data, and the parser from a checked body to a command.

Pure: no state, no I/O. The unit (``simulator.n2.unit``) executes what this returns.

Decisions where the ICD leaves room:

- command names are case-sensitive: ``hb`` is not ``HB``;
- an unknown command is ``ER,<name>,UNK`` when its name is 1..16 characters of
  ``A-Z0-9``, else ``ER,?,UNK``; an empty name is ``ER,?,SYN``;
- a known command with the wrong number of fields, or a field that is not a decimal
  integer (optional leading ``-``, at most 9 digits), is ``ER,<CMD>,SYN``;
- an integer outside the table's range is ``ER,<CMD>,RNG`` (checked before interlocks);
- ``HB``'s ``seq`` is 1..10 digits, 0..4294967295, echoed exactly as received;
  ``WDT``/``PRESS``/``OPEN`` echo the value as the unit stored it (no leading zeros).
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["COMMANDS", "Command", "Refusal", "Spec", "parse"]

_INT_RE = re.compile(r"-?[0-9]{1,9}")
_SEQ_RE = re.compile(r"[0-9]{1,10}")
_NAME_RE = re.compile(r"[A-Z0-9]{1,16}")
SEQ_MAX = 2**32 - 1


@dataclasses.dataclass(frozen=True)
class Spec:
    """One row of the command table: ``bounds`` is None for commands without a value."""

    name: str
    bounds: tuple[int, int] | None = None


#: the ICD's command table; the value ranges are inclusive.
COMMANDS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec("ID"),
        Spec("HB", (0, SEQ_MAX)),
        Spec("WDT", (100, 5000)),
        Spec("PRESS", (20, 150)),
        Spec("OPEN", (20, 500)),
        Spec("CLOSE"),
        Spec("STAT"),
        Spec("RESET"),
    )
}


@dataclasses.dataclass(frozen=True)
class Command:
    """A well-formed, in-range command. ``text`` is the value field as received."""

    name: str
    value: int | None = None
    text: str = ""


@dataclasses.dataclass(frozen=True)
class Refusal:
    """An ``ER,<name>,<code>`` answer decided by the parser alone."""

    name: str
    code: str

    def body(self) -> str:
        return f"ER,{self.name},{self.code}"


def parse(body: str) -> Command | Refusal:
    fields = body.split(",")
    name = fields[0]
    if not name:
        return Refusal("?", "SYN")
    spec = COMMANDS.get(name)
    if spec is None:
        return Refusal(name if _NAME_RE.fullmatch(name) else "?", "UNK")
    args = fields[1:]
    if spec.bounds is None:
        return Command(name) if not args else Refusal(name, "SYN")
    if len(args) != 1:
        return Refusal(name, "SYN")
    text = args[0]
    pattern = _SEQ_RE if name == "HB" else _INT_RE
    if not pattern.fullmatch(text):
        return Refusal(name, "SYN")
    value = int(text)
    low, high = spec.bounds
    if not low <= value <= high:
        return Refusal(name, "RNG")
    return Command(name, value, text)
