// The technician's view: the unit's identity and protection, the loop's health,
// the resets, and installing a profile from a file (every problem shown).

import { ApiError, call } from "./api.js";
import { errorText } from "./app.js";
import { integer, t } from "./i18n.js";
import { linkUp } from "./live.js";

const $ = (id) => document.getElementById(id);

function rows(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value, field] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.field = field;
    // the unit's own words (model, address, fault names) are shown as the unit says them
    if (["model", "serial", "firmware", "url", "faults"].includes(field)) dd.dataset.content = "unit";
    dd.textContent = value;
    dl.append(dt, dd);
  }
}

function yesNo(value) {
  return value ? t("value.yes") : t("value.no");
}

export function render(live) {
  const s = live.snapshot;
  const id = s && s.identity;
  const codes = new Set(s ? s.alarms.alarms.map((a) => a.code) : []);
  const protectionOk = s && s.phase !== "selftest" && s.phase !== "starting"
    && !codes.has("config_mismatch")
    && !(s.refusals || []).includes("unit protection not verified");
  rows($("tech-identity"), [
    [t("tech.model"), id ? id.model : "–", "model"],
    [t("tech.serial"), id ? id.serial : "–", "serial"],
    [t("tech.firmware"), id ? id.firmware : "–", "firmware"],
    [t("tech.url"), id ? id.url : "–", "url"],
    [t("tech.protection"), protectionOk ? t("tech.protection_ok") : t("tech.protection_not"),
      "protection"],
    [t("tech.faults"), s && s.unit && s.unit.faults.length ? s.unit.faults.join(", ")
      : t("value.none"), "faults"],
  ]);
  rows($("tech-health"), [
    [t("tech.link"), linkUp() ? t("tech.link_up") : t("tech.link_down"), "link"],
    [t("tech.healthy"), s ? yesNo(s.healthy) : "–", "healthy"],
    [t("tech.close_pending"), s ? yesNo(s.close_pending) : "–", "close_pending"],
    [t("tech.seq"), s ? integer(s.seq) : "–", "seq"],
  ]);
}

async function reset(path, what) {
  const out = $("tech-reset-result");
  try {
    await call("POST", path);
    out.textContent = t("tech.reset_done", { what });
  } catch (error) {
    out.textContent = errorText(error);
  }
}

async function install(file) {
  const out = $("tech-install-result");
  const problems = $("tech-install-problems");
  problems.replaceChildren();
  out.textContent = t("tech.installing");
  try {
    const answer = await call("POST", "/profiles", { body: await file.text(), contentType: "text/plain" });
    out.textContent = t(answer.outcome === "installed" ? "tech.installed" : "tech.unchanged",
      { name: answer.name, v: integer(answer.version) });
  } catch (error) {
    const list = error instanceof ApiError && error.body && Array.isArray(error.body.problems)
      ? error.body.problems : [];
    out.textContent = list.length
      ? t("tech.invalid", { file: file.name, n: integer(list.length) }) : errorText(error);
    for (const line of list) {
      const li = document.createElement("li");
      li.dataset.content = "problem";
      li.textContent = line.replace(/^upload:/, `${file.name}:`);
      problems.append(li);
    }
  }
}

export function load() {}

export function init() {
  $("t-reset-estop").addEventListener("click", () => reset("/estop/reset", t("tech.reset_estop")));
  $("t-reset-faults").addEventListener("click", () => reset("/faults/reset", t("tech.reset_faults")));
  $("t-profile-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) install(file);
    event.target.value = "";
  });
}
