// Starting a session: the profile, the patient, the checklist, the cold test, the
// course, and START held for HOLD_MS with a filling ring (never a plain tap).

import { ApiError, auth, call } from "./api.js";
import { errorText, notice, show, ui } from "./app.js";
import { date, integer, seconds, t } from "./i18n.js";
import { linkUp } from "./live.js";
import { deviceName, zoneName } from "./words.js";

export const HOLD_MS = 1500;
const RING = 276.5;
const $ = (id) => document.getElementById(id);

const state = {
  profiles: null, loading: false, chosen: null, checks: {}, coldTest: false,
  course: null, overridable: false, refusal: null,
};

async function loadProfiles() {
  state.loading = true;
  try {
    state.profiles = (await call("GET", "/profiles")).profiles;
    $("profiles-error").hidden = true;
  } catch (error) {
    $("profiles-error").hidden = false;
    $("profiles-error").textContent = errorText(error);
    state.profiles = null;
  } finally {
    state.loading = false;
  }
  drawProfiles();
}

function profileFacts(p, detail) {
  const facts = [deviceName(p.device), t("start.zones", { n: integer(p.zone_count) })];
  if (detail) facts.push(t("start.length", { t: seconds(detail.profile.session.max_session_s) }));
  return facts.join(" · ");
}

function drawProfiles() {
  const ul = $("profile-list");
  ul.replaceChildren();
  for (const p of state.profiles || []) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.profile = p.name;
    const title = document.createElement("span");
    title.className = "card-title";
    title.dataset.content = "profile";
    title.textContent = p.title;
    const facts = document.createElement("span");
    facts.className = "card-facts";
    facts.textContent = `${profileFacts(p)} · ${t("start.version", { n: integer(p.version) })}`;
    button.append(title, facts);
    button.addEventListener("click", () => choose(p));
    li.append(button);
    ul.append(li);
  }
}

async function choose(summary) {
  let detail;
  try {
    detail = await call("GET", `/profiles/${encodeURIComponent(summary.name)}?version=${summary.version}`);
  } catch (error) {
    notice(errorText(error));
    return;
  }
  Object.assign(state, { chosen: detail, checks: {}, coldTest: false, course: null,
    overridable: false, refusal: null });
  $("patient-ref").value = "";
  $("override-reason").value = "";
  drawStart();
  ui.render?.();
}

function drawStart() {
  const p = state.chosen;
  $("start-title").textContent = p.title;
  const zones = p.profile.zones.map((z) => zoneName(z.name)).join(", ");
  $("start-facts").textContent = `${profileFacts(p, p)}: ${zones}`;
  const ul = $("checklist");
  ul.replaceChildren();
  for (const item of p.checklist) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "check";
    button.dataset.content = "checklist";
    button.setAttribute("aria-pressed", String(state.checks[item] === true));
    button.textContent = item;
    button.addEventListener("click", () => {
      state.checks[item] = !state.checks[item];
      button.setAttribute("aria-pressed", String(state.checks[item]));
      update();
    });
    li.append(button);
    ul.append(li);
  }
  $("cold-test-row").hidden = !p.requires_cold_test;
  $("cold-test").setAttribute("aria-pressed", String(state.coldTest));
  drawCourse();
  update();
}

function drawCourse() {
  const box = $("course");
  const c = state.course;
  box.dataset.state = c === null ? "empty" : typeof c === "string" ? c : "shown";
  if (c === null) box.textContent = t("course.enter_patient");
  else if (c === "unavailable") box.textContent = t("course.unavailable");
  else if (c === "loading") box.textContent = t("course.loading");
  else {
    const parts = [t("course.done", { n: integer(c.sessions_done) })];
    if (c.sessions_left != null) parts.push(t("course.left", { n: integer(c.sessions_left) }));
    parts.push(c.next_allowed_utc ? t("course.next", { d: date(c.next_allowed_utc) })
      : t("course.next_now"));
    if (c.refusal) parts.push(t("course.refused", { reason: c.refusal }));
    box.textContent = parts.join(" · ");
  }
  const mayOverride = auth.role === "technician" || (ui.settings && ui.settings.staff_may_override);
  const refused = state.refusal !== null;
  $("override").hidden = !(refused && state.overridable && mayOverride);
  $("override-why").textContent = refused ? t("start.refused_override", { reason: state.refusal }) : "";
}

