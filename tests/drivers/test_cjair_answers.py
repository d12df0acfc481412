"""Answer checks with literal pymodbus PDUs: function code, exceptions, counts, echoes."""

from __future__ import annotations

import pytest
from pymodbus.pdu import ExceptionResponse
from pymodbus.pdu.bit_message import ReadCoilsResponse, WriteSingleCoilResponse
from pymodbus.pdu.register_message import (
    ReadInputRegistersResponse,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterResponse,
)

from cryoctl.errors import DeviceRefused, ProtocolError
from drivers.cjair import answers

WHERE = "modbus+tcp://h:1: read"


def test_exception_answer_is_a_refusal_with_its_code() -> None:
    with pytest.raises(DeviceRefused) as info:
        answers.checked(ExceptionResponse(answers.FC_WRITE_REGISTER, 3), 6, WHERE)
    assert info.value.code == 3
    assert str(info.value) == f"{WHERE}: refused, exception 3 (illegal data value)"


def test_answer_to_another_request_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="function code 0x01"):
        answers.checked(ReadCoilsResponse(bits=[True]), answers.FC_READ_DISCRETE, WHERE)
    with pytest.raises(ProtocolError):
        answers.checked(ExceptionResponse(answers.FC_READ_COILS, 2), 4, WHERE)


def test_bits_are_trimmed_to_the_count_asked() -> None:
    answer = answers.checked(ReadCoilsResponse(bits=[True, False, True] + [False] * 5), 1, WHERE)
    assert answers.bits_of(answer, 3, WHERE) == [True, False, True]
    with pytest.raises(ProtocolError, match="8 bits, expected 9"):
        answers.bits_of(answer, 9, WHERE)


def test_words_must_be_exactly_the_count_asked() -> None:
    answer = ReadInputRegistersResponse(registers=[1, 2, 3])
    assert answers.words_of(answer, 3, WHERE) == [1, 2, 3]
    with pytest.raises(ProtocolError, match="3 registers, expected 11"):
        answers.words_of(answer, 11, WHERE)


def test_write_echoes_must_match() -> None:
    answers.coil_echoed(WriteSingleCoilResponse(address=0, bits=[False]), 0, False, WHERE)
    with pytest.raises(ProtocolError, match="echo"):
        answers.coil_echoed(WriteSingleCoilResponse(address=0, bits=[True]), 0, False, WHERE)
    answers.register_echoed(WriteSingleRegisterResponse(address=2, registers=[7]), 2, 7, WHERE)
    with pytest.raises(ProtocolError):
        answers.register_echoed(WriteSingleRegisterResponse(address=3, registers=[7]), 2, 7, WHERE)
    answers.registers_echoed(WriteMultipleRegistersResponse(address=3, count=2), 3, [1, 2], WHERE)
    with pytest.raises(ProtocolError):
        answers.registers_echoed(WriteMultipleRegistersResponse(address=3, count=1), 3, [1, 2],
                                 WHERE)
