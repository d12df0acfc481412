"""The fields of N2 answers and events, checked and typed. Pure: no I/O, no clock.

Each parser takes a decoded frame and raises :class:`~cryoctl.errors.ProtocolError`
when its fields do not fit the ICD.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from cryoctl.errors import ProtocolError
from drivers.n2.codec import EventFrame, OkReply
from drivers.n2.icd import (
    CMD_ID,
    CMD_STAT,
    EV_ESTOP,
    EV_FAULT,
    EV_LEASE,
    EV_NOZZLE,
    EV_TRIG,
    NO_NOZZLE,
    NOZZLES,
)

__all__ = [
    "IdReply",
    "StatReply",
    "UnitEvent",
    "parse_echo_int",
    "parse_event",
    "parse_id",
    "parse_stat",
]

_INT: Final = re.compile(r"-?[0-9]{1,6}")
_DECIMAL: Final = re.compile(r"-?[0-9]{1,6}(\.[0-9]{1,3})?")
_FAULTS: Final = re.compile(r"[0-9A-Fa-f]{4}")
_STAT_FIELDS: Final = 9


@dataclass(frozen=True, slots=True)
class IdReply:
    model: str
    serial: str
    firmware: str


@dataclass(frozen=True, slots=True)
class StatReply:
    """``OK,STAT,...`` in host units."""

    valve: bool
    trigger: bool
    estop: bool
    nozzle: str | None
    pressure_kpa: float
    level_pct: float
    tip_c10: int
    o2_p10: int
    fault_bits: int


@dataclass(frozen=True, slots=True)
class UnitEvent:
    """An ``EV`` line's meaning: ``name`` from the ICD and its value.

    TRIG/ESTOP: bool; NOZZLE: code or None; FAULT: fault bits; LEASE: None.
    """

    name: str
    value: bool | int | str | None


def _flag(text: str, what: str) -> bool:
    if text == "0":
        return False
    if text == "1":
        return True
    raise ProtocolError(f"{what} is {text!r}, expected 0 or 1")


def _int(text: str, what: str) -> int:
    if not _INT.fullmatch(text):
        raise ProtocolError(f"{what} is {text!r}, expected a whole number")
    return int(text)


def _decimal(text: str, what: str) -> float:
    if not _DECIMAL.fullmatch(text):
        raise ProtocolError(f"{what} is {text!r}, expected a number")
    value = float(text)
    if not math.isfinite(value):  # pragma: no cover - the pattern admits finite values only
        raise ProtocolError(f"{what} is {text!r}, not finite")
    return value


def _faults(text: str) -> int:
    if not _FAULTS.fullmatch(text):
        raise ProtocolError(f"faults field is {text!r}, expected 4 hex digits")
    return int(text, 16)


def _nozzle(text: str) -> str | None:
    if text == NO_NOZZLE:
        return None
    if text not in NOZZLES:
        raise ProtocolError(f"nozzle code {text!r} is not one of {', '.join(NOZZLES)} or -")
    return text


def _expect(reply: OkReply, command: str, count: int) -> tuple[str, ...]:
    if reply.command != command:
        raise ProtocolError(f"expected an answer to {command}, got one to {reply.command}")
    if len(reply.fields) != count:
        raise ProtocolError(f"OK,{command} carries {len(reply.fields)} field(s), expected {count}")
    return reply.fields


def parse_id(reply: OkReply) -> IdReply:
    model, serial, firmware = _expect(reply, CMD_ID, 3)
    return IdReply(model=model, serial=serial, firmware=firmware)


def parse_stat(reply: OkReply) -> StatReply:
    valve, trigger, estop, nozzle, press, level, tip, o2, faults = _expect(
        reply, CMD_STAT, _STAT_FIELDS
    )
    return StatReply(
        valve=_flag(valve, "valve"),
        trigger=_flag(trigger, "trigger"),
        estop=_flag(estop, "estop"),
        nozzle=_nozzle(nozzle),
        pressure_kpa=_decimal(press, "press_kpa"),
        level_pct=_decimal(level, "level_pct"),
        tip_c10=_int(tip, "tip_c10"),
        o2_p10=_int(o2, "o2_p10"),
        fault_bits=_faults(faults),
    )


def parse_echo_int(reply: OkReply, command: str) -> int:
    """The one number an answer such as ``OK,WDT,<ms>`` echoes back."""
    (value,) = _expect(reply, command, 1)
    return _int(value, f"{command} echo")


def _one(frame: EventFrame) -> str:
    if len(frame.fields) != 1:
        raise ProtocolError(f"EV,{frame.name} carries {len(frame.fields)} fields, expected 1")
    return frame.fields[0]


def parse_event(frame: EventFrame) -> UnitEvent:
    name = frame.name
    if name in (EV_TRIG, EV_ESTOP):
        return UnitEvent(name=name, value=_flag(_one(frame), f"EV,{name}"))
    if name == EV_NOZZLE:
        return UnitEvent(name=name, value=_nozzle(_one(frame)))
    if name == EV_FAULT:
        return UnitEvent(name=name, value=_faults(_one(frame)))
    if name == EV_LEASE:
        if frame.fields:
            raise ProtocolError(f"EV,{name} carries fields, expected none")
        return UnitEvent(name=name, value=None)
    raise ProtocolError(f"unknown event {name!r}")