let courseTimer = null;

async function loadCourse() {
  const ref = $("patient-ref").value.trim();
  if (!ref || !state.chosen) {
    state.course = null;
    drawCourse();
    return;
  }
  state.course = "loading";
  drawCourse();
  try {
    const c = await call("GET", `/patients/${encodeURIComponent(ref)}/course?profile=${encodeURIComponent(state.chosen.name)}`);
    state.course = c;
    state.refusal = c.refusal || null;
    state.overridable = Boolean(c.overridable);
  } catch (error) {
    // 404: no records on this device (yet); anything else: not known now. Neither blocks.
    state.course = "unavailable";
    state.refusal = null;
  }
  drawCourse();
  update();
}

function missing() {
  const p = state.chosen;
  const out = [];
  if (!$("patient-ref").value.trim()) out.push(t("start.missing_patient"));
  const open = p.checklist.filter((item) => state.checks[item] !== true).length;
  if (open) out.push(t("start.missing_checks", { n: integer(open) }));
  if (p.requires_cold_test && !state.coldTest) out.push(t("start.missing_cold_test"));
  if (state.refusal !== null) {
    if ($("override").hidden) out.push(t("start.missing_refused"));
    else if ($("override-reason").value.trim().length < 3) out.push(t("start.missing_reason"));
  }
  if (!linkUp()) out.push(t("start.missing_link"));
  return out;
}

function update() {
  if (!state.chosen) return;
  const left = missing();
  $("start-hold").disabled = left.length > 0;
  $("start-missing").textContent = left.length ? t("start.still", { list: left.join("; ") }) : t("start.ready");
}

async function submit() {
  const p = state.chosen;
  const body = {
    profile: p.name, sha256: p.sha256, patient_ref: $("patient-ref").value.trim(),
    checklist: Object.fromEntries(p.checklist.map((item) => [item, true])),
    cold_test_done: state.coldTest,
  };
  if (state.refusal !== null && !$("override").hidden) {
    body.override = { reason: $("override-reason").value.trim() };
  }
  const error = $("start-error");
  try {
    await call("POST", "/session", { json: body });
    error.hidden = true;
    state.chosen = null;
  } catch (failure) {
    error.hidden = false;
    error.textContent = errorText(failure);
    if (failure instanceof ApiError && failure.status === 409 && failure.body) {
      state.refusal = failure.body.detail;
      state.overridable = Boolean(failure.body.overridable);
      drawCourse();
      update();
    }
  }
}

function holdButton() {
  const button = $("start-hold");
  const ring = button.querySelector(".ring");
  let began = null;
  let frame = null;
  const stop = () => {
    began = null;
    cancelAnimationFrame(frame);
    ring.style.strokeDashoffset = String(RING);
    button.dataset.holding = "false";
  };
  const step = () => {
    if (began === null) return;
    const done = Math.min(1, (performance.now() - began) / HOLD_MS);
    ring.style.strokeDashoffset = String(RING * (1 - done));
    if (done >= 1) {
      stop();
      submit();
      return;
    }
    frame = requestAnimationFrame(step);
  };
  button.addEventListener("pointerdown", (event) => {
    if (button.disabled) return;
    event.preventDefault();
    began = performance.now();
    button.dataset.holding = "true";
    frame = requestAnimationFrame(step);
  });
  for (const type of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(type, stop);
  button.addEventListener("contextmenu", (event) => event.preventDefault());
}

export function init() {
  $("start-back").addEventListener("click", () => { state.chosen = null; ui.render?.(); });
  $("cold-test").addEventListener("click", () => {
    state.coldTest = !state.coldTest;
    $("cold-test").setAttribute("aria-pressed", String(state.coldTest));
    update();
  });
  $("patient-ref").addEventListener("input", () => {
    state.refusal = null;
    clearTimeout(courseTimer);
    courseTimer = setTimeout(loadCourse, 400);
    update();
  });
  $("override-reason").addEventListener("input", update);
  holdButton();
}

// After a language change: texts built here are built again.
export function relabel() {
  drawProfiles();
  if (state.chosen) drawStart();
}

export function render() {
  if (state.chosen) {
    show("start");
    update();
    return;
  }
  show("profiles");
  if (state.profiles === null && !state.loading) loadProfiles();
}

export function forget() {
  state.profiles = null;
  state.chosen = null;
}
