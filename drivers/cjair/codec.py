"""Pure conversions between CJ-Air register words and the port's values. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryoctl.core.port import Status
from cryoctl.core.units import c10_to_c, c_to_c10, int16_from_u16, p10_to_pct, u16_from_int16
from cryoctl.errors import ProtocolError
from drivers.cjair.registers import (
    AIRFLOW_ACTUAL_SCALE,
    AIRFLOW_LEVEL_RANGE,
    COIL_BLOCK,
    DISCRETE_BLOCK,
    FAULT_BIT_NAMES,
    HEARTBEAT_MAX,
    INPUT_BLOCK,
    NOZZLE_CODES,
    NOZZLE_NONE,
    SKIN_NO_READING_C10,
    TEMP_SETPOINT_C10_RANGE,
    Coil,
    Discrete,
    InputReg,
)

__all__ = [
    "Telemetry",
    "airflow_level_word",
    "build_status",
    "decode_telemetry",
    "fault_names",
    "firmware_text",
    "next_heartbeat",
    "nozzle_code",
    "take_bits",
    "temp_setpoint_word",
]

_U16_MAX = 0xFFFF
_BITS_PER_WORD = 16


@dataclass(frozen=True, slots=True)
class Telemetry:
    """The input-register table, decoded."""

    firmware_word: int
    fault_bits: int
    outlet_temp_c: float
    skin_temp_c: float | None
    airflow_level: int
    nozzle: str | None
    o2_pct: float
    heartbeat_echo: int
    outlet_open_ms: int
    uptime_s: int


def take_bits(bits: Sequence[bool], count: int, *, table: str) -> tuple[bool, ...]:
    """The first ``count`` bits of a bit-read answer (answers are padded to whole bytes)."""
    if len(bits) < count:
        raise ProtocolError(f"{table}: answer carries {len(bits)} bits, expected {count}")
    return tuple(bool(b) for b in bits[:count])


def _check_words(words: Sequence[int], count: int, *, table: str) -> None:
    if len(words) != count:
        raise ProtocolError(f"{table}: answer carries {len(words)} registers, expected {count}")
    for word in words:
        if not 0 <= word <= _U16_MAX:
            raise ProtocolError(f"{table}: register value {word} is not a 16-bit word")


def firmware_text(word: int) -> str:
    """FW_VERSION (major x 256 + minor) as "major.minor"."""
    return f"{word >> 8}.{word & 0xFF}"


def nozzle_code(nozzle_id: int) -> str | None:
    """NOZZLE_ID as the ICD's code; an id the ICD does not know reads as "?<id>" (never matches)."""
    if nozzle_id == NOZZLE_NONE:
        return None
    return NOZZLE_CODES.get(nozzle_id, f"?{nozzle_id}")


def fault_names(fault_bits: int) -> frozenset[str]:
    """Names of the set FAULT_BITS; bits the ICD does not name read as "BIT<n>"."""
    names = set()
    for bit in range(_BITS_PER_WORD):
        if fault_bits & (1 << bit):
            names.add(FAULT_BIT_NAMES[bit] if bit < len(FAULT_BIT_NAMES) else f"BIT{bit}")
    return frozenset(names)


def decode_telemetry(words: Sequence[int]) -> Telemetry:
    """The whole input-register table (FC04, 0..10) decoded into units."""
    _check_words(words, INPUT_BLOCK, table="input registers")
    skin_c10 = int16_from_u16(words[InputReg.SKIN_TEMP])
    return Telemetry(
        firmware_word=words[InputReg.FW_VERSION],
        fault_bits=words[InputReg.FAULT_BITS],
        outlet_temp_c=c10_to_c(int16_from_u16(words[InputReg.OUTLET_TEMP])),
        skin_temp_c=None if skin_c10 == SKIN_NO_READING_C10 else c10_to_c(skin_c10),
        airflow_level=round(words[InputReg.AIRFLOW_ACTUAL] / AIRFLOW_ACTUAL_SCALE),
        nozzle=nozzle_code(words[InputReg.NOZZLE_ID]),
        o2_pct=p10_to_pct(words[InputReg.O2_PCT]),
        heartbeat_echo=words[InputReg.HEARTBEAT_ECHO],
        outlet_open_ms=words[InputReg.OUTLET_OPEN_MS],
        uptime_s=(words[InputReg.UPTIME_S_HIGH] << 16) | words[InputReg.UPTIME_S_LOW],
    )


def build_status(
    *,
    read_at_s: float,
    valve_at_s: float,
    telemetry_at_s: float,
    coils: Sequence[bool],
    discretes: Sequence[bool],
    telemetry: Telemetry,
) -> Status:
    """One port Status from the coil and discrete tables and the decoded input registers.

    ``airflow_level`` is AIRFLOW_ACTUAL / 10: what the blower delivers (0 while closed),
    not the AIRFLOW_LEVEL set-point.
    """
    if len(coils) != COIL_BLOCK or len(discretes) != DISCRETE_BLOCK:
        raise ProtocolError(
            f"status needs {COIL_BLOCK} coils and {DISCRETE_BLOCK} discrete inputs, "
            f"got {len(coils)} and {len(discretes)}"
        )
    return Status(
        read_at_s=read_at_s,
        valve_at_s=valve_at_s,
        telemetry_at_s=telemetry_at_s,
        valve_commanded=coils[Coil.OUTLET_OPEN],
        valve_feedback=discretes[Discrete.OUTLET_OPEN_FB],
        trigger=discretes[Discrete.TRIGGER],
        estop_latched=discretes[Discrete.ESTOP_ACTIVE],
        nozzle=telemetry.nozzle,
        fault_bits=telemetry.fault_bits,
        faults=fault_names(telemetry.fault_bits),
        watchdog_tripped=discretes[Discrete.WATCHDOG_TRIPPED],
        o2_pct=telemetry.o2_pct,
        outlet_temp_c=telemetry.outlet_temp_c,
        skin_temp_c=telemetry.skin_temp_c,
        airflow_level=telemetry.airflow_level,
        cooler_ready=discretes[Discrete.COOLER_READY],
        hose_connected=discretes[Discrete.HOSE_CONNECTED],
        heartbeat_echo=telemetry.heartbeat_echo,
    )


def next_heartbeat(last: int) -> int:
    """A HEARTBEAT value different from ``last``: 1, 2, ... HEARTBEAT_MAX, 1, ..."""
    return 1 if last >= HEARTBEAT_MAX or last < 0 else last + 1


def temp_setpoint_word(temp_c: float) -> int:
    """TEMP_SETPOINT (0.1 degC, int16) for ``temp_c``; ValueError outside -60.0..-20.0 degC."""
    return u16_from_int16(TEMP_SETPOINT_C10_RANGE.check(c_to_c10(temp_c)))


def airflow_level_word(level: int) -> int:
    """AIRFLOW_LEVEL for ``level``; ValueError outside 1..9."""
    return AIRFLOW_LEVEL_RANGE.check(level)
