// The device's state as the page knows it: the event stream, with /status as its back-up.
//
// The control process pushes a snapshot only when what it shows changes, so the page
// also asks /status twice a second: a snapshot counts as fresh for STALE_MS after it
// arrived by either road. `link` is "connected" only while the panel server reaches
// the control process and the page reaches the panel server.

export const STALE_MS = 1000;
const POLL_MS = 500;
const RECONNECT_MS = 1000;

export const live = {
  snapshot: null,
  receivedAt: 0,
  serverLink: "disconnected",
  pageLink: false,
  wsOpen: false,
};

const listeners = [];

export function onChange(listener) {
  listeners.push(listener);
}

function changed() {
  for (const listener of listeners) listener(live);
}

export function linkUp() {
  return live.pageLink && live.serverLink === "connected";
}

export function fresh() {
  return linkUp() && live.snapshot !== null && performance.now() - live.receivedAt <= STALE_MS;
}

function take(snapshot) {
  if (!snapshot) return;
  if (live.snapshot && snapshot.seq < live.snapshot.seq && snapshot.at_s <= live.snapshot.at_s) {
    live.receivedAt = performance.now();  // an older one from the poll: the newer stays
    return;
  }
  live.snapshot = snapshot;
  live.receivedAt = performance.now();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws;
  try {
    ws = new WebSocket(`${scheme}://${location.host}/api/v1/events`);
  } catch {
    setTimeout(connect, RECONNECT_MS);
    return;
  }
  ws.onopen = () => {
    live.wsOpen = true;
  };
  ws.onmessage = (message) => {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    live.pageLink = true;
    if (data.type === "snapshot") {
      live.serverLink = "connected";
      take(data.snapshot);
    } else if (data.type === "link") {
      live.serverLink = data.link;
    } else {
      return;
    }
    changed();
  };
  ws.onclose = () => {
    live.wsOpen = false;
    setTimeout(connect, RECONNECT_MS);
    changed();
  };
}

async function poll() {
  try {
    const answer = await fetch("/api/v1/status", { cache: "no-store" });
    const data = await answer.json();
    live.pageLink = true;
    live.serverLink = data.link;
    if (data.link === "connected") take(data.snapshot);
    else if (!live.snapshot) live.snapshot = data.snapshot;
  } catch {
    live.pageLink = false;
  }
  changed();
  setTimeout(poll, POLL_MS);
}

export function start() {
  connect();
  poll();
}
