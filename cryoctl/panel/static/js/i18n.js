// The message catalogues: every text the panel shows goes through t().
// One JSON file per language in ../i18n/; numbers and times through Intl.

let lang = "en";
let messages = {};

export const LANGUAGES = ["en", "ru"];

export async function loadLanguage(code) {
  const answer = await fetch(`i18n/${code}.json`, { cache: "no-cache" });
  if (!answer.ok) throw new Error(`i18n/${code}.json: ${answer.status}`);
  messages = await answer.json();
  lang = code;
  document.documentElement.lang = code;
  applyMarkup(document);
}

export function language() {
  return lang;
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(messages, key);
}

// The text of `key` with {name} placeholders filled from `vars`.
export function t(key, vars = {}) {
  const text = has(key) ? messages[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

// Every element carrying data-i18n gets its catalogue text.
export function applyMarkup(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
}

export function number(value, digits = 1) {
  return new Intl.NumberFormat(lang, {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(value);
}

export function integer(value) {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: 0 }).format(value);
}

// Seconds as "1.4 s" below a minute, "6:57" (m:ss) above.
export function seconds(value, digits = 1) {
  if (value == null) return "–";
  if (value < 60) return t("unit.seconds", { n: number(value, digits) });
  const whole = Math.ceil(value);
  const m = Math.floor(whole / 60);
  const s = whole % 60;
  return `${integer(m)}:${String(s).padStart(2, "0")}`;
}

export function dateTime(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(iso));
}

export function date(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(lang, { dateStyle: "long" }).format(new Date(iso));
}
