"""The N2 unit's power-on state and identity (what ``ID`` answers is configurable)."""

from __future__ import annotations

import dataclasses

from simulator.n2.codec import MAX_LINE_BYTES
from simulator.n2.physics import NOZZLES

__all__ = ["N2Config"]


@dataclasses.dataclass(frozen=True)
class N2Config:
    """Power-on state and identity. ``wdt_ms`` and ``press_kpa`` default to the ICD's."""

    model: str = "N2-CRYO"
    serial: str = "SIM00001"
    fw: str = "C.1.0"
    nozzle: str = "A"
    level_pct: float = 100.0
    wdt_ms: int = 1000
    press_kpa: int = 50
    corrupt_seed: int = 0
    history_len: int = 10_000

    def __post_init__(self) -> None:
        for name in ("model", "serial", "fw"):
            text = getattr(self, name)
            if not text or any(c in text for c in ",*$\r\n") or not text.isascii():
                raise ValueError(f"{name}: {text!r} cannot travel in an ID field")
        id_line_bytes = len(f"$OK,ID,{self.model},{self.serial},{self.fw}*00\r\n")
        if id_line_bytes > MAX_LINE_BYTES:
            raise ValueError(f"model, serial and fw make a {id_line_bytes}-byte ID line")
        if self.nozzle not in NOZZLES:
            raise ValueError(f"nozzle: unknown code {self.nozzle!r}")
        if not 100 <= self.wdt_ms <= 5000 or not 20 <= self.press_kpa <= 150:
            raise ValueError("wdt_ms must be 100..5000 and press_kpa 20..150")
