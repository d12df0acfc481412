"""Random and mutated Modbus answers reach the driver over a real socket: only the
project's device errors may come out, and a good answer afterwards still decodes."""

from __future__ import annotations

import asyncio
import time

from fuzzing import fuzz
from hypothesis import strategies as st
from modbus_peer import ModbusPeer

from cryoctl.core.port import Status
from cryoctl.errors import DeviceError
from drivers.cjair.driver import CjAirDriver

TIMEOUT_MS = 40


@st.composite
def mutations(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    kinds = st.sampled_from(["flip", "insert", "delete", "truncate", "set"])
    return draw(st.lists(st.tuples(kinds, st.integers(0, 40), st.integers(0, 255)),
                         min_size=1, max_size=4))


def mutate(frame: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(frame)
    for kind, at, value in edits:
        i = at % (len(data) + 1)
        if kind == "flip" and i < len(data):
            data[i] ^= 1 << (value % 8)
        elif kind == "set" and i < len(data):
            data[i] = value
        elif kind == "insert":
            data[i:i] = bytes([value])
        elif kind == "delete" and i < len(data):
            del data[i]
        elif kind == "truncate":
            del data[i:]
    return bytes(data)


async def one_exchange(mangle: object) -> tuple[Status | None, DeviceError | None, Status]:
    peer = ModbusPeer()
    peer.inputs = [0x0102, 0, 0xFED4, 0x8000, 30, 2, 209, 5, 0, 0, 7]
    await peer.start()
    # slow tables age out after 1 ms, so the reads after the garbage refresh all of them
    driver = CjAirDriver.from_url(peer.url, clock=time.monotonic, timeout_ms=TIMEOUT_MS,
                                  read_retries=0, telemetry_period_ms=1)
    try:
        # The connect is not under test, and its 40 ms deadline is tight on a busy
        # machine (the long fuzz run): a few tries before any garbage is sent.
        for attempt in range(20):
            try:
                await driver.connect()
                break
            except DeviceError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.05)
        peer.mangle = mangle  # type: ignore[assignment]
        got: Status | None = None
        error: DeviceError | None = None
        try:
            got = await driver.read_status()
        except DeviceError as exc:
            error = exc
        peer.mangle = None
        after = None
        good = 0
        for _ in range(30):  # the bus reconnects after its back-off if pymodbus dropped the link
            await asyncio.sleep(0.005)
            try:
                after = await driver.read_status()
            except DeviceError:
                await asyncio.sleep(0.05)
                continue
            good += 1
            if good == 3:  # one slow table per tick: three good polls refresh every table
                break
        assert after is not None and good == 3, "the driver did not recover after the garbage"
        return got, error, after
    finally:
        await driver.aclose()
        await peer.stop()


@fuzz(30, mutations())
def test_mutated_answers_raise_only_device_errors(edits: list[tuple[str, int, int]]) -> None:
    got, error, after = asyncio.run(one_exchange(lambda frame: mutate(frame, edits)))
    assert (got is None) != (error is None)
    assert after.nozzle == "R10" and after.o2_pct == 20.9
    if error is not None:
        assert "\n" not in str(error)


@fuzz(20, st.binary(min_size=0, max_size=40))
def test_random_answers_raise_only_device_errors(garbage: bytes) -> None:
    got, error, after = asyncio.run(one_exchange(lambda frame: garbage))
    assert (got is None) != (error is None)
    assert after.nozzle == "R10"
