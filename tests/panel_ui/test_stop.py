"""STOP: on every screen and over the dialog, in the viewport, at both sizes; one tap
stops, signed in or not, and with the event stream down."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.panel_ui.kiosk import SIZES, Device, Panel, start_by_api, wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("size", list(SIZES))
def test_stop_is_in_view_on_every_screen_and_over_the_dialog(
        open_panel: Callable[..., Panel], device: Device, size: str) -> None:
    panel = open_panel(size)
    page = panel.page
    panel.stop_in_view()  # locked
    panel.sign_in("technician")
    page.wait_for_selector("#screen-profiles:not([hidden])")
    panel.stop_in_view()
    panel.choose_face_profile()
    panel.stop_in_view()
    page.evaluate("document.getElementById('screens').scrollTo(0, 100000)")
    panel.stop_in_view()  # the start screen scrolled to its end
    page.click("#nav-records")
    page.wait_for_selector("#screen-records:not([hidden])")
    panel.stop_in_view()
    page.click("#nav-tech")
    page.wait_for_selector("#screen-tech:not([hidden])")
    panel.stop_in_view()
    page.evaluate("import('/js/records.js').then((m) => m.openReport(1))")
    page.wait_for_selector("#dialog:not([hidden])")
    panel.stop_in_view()  # over the report dialog
    page.click("#dialog-close")
    # the session screen, with alarms in the bar
    start_by_api(device)
    page.click("#nav-session")
    page.wait_for_selector("#screen-session:not([hidden])")
    device.sim("/o2", pct=18.9)
    page.wait_for_selector(".alarm[data-code=o2_low]")
    panel.stop_in_view()
    page.click("#stop")
    wait_for("the e-stop", lambda: device.phase() == "estop", timeout_s=5)
    assert panel.errors == []


def test_stop_works_while_locked(open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    start_by_api(device)
    wait_for("armed", lambda: device.phase() == "treating_armed")
    assert panel.page.locator("#screen-lock").is_visible()
    panel.page.click("#stop")  # one tap, no PIN, no confirmation
    wait_for("the e-stop", lambda: device.phase() == "estop", timeout_s=5)
    panel.page.wait_for_selector("#banner[data-phase=estop]")


def test_stop_works_while_the_event_stream_is_down(
        open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    refused: list[str] = []

    def refuse(ws: object) -> None:
        refused.append("events")
        ws.close()  # type: ignore[attr-defined]

    panel.page.route_web_socket("**/api/v1/events", refuse)
    panel.page.reload()
    panel.page.wait_for_selector("body[data-ready=true]")
    wait_for("the event stream refused", lambda: refused, timeout_s=5)
    panel.sign_in("staff")
    start_by_api(device)
    panel.page.wait_for_selector("#screen-session:not([hidden])")  # from /status alone
    panel.stop_in_view()
    panel.page.click("#stop")
    wait_for("the e-stop", lambda: device.phase() == "estop", timeout_s=5)
    panel.page.wait_for_selector("#banner[data-phase=estop]")
