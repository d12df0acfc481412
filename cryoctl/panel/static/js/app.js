// The touch panel: banner, STOP and alarms on every screen; the screen for the role.

import { ApiError, auth, call, estop } from "./api.js";
import { language, LANGUAGES, loadLanguage, t } from "./i18n.js";
import { fresh, linkUp, live, onChange, start as startLive } from "./live.js";
import { bannerPhase } from "./words.js";
import * as alarms from "./alarms.js";
import * as keys from "./keys.js";
import * as lock from "./lock.js";
import * as records from "./records.js";
import * as session from "./session.js";
import * as startScreen from "./start.js";
import * as tech from "./tech.js";

const $ = (id) => document.getElementById(id);
const SESSION_PHASES = new Set([
  "treating_armed", "treating_spraying", "treating_resting", "paused", "completed",
]);

export const ui = {
  screen: null, view: "session", settings: null, lastTouch: performance.now(), render: null,
};

export function show(screen) {
  if (screen !== ui.screen) {
    document.getElementById("screens").scrollTop = 0;
    keys.hide();
  }
  for (const el of document.querySelectorAll(".screen")) el.hidden = el.id !== `screen-${screen}`;
  ui.screen = screen;
}

let noticeTimer = null;

export function notice(text, { sticky = false } = {}) {
  const el = $("notice");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(noticeTimer);
  if (!sticky) noticeTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

export function errorText(error) {
  if (error instanceof ApiError) {
    if (error.status === 0) return t("error.unreachable");
    if (error.status === 401) return t("error.signed_out");
    if (error.status === 403) return t("error.forbidden");
    if (error.status === 503) return t("error.unreachable");
    return t("error.refused", { detail: error.message });
  }
  return t("error.refused", { detail: String(error) });
}

// A staff command; a refusal is shown, never thrown.
export async function command(path, json) {
  try {
    await call("POST", path, json === undefined ? {} : { json });
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) signOut();
    notice(errorText(error));
    return false;
  }
}

export function signedIn(answer) {
  auth.token = answer.token;
  auth.role = answer.role;
  auth.idleTimeoutS = answer.idle_timeout_s;
  ui.lastTouch = performance.now();
  ui.view = "session";
  render();
}

export function signOut() {
  const token = auth.token;
  auth.token = null;
  auth.role = null;
  if (token) {
    fetch("/api/v1/logout", { method: "POST", headers: { authorization: `Bearer ${token}` } })
      .catch(() => {});
  }
  $("dialog").hidden = true;
  lock.reset();
  startScreen.forget();
  ui.view = "session";
  render();
}

function renderBanner() {
  const s = live.snapshot;
  const up = linkUp();
  const phase = up && s ? bannerPhase(s.phase) : "disconnected";
  const banner = $("banner");
  banner.dataset.phase = phase;
  $("banner-state").textContent = t(`phase.${phase}`);
  $("banner-title").textContent = s && s.profile ? s.profile.title : "";
  let note = "";
  if (!live.pageLink) note = t("banner.no_panel_server");
  else if (!up) note = t("banner.no_control");
  else if (!fresh()) note = t("banner.stale");
  else if (s.close_pending) note = t("banner.close_pending");
  $("banner-note").textContent = note;
}

function renderNav() {
  const inside = auth.token !== null;
  $("nav-lock").hidden = !inside;
  $("nav-session").hidden = !inside || ui.view === "session";
  $("nav-records").hidden = !inside || ui.view === "records";
  $("nav-tech").hidden = !inside || auth.role !== "technician" || ui.view === "tech";
}

export function render() {
  renderBanner();
  renderNav();
  alarms.render(live);
  if (auth.token === null) {
    show("lock");
    return;
  }
  if (ui.view === "tech") {
    show("tech");
    tech.render(live);
  } else if (ui.view === "records") {
    show("records");
  } else if (live.snapshot && SESSION_PHASES.has(live.snapshot.phase)) {
    show("session");
    session.render(live);
  } else {
    startScreen.render(live);
  }
}

async function chooseLanguage() {
  const next = LANGUAGES[(LANGUAGES.indexOf(language()) + 1) % LANGUAGES.length];
  await loadLanguage(next);
  try {
    await call("PUT", "/panel/language", { json: { language: next } });
  } catch (error) {
    notice(errorText(error));
  }
  startScreen.relabel();
  keys.relabel();
  render();
}

function idleCheck() {
  if (auth.token === null) return;
  const idleS = (ui.settings && ui.settings.idle_lock_s) || auth.idleTimeoutS || 900;
  if (performance.now() - ui.lastTouch > idleS * 1000) signOut();
}

async function pressStop() {
  const delivered = await estop();
  if (!delivered) notice(t("stop.not_delivered"), { sticky: true });
}

async function main() {
  ui.render = render;
  // STOP works before anything else has loaded.
  $("stop").addEventListener("pointerdown", (event) => { event.preventDefault(); pressStop(); });
  $("stop").addEventListener("click", (event) => {
    if (event.detail === 0) pressStop();  // keyboard activation: no pointer came first
  });
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, () => { ui.lastTouch = performance.now(); }, true);
  }
  try {
    ui.settings = await call("GET", "/panel");
  } catch {
    ui.settings = null;
  }
  const code = ui.settings && LANGUAGES.includes(ui.settings.language) ? ui.settings.language : "en";
  await loadLanguage(code);
  $("nav-lang").addEventListener("click", chooseLanguage);
  $("nav-lock").addEventListener("click", signOut);
  $("nav-session").addEventListener("click", () => { ui.view = "session"; render(); });
  $("nav-records").addEventListener("click", () => { ui.view = "records"; render(); records.load(); });
  $("nav-tech").addEventListener("click", () => { ui.view = "tech"; render(); tech.load(); });
  $("dialog-close").addEventListener("click", () => { $("dialog").hidden = true; });
  alarms.init();
  keys.init();
  lock.init();
  startScreen.init();
  session.init();
  records.init();
  tech.init();
  // Snapshots may arrive at the loop's rate while spraying: draw at most once a frame.
  let drawing = false;
  onChange(() => {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(() => { drawing = false; render(); });
  });
  startLive();
  setInterval(() => { idleCheck(); render(); }, 250);
  render();
  document.body.dataset.ready = "true";
}

main();
