"""The dose ledger: how long the valve was open and how much LN2 it let out.

Kept per site of a zone (a zone with ``repeat = 3`` has sites 0, 1 and 2), per
zone and for the session. Grams come from the nozzle table of the unit's ICD at
the profile's set pressure: ``flow(50 kPa) x sqrt(p / 50) x seconds`` (see
:func:`cryoctl.core.units.ln2_flow_g_s`). Cold-air units use no cryogen: grams stay 0.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Dose", "DoseLedger", "LedgerSummary", "SiteKey"]

#: (zone index, site index)
SiteKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Dose:
    open_s: float = 0.0
    cryogen_g: float = 0.0
    #: Passes that ended (the trigger released after spraying).
    passes: int = 0
    #: Continuous openings.
    sprays: int = 0

    def plus(self, other: Dose) -> Dose:
        return Dose(
            self.open_s + other.open_s,
            self.cryogen_g + other.cryogen_g,
            self.passes + other.passes,
            self.sprays + other.sprays,
        )


@dataclass(frozen=True, slots=True)
class LedgerSummary:
    """What a session record keeps: totals per zone and for the session."""

    zones: tuple[Dose, ...]
    session: Dose


class DoseLedger:
    """Adds up open time and cryogen. Pure bookkeeping: callers pass the amounts."""

    def __init__(self, *, zone_count: int, flow_g_s: float) -> None:
        if zone_count < 1:
            raise ValueError("a ledger needs at least one zone")
        if flow_g_s < 0:
            raise ValueError("flow cannot be negative")
        self._zone_count = zone_count
        self._flow_g_s = flow_g_s
        self._sites: dict[SiteKey, Dose] = {}

    @property
    def flow_g_s(self) -> float:
        """Cryogen flow while the valve is open, g/s (0 for cold air)."""
        return self._flow_g_s

    def _bump(self, key: SiteKey, delta: Dose) -> None:
        if not 0 <= key[0] < self._zone_count:
            raise IndexError(f"zone {key[0]} is not in this session")
        self._sites[key] = self._sites.get(key, Dose()).plus(delta)

    def spray_started(self, key: SiteKey) -> None:
        self._bump(key, Dose(sprays=1))

    def add_open(self, key: SiteKey, open_s: float) -> None:
        """The valve was open ``open_s`` seconds on site ``key``."""
        if open_s < 0:
            raise ValueError("open time cannot be negative")
        self._bump(key, Dose(open_s=open_s, cryogen_g=open_s * self._flow_g_s))

    def pass_ended(self, key: SiteKey) -> None:
        self._bump(key, Dose(passes=1))

    def site(self, key: SiteKey) -> Dose:
        return self._sites.get(key, Dose())

    def zone(self, index: int) -> Dose:
        total = Dose()
        for (zone, _site), dose in self._sites.items():
            if zone == index:
                total = total.plus(dose)
        return total

    def session(self) -> Dose:
        total = Dose()
        for dose in self._sites.values():
            total = total.plus(dose)
        return total

    def summary(self) -> LedgerSummary:
        return LedgerSummary(
            zones=tuple(self.zone(i) for i in range(self._zone_count)),
            session=self.session(),
        )
