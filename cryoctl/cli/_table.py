"""Plain-text tables for the terminal: one header row, columns padded to their widest cell."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["table"]


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def table(rows: Sequence[Sequence[str]], *, indent: str = "") -> list[str]:
    """``rows[0]`` is the header; numeric columns are right-aligned, the rest left-aligned.

    The last column is not padded (no trailing blanks).
    """
    if not rows:
        return []
    count = len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(count)]
    right = [all(_numeric(row[i]) for row in rows[1:]) and len(rows) > 1 for i in range(count)]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if numeric else cell.ljust(width)
            for cell, width, numeric in zip(row, widths, right, strict=True)
        ]
        if not right[-1]:
            cells[-1] = row[-1]
        lines.append(indent + "  ".join(cells))
    return lines
