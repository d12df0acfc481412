// The alarm bar: highest priority first (the control process's order), IEC 60601-1-8
// colours, acknowledge, and the audio pause with its countdown. A pause silences
// sound only: every alarm stays in the bar, a new one too.

import { auth } from "./api.js";
import { command } from "./app.js";
import { integer, language, t } from "./i18n.js";
import { linkUp } from "./live.js";
import * as sound from "./sound.js";
import { alarmText, PRIORITY } from "./words.js";

const $ = (id) => document.getElementById(id);
let drawn = "";

export function init() {
  sound.init();
  $("alarm-ack").addEventListener("click", () => {
    const s = window.cryoctlSnapshot;
    command("/alarms/ack", s ? { up_to_seq: s.alarms.seq } : undefined);
  });
  $("alarm-pause").addEventListener("click", () => command("/alarms/pause-audio"));
}

function pauseLeftS(live) {
  const s = live.snapshot;
  const until = s && s.alarms.audio_paused_until_s;
  if (until == null) return null;
  const left = until - s.at_s - (performance.now() - live.receivedAt) / 1000;
  return left > 0 ? left : null;
}

export function render(live) {
  const s = live.snapshot;
  window.cryoctlSnapshot = s;
  const list = s ? s.alarms.alarms : [];
  $("alarm-bar").hidden = list.length === 0;
  const key = JSON.stringify([language(), list.map((a) => [a.code, a.acknowledged, a.detail])]);
  if (key !== drawn) {
    drawn = key;
    const ol = $("alarm-list");
    ol.replaceChildren();
    for (const alarm of list) {
      const priority = PRIORITY[alarm.priority] || "high";
      const li = document.createElement("li");
      li.className = `alarm priority-${priority}${alarm.acknowledged ? " acked" : ""}`;
      li.dataset.code = alarm.code;
      li.dataset.priority = priority;
      const prio = document.createElement("span");
      prio.className = "prio";
      prio.textContent = t(`alarm.priority.${priority}`);
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = alarmText(alarm);
      if (language() === "en" && alarm.detail) {
        const detail = document.createElement("span");
        detail.className = "detail";
        detail.textContent = ` (${alarm.detail})`;
        text.append(detail);
      }
      li.append(prio, text);
      if (alarm.acknowledged) {
        const acked = document.createElement("span");
        acked.className = "prio";
        acked.textContent = t("alarm.acknowledged");
        li.append(acked);
      }
      ol.append(li);
    }
  }
  // The daemon lost after it was heard: a technical alarm of the page's own.
  sound.play(s !== null && !linkUp() ? "high" : sound.wanted(s));
  const signedIn = auth.token !== null;
  $("alarm-ack").disabled = !signedIn || list.every((a) => a.acknowledged);
  const left = pauseLeftS(live);
  const pause = $("alarm-pause");
  pause.disabled = !signedIn || (s && !s.alarms.audio_active && left === null);
  pause.textContent = left === null ? t("alarm.pause_audio")
    : t("alarm.audio_paused", { s: integer(Math.ceil(left)) });
  pause.dataset.paused = left === null ? "false" : "true";
}
