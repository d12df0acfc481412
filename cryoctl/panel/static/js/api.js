// The panel API: one fetch wrapper that sends the sign-in and turns errors into text.

import { t } from "./i18n.js";

export const auth = { token: null, role: null, idleTimeoutS: null };

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.body = body;
  }
}

export async function call(method, path, { json, body, contentType, raw } = {}) {
  const headers = {};
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  let payload = body;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (contentType) {
    headers["content-type"] = contentType;
  }
  let answer;
  try {
    answer = await fetch(`/api/v1${path}`, { method, headers, body: payload, cache: "no-store" });
  } catch {
    throw new ApiError(0, t("error.unreachable"), null);
  }
  if (raw && answer.ok) return answer;
  const text = await answer.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!answer.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `HTTP ${answer.status}`;
    throw new ApiError(answer.status, detail, data);
  }
  return data;
}

// The e-stop: no sign-in, never confirmed, sent at once.
export async function estop() {
  try {
    const answer = await fetch("/api/v1/estop", { method: "POST", cache: "no-store" });
    return answer.ok;
  } catch {
    return false;
  }
}
