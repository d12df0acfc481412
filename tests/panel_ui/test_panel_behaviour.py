"""What the panel does besides a session: it locks itself when left alone, greys out
values it has not heard for more than a second (and says the daemon is lost when it
is), and shows every problem of a profile file a technician installs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.panel.profile_texts import BROKEN, VALID
from tests.panel_ui.kiosk import Device, Panel, start_by_api, wait_for

pytestmark = pytest.mark.timeout(180)


def test_the_panel_locks_itself_after_the_idle_time_and_keeps_stop_and_alarms(
        open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    page = panel.page
    idle_s = device.api.get("/api/v1/panel").json()["idle_lock_s"]
    assert idle_s == 900  # the config's auth.token_idle_s
    page.clock.install()
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    panel.sign_in("staff")
    page.wait_for_selector("#screen-profiles:not([hidden])")
    page.clock.run_for((idle_s - 5) * 1000)
    assert page.locator("#screen-lock").is_hidden(), "locked before the idle time"
    device.sim("/o2", pct=18.9)
    page.clock.run_for(10 * 1000)
    page.wait_for_selector("#screen-lock:not([hidden])")
    page.wait_for_selector(".alarm[data-code=o2_low]")  # the alarm bar stays on the lock
    panel.stop_in_view()
    page.click("#stop")
    wait_for("the e-stop", lambda: device.phase() == "estop", timeout_s=5)


def test_lock_signs_out_at_once(open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    panel.sign_in("staff")
    panel.page.click("#nav-lock")
    panel.page.wait_for_selector("#screen-lock:not([hidden])")
    panel.page.wait_for_selector("#nav-lock", state="hidden")


def test_values_grey_out_when_the_snapshots_stop_and_the_banner_says_the_daemon_is_lost(
        open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    page = panel.page
    cut = {"on": False}

    def relay(ws: Any) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: None if cut["on"] else ws.send(message))

    page.route_web_socket("**/api/v1/events", relay)
    page.route("**/api/v1/status", lambda route: route.abort() if cut["on"]
               else route.continue_())
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    panel.sign_in("staff")
    start_by_api(device)
    page.wait_for_selector("#screen-session:not([hidden])")
    page.wait_for_selector("#stale", state="hidden")
    assert "stale" not in (page.locator("#screen-session").get_attribute("class") or "")
    cut["on"] = True
    page.wait_for_selector("#stale:not([hidden])", timeout=3000)
    assert "stale" in (page.locator("#screen-session").get_attribute("class") or "")
    grey = page.eval_on_selector("#t-session", "(el) => getComputedStyle(el).color")
    assert grey == "rgb(108, 119, 132)", grey
    page.wait_for_selector("#banner[data-phase=disconnected]", timeout=3000)
    assert page.locator("#banner-note").inner_text().strip() != ""
    panel.stop_in_view()
    cut["on"] = False
    page.wait_for_selector("#stale", state="hidden", timeout=5000)
    page.wait_for_selector("#banner[data-phase=treating]")


def test_a_technician_installs_a_profile_and_sees_every_problem(
        open_panel: Callable[..., Panel], device: Device, tmp_path: Path) -> None:
    panel = open_panel("800x480")
    page = panel.page
    panel.sign_in("technician")
    page.click("#nav-tech")
    page.wait_for_selector("#screen-tech:not([hidden])")
    broken = tmp_path / "broken.toml"
    broken.write_bytes(BROKEN)
    page.set_input_files("#t-profile-file", str(broken))
    page.wait_for_selector("#tech-install-problems li")
    problems = page.locator("#tech-install-problems li").all_inner_texts()
    assert len(problems) == 3, problems
    assert all(p.startswith("broken.toml:") for p in problems), problems
    joined = "\n".join(problems)
    for key in ("title", "colour", "rest_s"):
        assert key in joined
    assert "broken.toml" in page.locator("#tech-install-result").inner_text()
    good = tmp_path / "clinic-lentigo.toml"
    good.write_bytes(VALID)
    page.set_input_files("#t-profile-file", str(good))
    page.wait_for_function(
        "document.getElementById('tech-install-result').textContent.includes('clinic-lentigo')")
    assert page.locator("#tech-install-problems li").count() == 0
    assert (device.data_dir / "profiles" / "clinic-lentigo-v1.toml").exists()
    assert panel.errors == []


def test_pause_resume_stop_session_and_leave_the_summary(
        open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    page = panel.page
    panel.sign_in("staff")
    start_by_api(device)
    page.wait_for_selector("#screen-session:not([hidden])")
    page.click("#c-pause")
    wait_for("paused", lambda: device.phase() == "paused", timeout_s=5)
    page.wait_for_selector("#banner[data-phase=paused]")
    page.wait_for_selector("#c-resume:not([hidden])")
    page.click("#c-resume")
    wait_for("resumed", lambda: device.phase() == "treating_armed", timeout_s=5)
    page.wait_for_selector("#c-pause:not([hidden])")
    assert page.locator("#c-next-site").is_disabled()  # the face zones have one site each
    page.click("#c-stop")
    wait_for("completed", lambda: device.phase() == "completed", timeout_s=5)
    page.wait_for_selector("#session-done:not([hidden])")
    page.wait_for_selector("#banner[data-phase=completed]")
    page.click("#c-dismiss")
    page.wait_for_selector("#screen-profiles:not([hidden])")
    assert device.phase() in ("idle", "ready")
    assert panel.errors == []


def test_a_refused_start_says_why_and_offers_no_override_the_rules_do_not_allow(
        open_panel: Callable[..., Panel], device: Device) -> None:
    panel = open_panel("800x480")
    page = panel.page
    panel.sign_in("staff")
    panel.choose_face_profile("P-REFUSED")
    assert device.api.post("/api/v1/estop").status_code == 200  # the control process refuses
    panel.start_session_refused()
    error = page.locator("#start-error").inner_text()
    assert error.startswith("Refused: ") and len(error) > len("Refused: ")
    assert page.locator("#override").is_hidden()  # the control process's refusal: no override
    assert device.phase() == "estop"
