// fetch() for our API: JSON in and out, the session's CSRF token on changes.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)nvr_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export const SIGNED_OUT = 4401; // a live or playback WebSocket's close code: signed out

// to the login page, back here after signing in
export function toLogin() {
  location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export async function api(path, { method = "GET", body = undefined } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    toLogin();
    throw new Error("signed out");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.detail) || `HTTP ${response.status}`);
  return data;
}

export const STATUS_LABELS = {
  online: "Online", connecting: "Connecting", offline: "Offline",
  auth_failed: "Camera login failed", error: "Error",
};

export function setStatus(element, status) {
  element.className = `status status-${status}`;
  element.textContent = STATUS_LABELS[status] || status;
}

export function timeOfDay(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
