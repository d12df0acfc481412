"""Every text of the touch panel comes from its message catalogues, complete in both languages.

Fails when a key is missing in either catalogue, when the page's JavaScript or
markup uses a key neither has, when a phase or alarm the control process can send
has no text, or when the markup carries visible text of its own.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pytest

from cryoctl.core.alarms import AlarmCode
from cryoctl.profile import shipped_profiles
from tests.panel_ui.kiosk import STATIC

LANGS = ("en", "ru")
#: The printed report's catalogues (the records side), checked the same way when present.
REPORT_I18N = Path(str(files("cryoctl.panel").joinpath("report", "i18n")))
BANNER_PHASES = ("starting", "selftest", "idle", "ready", "treating", "spraying", "resting",
                 "paused", "completed", "estop", "fault", "disconnected")


def catalogue(folder: Path, lang: str) -> dict[str, str]:
    data = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{folder / lang}.json: not an object"
    return data


def used_keys() -> dict[str, str]:
    """Every key the page names literally, with the file naming it."""
    found: dict[str, str] = {}
    for js in sorted((STATIC / "js").glob("*.js")):
        text = js.read_text(encoding="utf-8")
        for key in re.findall(r"""\bt\(\s*["']([a-z0-9_.-]+)["']""", text):
            found.setdefault(key, js.name)
        for key in re.findall(r"""\[\s*\w+\s*,\s*"(unit\.[a-z_]+)\"""", text):
            found.setdefault(key, js.name)
        for key in re.findall(r'"(refusal\.[a-z0-9_]+)"', text):
            found.setdefault(key, js.name)
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for key in re.findall(r'data-i18n="([^"]+)"', html):
        found.setdefault(key, "index.html")
    return found


@pytest.mark.parametrize("folder", [STATIC / "i18n", REPORT_I18N], ids=["panel", "report"])
def test_both_catalogues_have_the_same_keys_and_no_empty_text(folder: Path) -> None:
    if folder == REPORT_I18N and not folder.exists():
        pytest.skip("the printed report's catalogues are not on this branch")
    en, ru = (catalogue(folder, lang) for lang in LANGS)
    assert sorted(set(en) - set(ru)) == [], f"{folder}/ru.json lacks these keys"
    assert sorted(set(ru) - set(en)) == [], f"{folder}/en.json lacks these keys"
    for lang, messages in (("en", en), ("ru", ru)):
        empty = [k for k, v in messages.items() if not isinstance(v, str) or not v.strip()]
        assert empty == [], f"{folder}/{lang}.json: empty texts"
        for key, text in messages.items():  # the same placeholders in both languages
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", en[key])), f"{folder}/{lang}.json: {key} placeholders"


@pytest.mark.parametrize("lang", LANGS)
def test_every_key_the_page_uses_is_in_the_catalogue(lang: str) -> None:
    messages = catalogue(STATIC / "i18n", lang)
    missing = {key: where for key, where in used_keys().items() if key not in messages}
    assert missing == {}, f"i18n/{lang}.json lacks keys used by the page"


@pytest.mark.parametrize("lang", LANGS)
def test_every_phase_alarm_and_shipped_zone_has_a_text(lang: str) -> None:
    messages = catalogue(STATIC / "i18n", lang)
    wanted = [f"phase.{p}" for p in BANNER_PHASES]
    wanted += [f"alarm.code.{code.value}" for code in AlarmCode]
    wanted += [f"alarm.priority.{p}" for p in ("high", "medium", "low")]
    wanted += [f"budget.{cause}" for cause in ("dwell", "zone", "session", "cryogen")]
    wanted += sorted({f"zone.{zone.name}" for p in shipped_profiles()
                      for zone in p.profile.zones})
    wanted += sorted({f"device.{p.profile.meta.device.value}" for p in shipped_profiles()})
    assert [key for key in wanted if key not in messages] == []


class _Texts(HTMLParser):
    """Visible text in the markup that does not sit in an element with data-i18n."""

    VOID = {"meta", "link", "input", "br", "img", "circle", "hr"}
    SILENT = {"script", "style"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.stray: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        names = dict(attrs)
        self.stack.append((tag, "data-i18n" in names or tag in self.SILENT))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        covered = any(flag for _, flag in self.stack)
        # digits on the PIN pad and dashes standing for "no value" are the same in any language
        if not covered and re.search(r"[^\W\d_]", data):
            self.stray.append(data.strip())


def test_the_markup_carries_no_text_of_its_own() -> None:
    parser = _Texts()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert parser.stray == []
    text = (STATIC / "index.html").read_text(encoding="utf-8")
    for attribute in ("title", "placeholder", "aria-label", "alt"):
        assert re.findall(rf'\s{attribute}="[^"]*[^\W\d_][^"]*"', text) == [], attribute


def test_the_page_loads_nothing_from_outside_the_device() -> None:
    for path in [STATIC / "index.html", STATIC / "panel.css", *(STATIC / "js").glob("*.js")]:
        text = path.read_text(encoding="utf-8")
        assert re.findall(r"https?://", text) == [], f"{path.name} names an outside address"
        assert "@import" not in text and "@font-face" not in text, path.name
