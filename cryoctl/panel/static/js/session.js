// The session screen: where the nurse is, the countdowns, the dose, the unit's
// readings with their age, why spraying is not possible now, and the controls.

import { call } from "./api.js";
import { command } from "./app.js";
import { integer, number, seconds, t } from "./i18n.js";
import { fresh } from "./live.js";
import { refusalText, zoneName } from "./words.js";

const $ = (id) => document.getElementById(id);
const profiles = new Map();  // "name@sha256" -> the profile in full, or "loading"

const VALUES = {
  n2: [["tip_temp_c", "unit.temp_c", 1], ["pressure_kpa", "unit.kpa", 0],
    ["dewar_level_pct", "unit.pct", 0], ["o2_pct", "unit.pct", 1]],
  "cj-air": [["skin_temp_c", "unit.temp_c", 1], ["outlet_temp_c", "unit.temp_c", 1],
    ["airflow_level", "unit.level", 0], ["o2_pct", "unit.pct", 1]],
};

function profileOf(view) {
  const key = `${view.name}@${view.sha256}`;
  const known = profiles.get(key);
  if (known === undefined) {
    profiles.set(key, "loading");
    call("GET", `/profiles/${encodeURIComponent(view.name)}?version=${view.version}`)
      .then((p) => profiles.set(key, p))
      .catch(() => profiles.delete(key));
    return null;
  }
  return known === "loading" ? null : known;
}

function drawZones(s, profile) {
  const ol = $("zone-list");
  const names = profile ? profile.profile.zones.map((z) => z.name) : [s.zone_name];
  const offset = profile ? 0 : s.zone;
  const key = JSON.stringify([names, s.zone, t("session.zone")]);
  if (ol.dataset.key === key) return;
  ol.dataset.key = key;
  ol.replaceChildren();
  names.forEach((name, i) => {
    const index = i + offset;
    const li = document.createElement("li");
    const status = index < s.zone ? "done" : index === s.zone ? "current" : "todo";
    li.className = status;
    li.dataset.zone = name;
    li.dataset.status = status;
    li.textContent = zoneName(name);
    ol.append(li);
  });
}

function drawValues(unit, kind, live) {
  const dl = $("unit-values");
  dl.replaceChildren();
  if (!unit) return;
  const sinceS = (performance.now() - live.receivedAt) / 1000;
  const valve = unit.valve_reported_open ? t("value.valve_open") : t("value.valve_closed");
  const rows = [[t("value.valve"), valve, unit.valve_age_s + sinceS, "valve"]];
  for (const [field, unitKey, digits] of VALUES[kind] || VALUES.n2) {
    const value = unit[field];
    const shown = value == null ? t("value.none") : t(unitKey, { v: number(value, digits) });
    rows.push([t(`value.${field}`), shown, unit.telemetry_age_s + sinceS, field]);
  }
  for (const [label, shown, ageS, field] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.field = field;
    dd.textContent = shown;
    const age = document.createElement("span");
    age.className = "age";
    age.textContent = t("value.age", { s: number(ageS, 1) });
    dd.append(age);
    dl.append(dt, dd);
  }
}

export function render(live) {
  const snap = live.snapshot;
  const s = snap.session;
  const done = snap.phase === "completed";
  $("session-controls").hidden = done;
  $("session-done").hidden = !done;
  const screen = $("screen-session");
  const isFresh = fresh();
  screen.classList.toggle("stale", !isFresh);
  $("stale").hidden = isFresh;
  const profile = snap.profile ? profileOf(snap.profile) : null;
  const kind = profile ? profile.device : "n2";
  drawValues(snap.unit, kind, live);
  if (!s) {
    for (const id of ["t-dwell", "t-zone", "t-session", "t-rest"]) $(id).textContent = "–";
    $("where").textContent = "";
    $("dose").textContent = "";
    $("refusals").replaceChildren();
    return;
  }
  drawZones(s, profile);
  $("t-dwell").textContent = s.spray_left_s == null ? "–" : seconds(s.spray_left_s);
  $("t-zone").textContent = seconds(s.zone_left_s);
  $("t-session").textContent = seconds(s.session_left_s);
  $("t-rest").textContent = s.rest_left_s > 0 ? seconds(s.rest_left_s) : "–";
  $("where").textContent = t("session.where", {
    zone: zoneName(s.zone_name), z: integer(s.zone + 1), zn: integer(s.zone_count),
    p: integer(Math.min(s.passes_done + 1, s.passes_allowed)), pn: integer(s.passes_allowed),
    s: integer(s.site + 1), sn: integer(s.site_count),
  });
  const dose = s.ledger.session;
  $("dose").textContent = kind === "n2"
    ? t("session.dose_n2", { s: number(dose.open_s, 1), g: number(dose.cryogen_g, 1) })
    : t("session.dose", { s: number(dose.open_s, 1) });
  const ul = $("refusals");
  ul.replaceChildren();
  for (const reason of snap.refusals) {
    const { text, known } = refusalText(reason);
    const li = document.createElement("li");
    li.textContent = text;
    if (!known) li.dataset.content = "refusal";
    ul.append(li);
  }
  $("c-pause").hidden = s.paused;
  $("c-resume").hidden = !s.paused;
  $("c-next-site").disabled = s.site + 1 >= s.site_count;
  $("c-next-zone").disabled = s.zone + 1 >= s.zone_count;
}

export function init() {
  $("c-pause").addEventListener("click", () => command("/session/pause"));
  $("c-resume").addEventListener("click", () => command("/session/resume"));
  $("c-next-site").addEventListener("click", () => command("/session/next-site"));
  $("c-next-zone").addEventListener("click", () => command("/session/next-zone"));
  $("c-stop").addEventListener("click", () => command("/session/stop"));
  $("c-dismiss").addEventListener("click", () => command("/session/dismiss"));
}
