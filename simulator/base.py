"""What every simulated unit shares: clocks, link faults and the control surface.

A unit keeps its own state under a ``threading.Lock``: the protocol server runs on an
event loop (often in a background thread), while tests and the control channel call
the control API from elsewhere.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "LINK_FAULTS",
    "LinkFaults",
    "ManualClock",
    "RealClock",
    "SimClock",
    "SimUnit",
    "UnsupportedControl",
]

#: a clock is any callable returning monotonic seconds.
SimClock = Callable[[], float]


class RealClock:
    """Monotonic time scaled by ``speed`` (``--speed 10`` runs physics ten times faster).

    Starts at 0.0 when created, so simulator timestamps read as "seconds since power-on".
    """

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.speed = float(speed)
        self._origin_s = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self._origin_s) * self.speed

    def real_delay_s(self, sim_delay_s: float) -> float:
        """Real seconds to wait until ``sim_delay_s`` of simulated time has passed."""
        return max(0.0, sim_delay_s) / self.speed


class ManualClock:
    """A clock that moves only when told to (in-process fast tests)."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

    def __call__(self) -> float:
        return self._now_s

    def advance(self, dt_s: float) -> float:
        if dt_s < 0:
            raise ValueError(f"time does not run backwards: dt_s={dt_s!r}")
        self._now_s += dt_s
        return self._now_s

    def real_delay_s(self, sim_delay_s: float) -> float:
        return max(0.0, sim_delay_s)


#: link-fault names accepted by ``LinkFaults.set`` and ``SimUnit.set_fault``.
LINK_FAULTS = ("drop_all", "corrupt", "delay", "freeze")


class UnsupportedControl(ValueError):
    """The unit has no such control (e.g. ``level`` on a unit without a dewar)."""

    def __init__(self, field: str, unit_kind: str) -> None:
        super().__init__(f"{field}: not a control of the {unit_kind} unit")
        self.field = field


@dataclasses.dataclass
class LinkFaults:
    """Faults of the wire rather than of the unit.

    - ``drop_all``: read every frame, answer none;
    - ``corrupt_ratio``: share (0..1) of answers whose CRC/checksum is spoiled;
    - ``delay_ms``: extra delay before every answer;
    - ``freeze``: readings stop updating (physics keeps running underneath).
    """

    drop_all: bool = False
    corrupt_ratio: float = 0.0
    delay_ms: float = 0.0
    freeze: bool = False

    def set(self, name: str, active: bool, value: float | None = None) -> None:
        """Set one link fault by its control name; ValueError on unknown names or values."""
        if name == "drop_all":
            self.drop_all = bool(active)
        elif name == "freeze":
            self.freeze = bool(active)
        elif name == "corrupt":
            ratio = (1.0 if value is None else float(value)) if active else 0.0
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"corrupt: value must be a ratio 0..1, got {value!r}")
            self.corrupt_ratio = ratio
        elif name == "delay":
            delay_ms = (0.0 if value is None else float(value)) if active else 0.0
            if not 0.0 <= delay_ms <= 60_000.0:
                raise ValueError(f"delay: value must be 0..60000 ms, got {value!r}")
            if active and value is None:
                raise ValueError("delay: needs a value in ms")
            self.delay_ms = delay_ms
        else:
            raise ValueError(f"unknown link fault {name!r}; known: {', '.join(LINK_FAULTS)}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class SimUnit(Protocol):
    """The control surface of a simulated unit (thread-safe).

    Setters raise ``ValueError`` (``UnsupportedControl`` for a control the unit does
    not have) on bad input; the HTTP control channel answers 400 naming the field.
    """

    kind: str
    link: LinkFaults
    clock: SimClock

    def advance(self, now_s: float | None = None) -> None:
        """Bring physics up to ``now_s`` (default: the unit's clock)."""

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot: physical quantities, registers/fields, valve_history, counters."""

    def set_trigger(self, pressed: bool) -> None: ...

    def set_estop(self, pressed: bool) -> None: ...

    def set_nozzle(self, code: str | None) -> None: ...

    def set_hose(self, connected: bool) -> None: ...

    def set_skin(self, on_skin: bool) -> None: ...

    def set_o2(self, pct: float) -> None: ...

    def set_level(self, pct: float) -> None: ...

    def set_fault(self, name: str, active: bool, value: float | None = None) -> None: ...
