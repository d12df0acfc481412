"""The main screens at 800x480 and 1280x800, in English and Russian, written to docs/panel/
as ``<screen>-<w>x<h>-<lang>.png`` (committed: a reader sees the panel without running it).

On each, STOP is in view, nothing of the page runs off its side, every touch target
is at least 48 px and every text at least 18 px.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.panel_ui.kiosk import SHOTS, SIZES, Device, Panel, wait_for

pytestmark = pytest.mark.timeout(180)

SCREENS = ("lock", "start", "keyboard", "session", "alarms", "tech")

NO_SIDEWAYS_OVERFLOW_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.checkVisibility() || el.closest('#dialog')) continue;
    const box = el.getBoundingClientRect();
    const name = el.id || el.className || el.tagName;
    if (box.width && box.right > window.innerWidth + 1) out.push(name);
  }
  return out;
}"""


#: Touch targets under 48 px and text under 18 px that are visible now.
TOO_SMALL_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('button, input')) {
    if (!el.checkVisibility()) continue;
    const box = el.getBoundingClientRect();
    if (box.width < 48 || box.height < 48) out.push(`target ${el.id || el.textContent}`);
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !node.textContent.trim() || !el.checkVisibility()) continue;
    if (parseFloat(getComputedStyle(el).fontSize) < 18) out.push(`text ${node.textContent}`);
  }
  return out;
}"""


def check(panel: Panel, screen: str) -> None:
    if screen != "keyboard":
        panel.page.evaluate("document.getElementById('screens').scrollTo(0, 0)")
    panel.stop_in_view()
    assert panel.page.evaluate(NO_SIDEWAYS_OVERFLOW_JS) == [], f"{screen}: cut off at the side"
    assert panel.page.evaluate(TOO_SMALL_JS) == [], f"{screen}: too small for gloves or a metre"
    path = panel.shot(screen)
    assert path.stat().st_size > 5000


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("size", list(SIZES))
def test_the_main_screens(open_panel: Callable[..., Panel], device: Device, size: str,
                          lang: str) -> None:
    panel = open_panel(size)
    page = panel.page
    panel.set_language(lang)
    check(panel, "lock")
    panel.sign_in("technician")
    page.wait_for_selector("#screen-profiles:not([hidden])")
    panel.choose_face_profile(f"P-SCREENS-{size.upper()}-{lang.upper()}")  # one each: the interval
    page.wait_for_selector("#course[data-state=shown]")
    check(panel, "start")
    page.click("#patient-ref")  # the panel's own keyboard, over the form, under STOP
    page.wait_for_selector("#keys:not([hidden])")
    check(panel, "keyboard")
    page.click("#keys [data-key=done]")
    panel.start_session()
    wait_for("armed", lambda: device.phase() == "treating_armed")
    device.sim("/trigger", pressed=True)
    page.wait_for_selector("#banner[data-phase=spraying]")
    page.wait_for_timeout(600)
    check(panel, "session")
    dose, controls = (page.locator(s).bounding_box() for s in ("#dose", "#session-controls"))
    assert dose is not None and controls is not None
    assert dose["y"] + dose["height"] <= controls["y"] + 1, "the dose is under the controls"
    device.sim("/trigger", pressed=False)
    device.sim("/o2", pct=18.9)
    page.wait_for_selector(".alarm[data-code=o2_low]")
    check(panel, "alarms")
    page.click("#nav-tech")
    page.wait_for_selector("#screen-tech:not([hidden])")
    check(panel, "tech")
    assert panel.errors == []
    for screen in SCREENS:
        assert (SHOTS / f"{screen}-{size}-{lang}.png").exists()
