"""The touch panel's page and settings from the panel server: files from the package at
``/``, the API left as it was, and the language remembered in the data folder."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from conftest import make_config, running
from fastapi import FastAPI
from panel_fakes import FakeClock, FakeLink

from cryoctl.config import Config
from cryoctl.panel.app import create_app


async def test_the_page_and_its_files_are_served_from_the_package(
        client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="stop"' in page.text and "js/app.js" in page.text
    for path, media in (("/js/app.js", "javascript"), ("/panel.css", "text/css"),
                        ("/i18n/ru.json", "application/json")):
        answer = await client.get(path)
        assert answer.status_code == 200, path
        assert media in answer.headers["content-type"], path
    assert (await client.get("/nothing.js")).status_code == 404
    # the API keeps its own answers below /api/v1
    assert (await client.get("/api/v1/estop")).status_code == 405
    assert (await client.get("/api/v1/nothing-here")).json() == {"detail": "Not Found"}


async def test_the_language_is_remembered_in_the_data_folder(
        client: httpx.AsyncClient, config: Config) -> None:
    info = (await client.get("/api/v1/panel")).json()
    assert info == {"language": "en", "languages": ["en", "ru"],
                    "idle_lock_s": config.auth.token_idle_s,
                    "staff_may_override": False}
    answer = await client.put("/api/v1/panel/language", json={"language": "ru"})
    assert answer.status_code == 200
    saved = config.data.dir / "panel-settings.json"
    assert json.loads(saved.read_text()) == {"language": "ru"}
    assert (await client.get("/api/v1/panel")).json()["language"] == "ru"
    bad = await client.put("/api/v1/panel/language", json={"language": "de"})
    assert bad.status_code == 422 and "body.language" in bad.json()["detail"]


async def test_the_config_language_applies_until_one_is_chosen_and_a_broken_file_is_ignored(
        tmp_path: Path) -> None:
    config = make_config(tmp_path / "data", panel={"language": "ru"},
                         auth={"token_idle_s": 120, "staff_may_override": True})
    app: FastAPI = create_app(config, FakeLink(), clock=FakeClock())
    async with running(app) as client:
        info = (await client.get("/api/v1/panel")).json()
        assert info["language"] == "ru" and info["idle_lock_s"] == 120
        assert info["staff_may_override"] is True
        config.data.dir.mkdir(parents=True, exist_ok=True)
        (config.data.dir / "panel-settings.json").write_text("{not json")
        assert (await client.get("/api/v1/panel")).json()["language"] == "ru"
        (config.data.dir / "panel-settings.json").write_text('{"language": "xx"}')
        assert (await client.get("/api/v1/panel")).json()["language"] == "ru"


async def test_a_settings_folder_that_cannot_be_written_is_507_naming_the_file(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "panel-settings.json").mkdir()  # a folder where the file should be
    app = create_app(make_config(data), FakeLink(), clock=FakeClock())
    async with running(app) as client:
        answer = await client.put("/api/v1/panel/language", json={"language": "ru"})
    assert answer.status_code == 507
    assert "panel-settings.json" in answer.json()["detail"]
