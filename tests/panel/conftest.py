"""Fixtures of the panel tests: an app around a FakeLink, a fake clock, and clients."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from panel_fakes import FakeClock, FakeLink, cheap_pin_hash

from cryoctl.config import Config
from cryoctl.panel import create_app

STAFF_PIN = "2468"
TECHNICIAN_PIN = "97531"
WRONG_PIN = "1111"
BASE_URL = "http://testserver"

_HASHES = {"staff": cheap_pin_hash(STAFF_PIN), "technician": cheap_pin_hash(TECHNICIAN_PIN)}


def make_config(data_dir: Path, **sections: dict[str, Any]) -> Config:
    raw: dict[str, Any] = {
        "unit": {"kind": "n2", "url": "n2+serial:///dev/cryo-unit"},
        "data": {"dir": str(data_dir)},
        "api": {"allowed_hosts": ["testserver", "127.0.0.1", "localhost", "*.clinic.example"],
                "max_body_bytes": 4096},
        "auth": {"staff_pin_hash": _HASHES["staff"],
                 "technician_pin_hash": _HASHES["technician"],
                 "token_lifetime_s": 600, "token_idle_s": 120},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return Config.model_validate(raw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "data")


@pytest.fixture
def app(config: Config, link: FakeLink, clock: FakeClock) -> FastAPI:
    return create_app(config, link, clock=clock, resubscribe_s=0.01)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan (the hub's subscription) and an HTTP client on it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as c:
        yield c


async def login(client: httpx.AsyncClient, pin: str) -> dict[str, str]:
    """Authorization headers for ``pin``'s role."""
    answer = await client.post("/api/v1/login", json={"pin": pin})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


@pytest.fixture
def sign_in(client: httpx.AsyncClient) -> Callable[[str], Any]:
    async def by_role(role: str) -> dict[str, str]:
        if role == "none":
            return {}
        return await login(client, STAFF_PIN if role == "staff" else TECHNICIAN_PIN)

    return by_role
