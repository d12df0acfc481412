"""What the control process counts, for diagnostics and metrics."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ControllerStats"]


@dataclass
class ControllerStats:
    """Counts for diagnostics and metrics."""

    cycles: int = 0
    late_cycles: int = 0
    read_errors: int = 0
    write_errors: int = 0
    closes_sent: int = 0
    closes_confirmed: int = 0
    close_failures: int = 0
    uncommanded_opens: int = 0
    internal_errors: int = 0
