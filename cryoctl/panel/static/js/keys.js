// The panel's own keyboard for its few text fields (the patient reference, an override's
// reason): the kiosk has no other. Keys of 52 px or more; it sits at the bottom of the
// screen, under the banner, STOP and the alarm bar, and never over them.

import { t } from "./i18n.js";

const ROWS = [
  "1234567890-",
  "QWERTYUIOP",
  "ASDFGHJKL/",
  "ZXCVBNM.,_",
];

let target = null;

// What is typed, shown on the keyboard itself: at 800x480 it covers the field.
function echo() {
  const out = document.getElementById("key-echo");
  out.textContent = target === null ? "" : `${target.value}\u2581`;
}

function press(key) {
  if (target === null) return;
  if (key === "back") target.value = target.value.slice(0, -1);
  else if (key === "space") target.value += " ";
  else if (target.value.length < (target.maxLength > 0 ? target.maxLength : 64)) target.value += key;
  target.dispatchEvent(new Event("input", { bubbles: true }));
  echo();
}

function button(label, key, wide = false) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = wide ? "key wide" : "key";
  b.dataset.key = key;
  b.textContent = label;
  // pointerdown, not click: the field keeps its focus, the key answers at once
  b.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    if (key === "done") hide();
    else press(key);
  });
  return b;
}

export function hide() {
  document.getElementById("keys").hidden = true;
  document.body.classList.remove("typing");
  target = null;
}

export function relabel() {
  for (const el of document.querySelectorAll("#keys [data-label]")) el.textContent = t(el.dataset.label);
}

export function init() {
  const box = document.getElementById("keys");
  const shown = document.createElement("output");
  shown.id = "key-echo";
  box.append(shown);
  for (const row of ROWS) {
    const div = document.createElement("div");
    div.className = "key-row";
    for (const ch of row) div.append(button(ch, ch));
    box.append(div);
  }
  const last = document.createElement("div");
  last.className = "key-row";
  const space = button("", "space", true);
  space.dataset.label = "keys.space";
  const back = button("", "back");
  back.dataset.label = "keys.back";
  const done = button("", "done");
  done.dataset.label = "keys.done";
  last.append(space, back, done);
  box.append(last);
  relabel();
  for (const input of document.querySelectorAll("input[data-keys]")) {
    input.addEventListener("focus", () => {
      target = input;
      box.hidden = false;
      document.body.classList.add("typing");
      input.scrollIntoView({ block: "center" });
      echo();
    });
  }
}
