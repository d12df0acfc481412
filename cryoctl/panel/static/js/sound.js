// The alarm sound, from the page's own speaker: the pattern of the loudest alarm not yet
// acknowledged, while the control process says the sound is on (not paused). IEC
// 60601-1-8-like bursts: high 3+2 pulses every 2.5 s, medium 3 pulses every 8 s, low one
// pulse every 15 s. The kiosk starts Chromium with autoplay allowed; elsewhere the
// first tap on the page lets the sound start.

const PATTERNS = {
  high: { every_ms: 2500, pulses_ms: [0, 200, 400, 900, 1100], hz: 880 },
  medium: { every_ms: 8000, pulses_ms: [0, 300, 600], hz: 660 },
  low: { every_ms: 15000, pulses_ms: [0], hz: 523 },
};
const PULSE_S = 0.14;

let context = null;
let playing = "off";
let timer = null;

function audio() {
  if (context === null && typeof AudioContext !== "undefined") context = new AudioContext();
  return context;
}

function burst(pattern) {
  const ctx = audio();
  if (ctx === null || ctx.state !== "running") return;
  for (const at_ms of pattern.pulses_ms) {
    const start = ctx.currentTime + at_ms / 1000;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = pattern.hz;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.5, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + PULSE_S);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start);
    osc.stop(start + PULSE_S + 0.02);
  }
}

// Which sound the page should make now ("high", "medium", "low" or "off").
export function wanted(snapshot) {
  if (!snapshot || !snapshot.alarms.audio_active) return "off";
  const loud = snapshot.alarms.alarms.filter((a) => !a.acknowledged).map((a) => a.priority);
  if (!loud.length) return "off";
  return { 3: "high", 2: "medium", 1: "low" }[Math.max(...loud)] || "high";
}

export function play(level) {
  if (level === playing) return;
  playing = level;
  document.getElementById("alarm-bar").dataset.sound = level;
  clearInterval(timer);
  timer = null;
  if (level === "off") return;
  const pattern = PATTERNS[level];
  burst(pattern);
  timer = setInterval(() => burst(pattern), pattern.every_ms);
}

export function init() {
  document.getElementById("alarm-bar").dataset.sound = "off";
  const unlock = () => {
    const ctx = audio();
    if (ctx !== null && ctx.state === "suspended") ctx.resume();
  };
  document.addEventListener("pointerdown", unlock, true);
  unlock();
}
