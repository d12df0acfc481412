// Recent session records and their printed reports (the records API; where it is
// not there yet, the list says so).

import { ApiError, call } from "./api.js";
import { errorText } from "./app.js";
import { dateTime, language, number, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// Each report gets a fresh frame, its document set before it is in the page: setting
// `srcdoc` twice on one frame starts two navigations, and under load the empty one can
// commit last and leave the dialog blank.
function showInFrame(html, title) {
  const old = $("dialog-frame");
  const frame = document.createElement("iframe");
  frame.id = old.id;
  frame.setAttribute("sandbox", "");
  frame.title = title;
  frame.srcdoc = html;
  old.replaceWith(frame);
}

export async function openReport(id) {
  const dialog = $("dialog");
  const title = t("records.report_title", { id });
  $("dialog-title").textContent = title;
  showInFrame("", title);
  dialog.hidden = false;
  try {
    const answer = await call("GET", `/sessions/${encodeURIComponent(id)}/report?lang=${language()}`, { raw: true });
    showInFrame(await answer.text(), title);
  } catch (error) {
    showInFrame("", title);
    $("dialog-title").textContent = error instanceof ApiError && error.status === 404
      ? t("records.report_unavailable") : errorText(error);
  }
}

export async function load() {
  const note = $("records-note");
  const ul = $("record-list");
  note.textContent = t("records.loading");
  ul.replaceChildren();
  let sessions;
  try {
    sessions = (await call("GET", "/sessions?limit=20")).sessions;
  } catch (error) {
    note.textContent = error instanceof ApiError && error.status === 404
      ? t("records.unavailable") : errorText(error);
    return;
  }
  note.textContent = sessions.length ? "" : t("records.none");
  for (const r of sessions) {
    const li = document.createElement("li");
    li.dataset.session = String(r.id);
    const text = document.createElement("span");
    const outcome = `outcome.${r.outcome}`;
    text.textContent = t("records.line", {
      when: dateTime(r.started_utc), patient: r.patient_ref, profile: r.profile.name,
      outcome: t(outcome) === outcome ? r.outcome : t(outcome), s: number(r.spray_s || 0, 1),
    });
    const button = document.createElement("button");
    button.type = "button";
    button.className = "report";
    button.textContent = t("records.report");
    button.addEventListener("click", () => openReport(r.id));
    li.append(text, button);
    ul.append(li);
  }
}

export function init() {}
