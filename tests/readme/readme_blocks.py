"""The README's fenced shell commands, by the part of the README they stand in.

The first screen is everything above the first ``---`` line; the developer's part
is the ``## For the developer`` section. A block with a line ``# not run in CI:
WHY`` is one a person runs and the README test does not; WHY says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEVELOPER_HEADING", "Block", "Readme"]

DEVELOPER_HEADING = "## For the developer"
_NOT_RUN = re.compile(r"^# not run in CI: (?P<why>.+)$", re.MULTILINE)
_PORT = re.compile(r"127\.0\.0\.1:(\d{2,5})")
_HEADING = re.compile(r"(?P<level>#{1,6}) \S")


@dataclass(frozen=True, slots=True)
class Block:
    #: The nearest heading above the block ("" on the first screen).
    heading: str
    #: The line number of its first command in the README.
    line: int
    text: str

    @property
    def not_run_because(self) -> str | None:
        match = _NOT_RUN.search(self.text)
        return match.group("why") if match else None

    @property
    def ports(self) -> set[int]:
        """The loopback ports the block names (it expects them free)."""
        return {int(p) for p in _PORT.findall(self.text)}

    @property
    def name(self) -> str:
        title = self.heading.lstrip("#").strip() or "first screen"
        return f"README.md:{self.line} ({title})"


@dataclass(frozen=True, slots=True)
class Readme:
    blocks: tuple[Block, ...]
    #: (line number, level, text) of every heading outside a fence.
    headings: tuple[tuple[int, int, str], ...]
    #: The line number of the first ``---`` (the end of the first screen).
    rule_line: int

    @classmethod
    def read(cls, path: Path) -> Readme:
        lines = path.read_text(encoding="utf-8").splitlines()
        blocks: list[Block] = []
        headings: list[tuple[int, int, str]] = []
        heading, rule_line, i = "", len(lines) + 1, 0
        while i < len(lines):
            line, number = lines[i], i + 1
            match = _HEADING.match(line)
            if line == "---":
                rule_line = min(rule_line, number)
            elif match:
                heading = line
                headings.append((number, len(match.group("level")), line))
            elif line.strip().startswith("```"):
                end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
                if line.strip() == "```sh":
                    indent = len(line) - len(line.lstrip())
                    text = "\n".join(raw[indent:] for raw in lines[i + 1:end]) + "\n"
                    blocks.append(Block(heading, number + 1, text))
                i = end
            i += 1
        return cls(tuple(blocks), tuple(headings), rule_line)

    def first_screen(self) -> list[Block]:
        return [b for b in self.blocks if b.line < self.rule_line]

    def section(self, heading: str) -> list[Block]:
        """The blocks under ``heading`` and its subsections."""
        start, level = next((n, lv) for n, lv, text in self.headings if text == heading)
        end = next((n for n, lv, _ in self.headings if n > start and lv <= level), 10**9)
        return [b for b in self.blocks if start < b.line < end]
