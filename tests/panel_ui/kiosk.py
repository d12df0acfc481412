"""The touch panel in Debian's Chromium, against the whole device (`cryoctl run --simulate n2`).

Each test module starts its own device on free ports; each has its own browser. A page
is opened at a screen size and language; `Panel` drives it the way a nurse does
(taps on the PIN pad, START held) and reads it back. Between tests the device is
brought back to idle through its API and the simulator's control channel.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from cryoctl.profile import shipped_profiles

CHROMIUM = Path("/usr/bin/chromium")

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
SIZES = {"800x480": (800, 480), "1280x800": (1280, 800)}
#: Where the screenshots go, committed so a reader sees the panel without running it.
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "panel"
FACE = "n2-face-cryomassage"
#: The page's files in the installed package.
STATIC = Path(str(files("cryoctl.panel").joinpath("static")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], Any], *, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Device:
    proc: subprocess.Popen[str]
    url: str
    api: httpx.Client
    control: httpx.Client
    pins: dict[str, str]
    data_dir: Path
    out: list[str] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = self.api.get("/api/v1/status").json()["snapshot"]
        return snap

    def phase(self) -> str:
        return str(self.snapshot()["phase"])

    def login(self, role: str) -> dict[str, str]:
        answer = self.api.post("/api/v1/login", json={"pin": self.pins[role]})
        assert answer.status_code == 200, answer.text
        return {"authorization": f"Bearer {answer.json()['token']}"}

    def sim(self, path: str, **body: Any) -> dict[str, Any]:
        answer = self.control.post(path, json=body)
        assert answer.status_code == 200, answer.text
        state: dict[str, Any] = answer.json()
        return state

    def valve_open(self) -> bool:
        state = self.control.get("/state").json()
        return bool(state.get("valve_open", state.get("valve", {}).get("open", False)))

    def to_idle(self) -> None:
        """Back to idle: the world normal, the session ended, latches reset, alarms acknowledged."""
        self.sim("/trigger", pressed=False)
        self.sim("/estop", pressed=False)
        self.sim("/o2", pct=20.9)
        self.sim("/nozzle", code="M")
        for name in ("TIP_SENSOR", "O2_LOW", "LEVEL_EMPTY"):
            self.sim("/fault", name=name, active=False)
        tech = self.login("technician")
        for path in ("/api/v1/session/stop", "/api/v1/session/dismiss", "/api/v1/estop/reset",
                     "/api/v1/faults/reset", "/api/v1/alarms/ack"):
            self.api.post(path, headers=tech)

        def settled() -> bool:
            snap = self.snapshot()
            if snap["phase"] in ("completed",):
                self.api.post("/api/v1/session/dismiss", headers=tech)
            if snap["phase"] in ("estop", "fault"):
                self.api.post("/api/v1/estop/reset", headers=tech)
                self.api.post("/api/v1/faults/reset", headers=tech)
            if snap["alarms"]["alarms"]:
                self.api.post("/api/v1/alarms/ack", headers=tech)
            # A latched alarm whose cause the control process still sees (comm_lost after
            # a write timed out on a busy machine) stays listed once acknowledged.
            return snap["phase"] in ("idle", "ready") and all(
                a["acknowledged"] for a in snap["alarms"]["alarms"])

        try:
            wait_for("the device idle again", settled, timeout_s=20)
        except AssertionError:
            snap = self.snapshot()
            raise AssertionError(f"the device did not settle: {snap['phase']}, alarms "
                                 f"{snap['alarms']['alarms']}, refusals {snap['refusals']}"
                                 ) from None
        self.api.put("/api/v1/panel/language", json={"language": "en"})


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    data_dir = tmp_path_factory.mktemp("device")
    panel, control = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryoctl", "run", "--simulate", "n2", "--data-dir",
         str(data_dir), "--panel-port", str(panel), "--control-port", str(control)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    out: list[str] = []
    pins: dict[str, str] = {}
    drain: threading.Thread | None = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("cryoctl: ") and " PIN " in line:
                role, pin = line.removeprefix("cryoctl: ").split(" PIN ")
                pins[role] = pin.strip()
            if line.startswith("cryoctl: the panel server's API"):
                break
        assert set(pins) == {"staff", "technician"}, "".join(out)
        drain = threading.Thread(target=lambda: out.extend(proc.stdout or ()), daemon=True)
        drain.start()
        url = f"http://127.0.0.1:{panel}"
        with httpx.Client(base_url=url, timeout=5) as api, \
                httpx.Client(base_url=f"http://127.0.0.1:{control}", timeout=5) as ctl:
            wait_for("the panel server", lambda: _up(api))
            dev = Device(proc, url, api, ctl, pins, data_dir, out)
            dev.sim("/nozzle", code="M")
            yield dev
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if drain is not None:
            drain.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def start_by_api(device: Device, patient: str = "P-API") -> None:
    """A face session started through the API (where the test is about something else)."""
    loaded = next(p for p in shipped_profiles() if p.name == FACE)
    body = {"profile": FACE, "patient_ref": patient, "cold_test_done": True,
            "checklist": dict.fromkeys(loaded.profile.session.checklist, True)}
    answer = device.api.post("/api/v1/session", json=body, headers=device.login("staff"))
    assert answer.status_code == 200, answer.text


def _up(api: httpx.Client) -> bool:
    try:
        return bool(api.get("/api/v1/status").json().get("link") == "connected")
    except httpx.HTTPError:
        return False


# Per module, not per session: while Playwright's sync API runs, its event loop counts as
# running in this thread, and the asyncio tests collected after this folder could not run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium "
                    "(.ci/run installs it with apt-get)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


class Panel:
    """One kiosk page, driven by taps."""

    def __init__(self, page: Page, device: Device, size: str) -> None:
        self.page = page
        self.device = device
        self.size = size
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self) -> Panel:
        self.page.goto(self.device.url + "/")
        self.page.wait_for_selector("body[data-ready=true]")
        return self

    def lang(self) -> str:
        return str(self.page.evaluate("document.documentElement.lang"))

    def set_language(self, code: str) -> None:
        if self.lang() != code:
            self.page.click("#nav-lang")
            self.page.wait_for_function(f"document.documentElement.lang === '{code}'")

    def sign_in(self, role: str = "staff") -> None:
        self.page.wait_for_selector("#screen-lock:not([hidden])")
        for digit in self.device.pins[role]:
            self.page.click(f"#pin-pad [data-digit='{digit}']")
        self.page.click("#pin-enter")
        self.page.wait_for_selector("#screen-lock", state="hidden")

    def hold(self, selector: str, seconds: float) -> None:
        self.page.locator(selector).scroll_into_view_if_needed()
        box = self.page.locator(selector).bounding_box()
        assert box is not None
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        self.page.mouse.down()
        self.page.wait_for_timeout(seconds * 1000)
        self.page.mouse.up()

    def choose_face_profile(self, patient: str = "P-0042") -> None:
        self.page.click(f"[data-profile='{FACE}']")
        self.page.wait_for_selector("#screen-start:not([hidden])")
        self.type_on_keys("#patient-ref", patient)
        for item in self.page.locator("#checklist .check").all():
            item.click()
        self.page.click("#cold-test")
        self.page.wait_for_selector("#start-hold:not([disabled])")

    def type_on_keys(self, selector: str, text: str) -> None:
        """Type on the panel's own keyboard, as a nurse does (the kiosk has no other)."""
        self.page.click(selector)
        self.page.wait_for_selector("#keys:not([hidden])")
        for key in text:
            self.page.click(f"#keys [data-key='{key}']")
        assert self.page.input_value(selector) == text
        assert self.page.locator("#key-echo").inner_text().startswith(text)  # seen as typed
        self.page.click("#keys [data-key=done]")
        self.page.wait_for_selector("#keys", state="hidden")

    def start_session(self) -> None:
        self.hold("#start-hold", 1.9)
        self.page.wait_for_selector("#screen-session:not([hidden])", timeout=10_000)

    def start_session_refused(self) -> None:
        self.hold("#start-hold", 1.9)
        self.page.wait_for_selector("#start-error:not([hidden])", timeout=10_000)

    def shot(self, screen: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{screen}-{self.size}-{self.lang()}.png"
        self.page.wait_for_timeout(300)  # let the last snapshot land
        self.page.screenshot(path=str(path))
        return path

    def stop_in_view(self) -> None:
        """STOP is there, in the viewport, at least 96 px, and nothing covers its centre."""
        stop = self.page.locator("#stop")
        assert stop.is_visible()
        box = stop.bounding_box()
        assert box is not None
        width, height = SIZES[self.size]
        assert box["x"] >= 0 and box["y"] >= 0
        assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height
        assert box["width"] >= 96 and box["height"] >= 96, box
        on_top = self.page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y)?.closest('#stop') !== null",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
        assert on_top, "something covers STOP"


@pytest.fixture
def open_panel(browser: Browser, device: Device) -> Iterator[Callable[..., Panel]]:
    contexts = []

    def make(size: str = "800x480") -> Panel:
        width, height = SIZES[size]
        context = browser.new_context(viewport={"width": width, "height": height},
                                      has_touch=False)
        contexts.append(context)
        return Panel(context.new_page(), device, size).open()

    device.to_idle()
    yield make
    for context in contexts:
        context.close()
    device.to_idle()
