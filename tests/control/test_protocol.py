"""The control socket's message models: what is accepted, and what is refused with a reason."""

from __future__ import annotations

import json
import math

import pytest
from core_rig import make_rig, shipped

from cryoctl.core.fake_unit import N2_CAPABILITIES
from cryoctl.protocol import (
    MAX_LINE_BYTES,
    CommandRequest,
    EstopRequest,
    StatusReply,
    decode_request,
    encode,
    jsonable,
    request_id,
)


def test_each_request_kind_decodes() -> None:
    r = decode_request(b'{"v": 1, "id": 3, "type": "command", "command": "acknowledge", '
                       b'"up_to_seq": 5}')
    assert isinstance(r, CommandRequest) and r.up_to_seq == 5
    e = decode_request(b'{"v": 1, "id": 4, "type": "estop"}')
    assert isinstance(e, EstopRequest) and e.source == "socket"
    for kind in ("status", "subscribe", "ping"):
        assert decode_request(json.dumps({"v": 1, "id": 1, "type": kind}).encode()).type == kind


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"v": 2, "id": 1, "type": "status"}',
        b'{"v": 1, "id": 1, "type": "launch"}',
        b'{"v": 1, "id": true, "type": "status"}',
        b'{"v": 1, "id": 1, "type": "status", "extra": 1}',
        b'{"v": 1, "id": 1, "type": "command", "command": "spray"}',
        b'{"v": 1, "id": 1, "type": "load_profile", "name": ""}',
        b'\xff\xfe',
    ],
)
def test_malformed_requests_are_refused_with_a_reason(line: bytes) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        decode_request(line)


def test_an_oversized_line_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(ValueError, match="longer than"):
        decode_request(b'{"v": 1, "id": 1, "type": "ping", "pad": "' + b"x" * MAX_LINE_BYTES)


def test_the_id_of_a_broken_request_is_kept_for_the_error() -> None:
    assert request_id(b'{"v": 1, "id": 9, "type": "launch"}') == 9
    assert request_id(b"garbage") is None


def test_a_snapshot_goes_on_the_wire_as_plain_json() -> None:
    rig = make_rig(N2_CAPABILITIES, nozzle="M", period_s=0.02)
    rig.boot(shipped("n2-face-cryomassage"))
    rig.act("start_session")
    rig.run(0.1)
    snapshot = rig.controller.snapshot()
    snap = jsonable(snapshot)
    line = encode(StatusReply(id=1, snapshot=snap))
    back = json.loads(line)
    assert back["snapshot"]["phase"] == "treating_armed"
    assert back["snapshot"]["session"]["zone_name"] == "forehead"
    assert snapshot.profile is not None
    assert back["snapshot"]["profile"]["sha256"] == snapshot.profile.sha256
    assert jsonable(math.inf) is None
    rig.close()
