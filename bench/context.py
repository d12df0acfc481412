"""What every figure shares: quick or full, a scratch folder, and the devices still running.

Devices are started when a figure first asks for one and kept for the later
figures that name the same spec (a CJ-Air cooler takes half a minute to reach its
set-point); before each figure the ones no later figure needs are stopped, so an
idle device does not load the machine under a timing figure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.rig import Device, DeviceSpec, start_device, wait_cooler
from bench.session import PROFILE_NOZZLE, install_profile

__all__ = ["DWELL_S", "LONG_PROFILE", "SHORT_PROFILE", "Context", "spec"]

#: A spray long enough that an e-stop always falls inside it.
LONG_PROFILE = "bench-long"
#: The dwell-overshoot profile.
SHORT_PROFILE = "bench-short"
DWELL_S = 0.3


@dataclass
class Context:
    quick: bool
    folder: Path
    _running: dict[DeviceSpec, tuple[Device, contextlib.AbstractAsyncContextManager[Device]]] = (
        field(default_factory=dict))
    _count: int = 0

    def trials(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    async def device(self, spec: DeviceSpec) -> Device:
        """A running device of ``spec``: profiles installed, a CJ-Air cooler at its set-point."""
        if spec not in self._running:
            self._count += 1
            manager = start_device(spec, self.folder / f"device-{self._count}")
            device = await manager.__aenter__()
            self._running[spec] = (device, manager)
            install_profile(device, LONG_PROFILE, dwell_s=5.0 if spec.kind == "n2" else 20.0)
            install_profile(device, SHORT_PROFILE, dwell_s=DWELL_S)
            if spec.kind == "cj-air":
                async with device.client() as client:
                    reply = await client.load_profile(LONG_PROFILE)
                    if not reply.ok:
                        raise RuntimeError(f"load_profile: {reply.reason}")
                await wait_cooler(device)
        return self._running[spec][0]

    async def warm(self, specs: Iterable[DeviceSpec]) -> None:
        """Start several devices at once (their coolers settle side by side)."""
        await asyncio.gather(*(self.device(s) for s in specs))

    async def stop(self, spec: DeviceSpec) -> None:
        if spec in self._running:
            _, manager = self._running.pop(spec)
            await manager.__aexit__(None, None, None)

    async def keep_only(self, specs: Iterable[DeviceSpec]) -> None:
        wanted = set(specs)
        for spec in [s for s in self._running if s not in wanted]:
            await self.stop(spec)

    async def aclose(self) -> None:
        await self.keep_only(())


def spec(kind: str, *, wire: str = "tcp", wire_baud: int | None = None, panel: bool = True,
         tag: str = "") -> DeviceSpec:
    return DeviceSpec(kind, wire=wire, wire_baud=wire_baud, panel=panel,
                      nozzle=PROFILE_NOZZLE[kind], tag=tag)
