"""schemathesis against the panel server's own ``/openapi.json``, over HTTP on a real port.

Every operation the description lists is called with cases schemathesis draws from
it, valid and invalid (its positive and negative generation), signed in as each role
and as nobody. The server must never answer 5xx, and every 4xx must carry a message
(``detail``). The control process is the panel tests' FakeLink: the server under test
is the real one, built as ``cryoctl panel`` builds it.

CI runs a few cases per operation, mode and role (a few hundred requests); the long
run (``python -m pytest -m fuzz tests/panel -k schema``) draws 200 of each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from conftest import STAFF_PIN, TECHNICIAN_PIN, make_config
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from panel_fakes import FakeLink, free_port, serving
from schemathesis import GenerationMode

from cryoctl.panel.app import make_server

pytestmark = pytest.mark.timeout(600)

CI_CASES = 4
LONG_CASES = int(os.environ.get("CRYOCTL_SCHEMA_CASES", "200"))
ROLES = ("none", "staff", "technician")
_PINS = {"staff": STAFF_PIN, "technician": TECHNICIAN_PIN}
# Signing out mid-run would end the role's token for the operations after it; it is
# fuzzed without a token here and tested on its own in tests/panel.
_SIGNED_IN_SKIP = ("/api/v1/logout",)


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = make_config(tmp_path, api={"bind": "127.0.0.1", "port": port})
    server = make_server(config, FakeLink())
    with serving(server):
        yield f"http://127.0.0.1:{port}"


def _headers(base_url: str, role: str) -> dict[str, str]:
    if role == "none":
        return {}
    answer = httpx.post(f"{base_url}/api/v1/login", json={"pin": _PINS[role]}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _has_message(response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    detail = body.get("detail") if isinstance(body, dict) else None
    return bool(detail)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("cases", [
    pytest.param(CI_CASES, id="ci"),
    pytest.param(LONG_CASES, id="long", marks=[pytest.mark.fuzz, pytest.mark.timeout(4 * 3600)]),
])
def test_no_5xx_and_every_4xx_has_a_message(base_url: str, role: str, cases: int) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = _headers(base_url, role)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    seen: dict[int, int] = {}
    skipped_negative: list[str] = []
    calls = 0
    for operation in operations:
        if role != "none" and operation.path in _SIGNED_IN_SKIP:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=cases, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(operation.as_strategy(generation_mode=mode))
            def one(case: Any) -> None:
                nonlocal calls
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                calls += 1
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                where = f"{role} {case.as_curl_command()}"
                assert response.status_code < 500, f"{where} -> {response.status_code} " \
                                                   f"{response.text[:300]}"
                if 400 <= response.status_code < 500:
                    assert _has_message(response), f"{where} -> {response.status_code} " \
                                                   f"without a message: {response.text[:300]}"

            try:
                one()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
                skipped_negative.append(operation.label)
    assert calls >= len(operations), calls
    assert any(400 <= code < 500 for code in seen), seen
    assert len(skipped_negative) < len(operations), skipped_negative


def test_oversized_and_malformed_bodies_get_a_4xx_with_a_message(base_url: str) -> None:
    staff = _headers(base_url, "technician")
    json_posts = ["/api/v1/login", "/api/v1/session", "/api/v1/alarms/ack"]
    with httpx.Client(base_url=base_url, headers=staff, timeout=10) as client:
        big = b'{"pin": "' + b"1" * 10_000 + b'"}'  # max_body_bytes is 4096 in these tests
        for path in [*json_posts, "/api/v1/profiles"]:
            answer = client.post(path, content=big, headers={"Content-Type": "application/json"})
            assert answer.status_code == 413, (path, answer.status_code, answer.text)
            assert answer.json()["detail"], path
        for path in json_posts:
            # (``null`` is no body at all, which alarms/ack accepts: acknowledge everything.)
            nulls = (b"null",) if path != "/api/v1/alarms/ack" else ()
            for body in (b"{", b"\xff\xfe", b"[]", b'{"pin": 1e999}', b'{"up_to_seq": "x"}',
                         *nulls):
                answer = client.post(path, content=body,
                                     headers={"Content-Type": "application/json"})
                assert 400 <= answer.status_code < 500, (path, body, answer.text)
                assert answer.json()["detail"], (path, body)
        wrong_type = client.post("/api/v1/profiles", content=b"x = 1",
                                 headers={"Content-Type": "application/json"})
        assert wrong_type.status_code == 415 and wrong_type.json()["detail"]
