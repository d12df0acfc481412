// What the control process says in English (phases, alarm codes, refusals, zone
// names) as catalogue texts. A refusal the table does not know is shown as sent,
// marked as such, so nothing the nurse should read is ever dropped.

import { has, t } from "./i18n.js";

const BANNER = {
  starting: "starting", selftest: "selftest", idle: "idle", ready: "ready",
  treating_armed: "treating", treating_spraying: "spraying", treating_resting: "resting",
  paused: "paused", completed: "completed", estop: "estop", fault: "fault",
  disconnected: "disconnected",
};

// The banner's word (a key of phase.*) for a snapshot's phase.
export function bannerPhase(phase) {
  return BANNER[phase] || "disconnected";
}

export const PRIORITY = { 3: "high", 2: "medium", 1: "low" };

export function alarmText(alarm) {
  const key = `alarm.code.${alarm.code}`;
  return has(key) ? t(key) : alarm.message;
}

export function zoneName(name) {
  const key = `zone.${name}`;
  return has(key) ? t(key) : name;
}

export function deviceName(kind) {
  const key = `device.${kind}`;
  return has(key) ? t(key) : kind;
}

const REFUSALS = [
  [/^no session running$/, "refusal.no_session"],
  [/^set-points not applied$/, "refusal.setpoints"],
  [/^unit protection not verified$/, "refusal.protection"],
  [/^the unit's own time limit for this zone is not confirmed$/, "refusal.open_cap"],
  [/^host e-stop \((.*)\)$/, "refusal.host_estop", ["source"]],
  [/^no data from the unit$/, "refusal.no_data"],
  [/^unit data ([\d.]+) s old$/, "refusal.data_old", ["age"]],
  [/^unit readings \(oxygen, temperatures, nozzle\) ([\d.]+) s old$/, "refusal.telemetry_old", ["age"]],
  [/^the unit's readings stopped following the host/, "refusal.echo_behind"],
  [/^implausible (\w+) (.*)$/, "refusal.implausible", ["field", "value"]],
  [/^no oxygen reading$/, "refusal.no_o2"],
  [/^oxygen ([\d.]+) % below ([\d.]+) %$/, "refusal.o2_low", ["o2", "limit"]],
  [/^nozzle (.+) fitted, profile needs (.+)$/, "refusal.nozzle", ["fitted", "needed"]],
  [/^cooler not ready$/, "refusal.cooler"],
  [/^no pressure or dewar reading$/, "refusal.no_pressure"],
  [/^pressure (\d+) kPa, set (\d+) kPa$/, "refusal.pressure", ["pressure", "set"]],
  [/^dewar at (\d+) %$/, "refusal.dewar", ["level"]],
  [/^trigger not held$/, "refusal.trigger"],
  [/^resting$/, "refusal.resting"],
  [/^all (\d+) passes done$/, "refusal.passes_done", ["passes"]],
  [/^(dwell|zone|session|cryogen) budget used up$/, "refusal.budget", ["cause"]],
  [/^skin too cold in this zone$/, "refusal.skin_cold"],
  [/^profile is for (.+), unit is (.+)$/, "refusal.wrong_device", ["profile", "unit"]],
  [/^unit has no nozzle (.+)$/, "refusal.no_such_nozzle", ["nozzle"]],
  [/^no flow figure for nozzle (.+)$/, "refusal.no_flow_figure", ["nozzle"]],
  [/^(\w+) alarm$/, "refusal.alarm", ["alarm"]],
];

// {text, known}: the refusal in the panel's language, or as sent when unknown.
export function refusalText(reason) {
  for (const [pattern, key, names = []] of REFUSALS) {
    const match = pattern.exec(reason);
    if (!match) continue;
    const vars = {};
    names.forEach((name, i) => { vars[name] = match[i + 1]; });
    if (vars.alarm) vars.alarm = alarmText({ code: vars.alarm, message: vars.alarm });
    if (vars.cause) vars.cause = t(`budget.${vars.cause}`);
    return { text: t(key, vars), known: true };
  }
  return { text: reason, known: false };
}
