// The PIN pad: staff or technician; the panel is locked whenever no one is signed in.

import { ApiError, call } from "./api.js";
import { signedIn } from "./app.js";
import { integer, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let pin = "";

function draw() {
  $("pin-dots").textContent = "\u25CF".repeat(pin.length);
}

export function reset() {
  pin = "";
  draw();
}

async function enter() {
  if (!pin) return;
  const tried = pin;
  reset();
  const error = $("pin-error");
  try {
    const answer = await call("POST", "/login", { json: { pin: tried } });
    error.hidden = true;
    signedIn(answer);
  } catch (failure) {
    error.hidden = false;
    if (failure instanceof ApiError && failure.status === 401) error.textContent = t("lock.wrong_pin");
    else if (failure instanceof ApiError && failure.status === 429) {
      const wait = Number(/(\d+) s/.exec(failure.message)?.[1] || 0);
      error.textContent = t("lock.throttled", { s: integer(wait) });
    } else error.textContent = t("error.unreachable");
  }
}

export function init() {
  for (const key of document.querySelectorAll("#pin-pad [data-digit]")) {
    key.addEventListener("click", () => {
      if (pin.length < 12) pin += key.dataset.digit;
      draw();
    });
  }
  $("pin-clear").addEventListener("click", reset);
  $("pin-enter").addEventListener("click", enter);
}
