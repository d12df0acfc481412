"""A whole session from the panel at 800x480, driven as a nurse would, in English and Russian.

Sign in on the PIN pad, choose the face profile, confirm the checklist and the cold
test, hold START, press the trigger at the simulated unit, watch the dwell
countdown fall and the valve close at the cut-off, move to the next zone, STOP;
then find the record and open its report.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.panel_ui.kiosk import FACE, STATIC, Device, Panel, wait_for

pytestmark = pytest.mark.timeout(180)

#: Latin words left on screen in Russian, outside what comes from a profile's own file
#: (its title and checklist, marked data-content) and the other language's own name.
NO_ENGLISH_JS = """() => {
  const words = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest('[data-content]') || !el.checkVisibility()) continue;
    for (const word of node.textContent.match(/[A-Za-z]{2,}/g) || []) words.push(word);
  }
  return words;
}"""


def catalogue(lang: str) -> dict[str, str]:
    path = STATIC / "i18n" / f"{lang}.json"
    messages: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return messages


def seconds_shown(panel: Panel, selector: str) -> float:
    text = panel.page.locator(selector).inner_text()
    match = re.search(r"\d+(?:[.,]\d+)?", text)
    assert match, f"{selector} shows no number: {text!r}"
    return float(match.group(0).replace(",", "."))


#: One patient per language: the course rules refuse the same patient and profile again
#: within its ``min_interval_h``.
PATIENTS = {"en": "P-0042", "ru": "P-0043"}


def run_session(panel: Panel, device: Device, lang: str) -> list[list[str]]:
    """The session; answers the Latin words seen on each screen."""
    page = panel.page
    seen: list[list[str]] = []
    panel.set_language(lang)
    seen.append(page.evaluate(NO_ENGLISH_JS))
    panel.sign_in("staff")
    page.wait_for_selector("#screen-profiles:not([hidden])")
    seen.append(page.evaluate(NO_ENGLISH_JS))
    patient = PATIENTS[lang]
    panel.choose_face_profile(patient)
    # the course status for that patient is shown once the reference is typed
    page.wait_for_selector("#course[data-state=shown]")
    course_text = page.locator("#course").inner_text()
    course = device.api.get(f"/api/v1/patients/{patient}/course?profile={FACE}",
                            headers=device.login("staff"))
    assert course.status_code == 200, course.text
    done = catalogue(lang)["course.done"].split("{")[0]
    assert done in course_text and str(course.json()["sessions_done"]) in course_text
    seen.append(page.evaluate(NO_ENGLISH_JS))
    # a tap is not a start: START must be held
    page.click("#start-hold")
    page.wait_for_timeout(600)
    assert device.phase() in ("idle", "ready"), "a plain tap started the session"
    panel.start_session()
    wait_for("armed", lambda: device.phase() == "treating_armed")
    assert page.locator("#zone-list li.current").get_attribute("data-zone") == "forehead"
    assert page.locator("#banner").get_attribute("data-phase") == "treating"

    device.sim("/trigger", pressed=True)
    wait_for("the valve open", device.valve_open, timeout_s=5)
    opened = time.monotonic()
    page.wait_for_selector("#banner[data-phase=spraying]")
    first = seconds_shown(panel, "#t-dwell")
    page.wait_for_timeout(700)
    later = seconds_shown(panel, "#t-dwell")
    assert later < first, f"the dwell countdown did not fall: {first} then {later}"
    dwell_text = page.locator("#t-dwell").inner_text()
    # numbers as the language writes them: a decimal point and "s", a comma and the Cyrillic es
    unit = "s" if lang == "en" else "\N{CYRILLIC SMALL LETTER ES}"
    mark = r"\." if lang == "en" else ","
    assert re.fullmatch(rf"\d{mark}\d {unit}", dwell_text), dwell_text
    seen.append(page.evaluate(NO_ENGLISH_JS))
    wait_for("the cut-off", lambda: not device.valve_open(), timeout_s=6)
    open_s = time.monotonic() - opened
    assert 2.0 < open_s < 4.0, f"the valve stayed open {open_s:.2f} s (dwell 3 s)"
    assert device.sim("/trigger", pressed=True)["valve_open"] is False, "re-opened while held"
    page.wait_for_selector("#banner:not([data-phase=spraying])")
    # the dwell cut-off is a low-priority alarm: cyan, not flashing
    cutoff = page.locator(".alarm[data-code=dwell_cutoff]")
    cutoff.wait_for()
    assert cutoff.get_attribute("data-priority") == "low"
    assert page.locator("#dose").inner_text().strip() != ""
    seen.append(page.evaluate(NO_ENGLISH_JS))
    device.sim("/trigger", pressed=False)

    page.click("#c-next-zone")
    page.wait_for_function(
        "document.querySelector('#zone-list li.current')?.dataset.zone === 'cheek-left'")
    assert page.locator("#zone-list li[data-zone=forehead]").get_attribute("class") == "done"
    assert page.locator("#zone-list li[data-zone=neck]").get_attribute("data-status") == "todo"

    page.click("#stop")
    wait_for("the e-stop", lambda: device.phase() == "estop", timeout_s=5)
    page.wait_for_selector("#banner[data-phase=estop]")
    assert device.valve_open() is False
    seen.append(page.evaluate(NO_ENGLISH_JS))
    return seen


def find_report(panel: Panel, device: Device, lang: str) -> None:
    """The session just run is in the records, e-stopped, and its report opens."""
    page = panel.page
    patient = PATIENTS[lang]
    listing = device.api.get(f"/api/v1/sessions?patient={patient}", headers=device.login("staff"))
    assert listing.status_code == 200, listing.text
    record = listing.json()["sessions"][0]
    assert record["outcome"] == "estop" and record["profile"]["name"] == FACE
    page.click("#nav-records")
    row = page.locator("#record-list li", has_text=patient).first
    row.wait_for()
    # The report's own request first: a slow or failed answer is told apart from a frame
    # that does not show it.
    with page.expect_response(lambda r: "/report?" in r.url, timeout=20000) as answer:
        row.locator("button.report").click()
    assert answer.value.status == 200, (answer.value.status, answer.value.text()[:300])
    page.wait_for_selector("#dialog:not([hidden])")
    frame = page.frame_locator("#dialog-frame")
    shown = frame.locator("body", has_text=patient)
    try:
        shown.wait_for(state="attached", timeout=20000)  # the frame has loaded it
    except PlaywrightTimeout:
        title = page.locator("#dialog-title").text_content()
        raise AssertionError(f"the report answered 200 but its frame never showed it; the "
                             f"dialog's title: {title!r}; page errors: {panel.errors}") from None
    report = frame.locator("body").text_content(timeout=5000) or ""
    assert patient in report and record["profile"]["sha256"] in report, report[:400]
    panel.stop_in_view()


def test_a_whole_session_in_english(open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    run_session(panel, device, "en")
    assert panel.errors == []
    find_report(panel, device, "en")


def test_the_same_session_in_russian_leaves_no_english(
        open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    seen = run_session(panel, device, "ru")
    left = [words for words in seen if words]
    assert left == [], f"English left on the Russian panel: {left}"
    assert panel.page.locator("#banner-state").inner_text() == "АВАРИЙНЫЙ СТОП"
    assert panel.errors == []
    find_report(panel, device, "ru")


def test_the_language_is_remembered_on_the_device(
        open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    panel.set_language("ru")
    settings = device.data_dir / "panel-settings.json"
    wait_for("the settings file", lambda: settings.exists() and "ru" in settings.read_text())
    # a new browser (the kiosk's profile wiped) opens in Russian
    again = open_panel("800x480")
    assert again.lang() == "ru"
    assert again.page.locator("#stop").inner_text() == "СТОП"
    assert FACE  # the module's profile name is shared with the screens test
