"""Rows of the bench's table: a value beside its same-run baseline, the ratio and the target.

A miss is a row that says so; it never makes the command fail.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Row", "percentiles", "print_table", "spread_ms", "write_json"]


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of ``samples`` (nearest rank), and how many there were."""
    if not samples:
        return {"n": 0, "p50": math.nan, "p99": math.nan, "max": math.nan}
    ordered = sorted(samples)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]

    return {"n": n, "p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1]}


@dataclass
class Row:
    """One line of the table. ``value`` and ``baseline`` are in ``unit``."""

    figure: int
    label: str
    value: float
    unit: str
    #: the same-run baseline it is judged against, where the figure has one
    baseline: float | None = None
    baseline_label: str = ""
    target: str = "-"
    #: True met, False missed, None when the figure has no target
    met: bool | None = None
    #: everything else measured (percentiles, counts), for the JSON file
    detail: dict[str, Any] = field(default_factory=dict)
    #: what the table shows beside it: the spread, and anything that went wrong
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline or math.isnan(self.value):
            return None
        return self.value / self.baseline

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        return out


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "n/a"
    text = f"{value:#.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{text} {unit}".strip()


def print_table(rows: Sequence[Row]) -> None:
    header = ("#", "figure", "value", "baseline (same run)", "ratio", "target", "result",
              "notes")
    lines = []
    for r in rows:
        result = {True: "pass", False: "MISS", None: "-"}[r.met]
        base = "-" if r.baseline is None else f"{_num(r.baseline, r.unit)} {r.baseline_label}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append((str(r.figure), r.label, _num(r.value, r.unit), base.strip(), ratio,
                      r.target, result, r.note))
    widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
    for line in [header, tuple("-" * w for w in widths), *lines]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def spread_ms(p: dict[str, float], extra: str = "") -> str:
    """``p50 0.41 / p99 0.93 / max 1.2 ms, n 500`` from seconds."""
    if not p["n"]:
        return "no samples" + (f"; {extra}" if extra else "")
    text = (f"p50 {_num(p['p50'] * 1000)} / p99 {_num(p['p99'] * 1000)} / "
            f"max {_num(p['max'] * 1000)} ms, n {p['n']}")
    return text + (f"; {extra}" if extra else "")


def write_json(path: Path, rows: Sequence[Row], machine: dict[str, Any]) -> None:
    data = {"machine": machine, "rows": [r.as_json() for r in rows]}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
