"""Random and mutated bytes on a real pty while the driver waits for an answer.

Whatever arrives, the driver raises only the project's device errors (a protocol
error, a timeout, a refusal), and the link answers the next heartbeat.
"""

from __future__ import annotations

import asyncio
import time

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from n2_scripted_peer import DEFAULT_STAT, ScriptedPeer, line

from cryoctl.errors import DeviceRefused, DeviceTimeout, ProtocolError
from drivers.n2.driver import N2Driver
from drivers.url import parse_url

_GOOD = line(f"OK,STAT,{DEFAULT_STAT}")


def _mutate(data: bytes, edits: list[tuple[int, int, str]]) -> bytes:
    out = bytearray(data)
    for at, value, action in edits:
        if not out:
            break
        at %= len(out)
        if action == "flip":
            out[at] ^= 1 << (value % 8)
        elif action == "drop":
            del out[at]
        else:
            out.insert(at, value % 256)
    return bytes(out)


_EDITS = st.lists(
    st.tuples(
        st.integers(0, 200), st.integers(0, 255), st.sampled_from(["flip", "drop", "insert"])
    ),
    min_size=1,
    max_size=4,
)
_STREAMS = st.one_of(
    st.binary(max_size=150),
    _EDITS.map(lambda edits: _mutate(_GOOD, edits)),
    st.tuples(st.binary(max_size=40), _EDITS).map(lambda t: t[0] + _mutate(_GOOD, t[1])),
    st.binary(max_size=40).map(lambda noise: noise + _GOOD),
)


async def _one_exchange(reply: bytes) -> str:
    unit = ScriptedPeer()
    url = unit.start_pty()
    drv = N2Driver(parse_url(url), clock=time.monotonic, timeout_ms=30, read_retries=0)
    try:
        await drv.connect()

        def answer(body: str) -> None:
            unit.send_raw(reply)

        unit.script["STAT"] = answer
        try:
            status = await drv.read_status()
        except (ProtocolError, DeviceTimeout, DeviceRefused) as exc:
            outcome = type(exc).__name__
        else:
            outcome = "status"
            assert 0 <= status.fault_bits <= 0xFFFF
        unit.script.clear()
        await asyncio.sleep(0.035)  # let any late line arrive and be dropped
        await drv.heartbeat()  # the link still works
        return outcome
    finally:
        await drv.aclose()
        await unit.aclose()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(_STREAMS)
def test_any_bytes_in_place_of_an_answer_raise_only_device_errors(reply: bytes) -> None:
    outcome = asyncio.run(_one_exchange(reply))
    event(outcome)
    assert outcome in {"status", "ProtocolError", "DeviceTimeout", "DeviceRefused"}
    if outcome == "status":
        assert b"$OK,STAT," in reply
