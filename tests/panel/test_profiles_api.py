"""Profiles over the API: listed with their identity, uploads checked as the CLI checks files."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import STAFF_PIN, TECHNICIAN_PIN, login
from profile_texts import BROKEN, TOO_LONG, VALID

from cryoctl.config import Config
from cryoctl.profile import shipped_profiles

TOML = {"Content-Type": "application/toml"}
LENTIGO = (Path(__file__).resolve().parents[2] / "profiles" / "n2-lentigo.toml").read_bytes()


def _installed_files(config: Config) -> dict[str, bytes]:
    folder = config.data.dir / "profiles"
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
async def technician(client: httpx.AsyncClient) -> dict[str, str]:
    return await login(client, TECHNICIAN_PIN)


async def test_list_shows_every_shipped_profile(client: httpx.AsyncClient) -> None:
    staff = await login(client, STAFF_PIN)
    listed = (await client.get("/api/v1/profiles", headers=staff)).json()
    shipped = {(p.name, p.version, p.sha256) for p in shipped_profiles()}
    assert {(p["name"], p["version"], p["sha256"]) for p in listed["profiles"]} == shipped
    face = next(p for p in listed["profiles"] if p["name"] == "n2-face-cryomassage")
    assert face["source"] == "shipped" and face["file"] == "n2-face-cryomassage.toml"
    assert face["zone_count"] == 5 and face["requires_cold_test"] is True
    assert len(face["checklist"]) == 6
    assert listed["skipped"] == []


async def test_broken_upload_lists_every_problem_with_its_key(
        client: httpx.AsyncClient, technician: dict[str, str], config: Config) -> None:
    answer = await client.post("/api/v1/profiles", content=BROKEN,
                               headers={**technician, **TOML})
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] == "the profile is not valid (3 problems)"
    assert body["problems"] == [
        "upload:1: profile.title: this key is required and missing",
        "upload:11: device.colour: unknown key",
        "upload:26: zones[0].rest_s: expected a number, got the string 'thirty'",
    ]
    assert not (config.data.dir / "profiles").exists()


async def test_ceilings_apply_to_uploads(client: httpx.AsyncClient,
                                         technician: dict[str, str]) -> None:
    answer = await client.post("/api/v1/profiles", content=TOO_LONG,
                               headers={**technician, "Content-Type": "text/plain; charset=utf-8"})
    assert answer.status_code == 422
    assert ("upload:23: zones[0].max_dwell_s: 99.0 exceeds the ceiling of 30 s for n2 lesion"
            in answer.json()["problems"])


async def test_toml_syntax_error_is_a_problem(client: httpx.AsyncClient,
                                              technician: dict[str, str]) -> None:
    answer = await client.post("/api/v1/profiles", content=b"[profile\nname = 1",
                               headers={**technician, **TOML})
    assert answer.status_code == 422
    assert answer.json()["problems"][0].startswith("upload:1: TOML syntax")


async def test_valid_upload_installs_atomically_and_is_listed(
        client: httpx.AsyncClient, technician: dict[str, str], config: Config) -> None:
    answer = await client.post("/api/v1/profiles", content=VALID, headers={**technician, **TOML})
    assert answer.status_code == 201, answer.text
    installed = answer.json()
    assert (installed["outcome"], installed["name"], installed["version"]) == (
        "installed", "clinic-lentigo", 1)
    assert _installed_files(config) == {"clinic-lentigo-v1.toml": VALID}

    listed = (await client.get("/api/v1/profiles", headers=technician)).json()["profiles"]
    mine = [p for p in listed if p["name"] == "clinic-lentigo"]
    assert len(mine) == 1
    assert (mine[0]["source"], mine[0]["sha256"], mine[0]["file"]) == (
        "installed", installed["sha256"], "clinic-lentigo-v1.toml")
    detail = (await client.get("/api/v1/profiles/clinic-lentigo", headers=technician)).json()
    assert detail["profile"]["zones"][0]["repeat"] == 5
    assert detail["identity"].startswith("clinic-lentigo v1 sha256:")

    again = await client.post("/api/v1/profiles", content=VALID, headers={**technician, **TOML})
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    other = VALID.replace(b"rest_s = 30", b"rest_s = 40")
    conflict = await client.post("/api/v1/profiles", content=other,
                                 headers={**technician, **TOML})
    assert conflict.status_code == 409
    assert "give the new content a new version" in conflict.json()["detail"]


async def test_a_shipped_profile_cannot_be_replaced(client: httpx.AsyncClient,
                                                    technician: dict[str, str]) -> None:
    changed = LENTIGO.replace(b'title = "', b'title = "Changed: ', 1)
    answer = await client.post("/api/v1/profiles", content=changed,
                               headers={**technician, **TOML})
    assert answer.status_code == 409
    assert "n2-lentigo v1 is already shipped with other content" in answer.json()["detail"]


async def test_upload_needs_a_toml_media_type(client: httpx.AsyncClient,
                                              technician: dict[str, str]) -> None:
    answer = await client.post("/api/v1/profiles", json={"profile": {}}, headers=technician)
    assert answer.status_code == 415
    assert "application/toml" in answer.json()["detail"]


async def test_unknown_profile_is_404(client: httpx.AsyncClient) -> None:
    staff = await login(client, STAFF_PIN)
    answer = await client.get("/api/v1/profiles/none-such", headers=staff)
    assert (answer.status_code, answer.json()) == (404, {"detail": "no profile none-such"})
    answer = await client.get("/api/v1/profiles/n2-lentigo?version=9", headers=staff)
    assert (answer.status_code, answer.json()) == (404, {"detail": "no profile n2-lentigo v9"})
