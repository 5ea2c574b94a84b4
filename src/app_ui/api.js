// The API, as this page uses it: the bearer token kept in this tab's
// sessionStorage (never localStorage or cookies), JSON in and out, and
// RFC 9457 problems turned into ApiError. A 401 signs the page out.

const TOKEN_KEY = "crm.token";

/** The token of this tab, or null. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The claims of a JWT (not verified: the server does that), or null. */
export function claims(jwt) {
  const parts = (jwt || "").split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const text = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    const value = JSON.parse(new TextDecoder().decode(bytes));
    return value && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

/** An answer that was not a success, with its problem's title and detail. */
export class ApiError extends Error {
  constructor(status, problem, path) {
    const title = (problem && (problem.detail || problem.title)) || `HTTP ${status}`;
    super(`${title} (${status} on ${path})`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.path = path;
  }
}

const unauthorizedListeners = new Set();

/** Calls `listener(error)` when the API answers 401. */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

export function unauthorized(error) {
  for (const listener of unauthorizedListeners) listener(error);
}

/** Headers for a request with this tab's token. */
export function authHeaders(extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  return headers;
}

/** A raw fetch with the token; throws ApiError for 4xx/5xx (after signing
 * out on 401), and for a network failure (status 0). */
export async function send(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal, cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, { title: "The server could not be reached" }, path);
  }
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
    const error = new ApiError(response.status, problem, path);
    if (response.status === 401) unauthorized(error);
    throw error;
  }
  return response;
}

/** A JSON request; resolves to the parsed body (null for an empty one). */
export async function json(path, options) {
  const response = await send(path, options);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, options = {}) => json(path, options);
export const post = (path, body, options = {}) => json(path, { ...options, method: "POST", body });

/** The file name of a Content-Disposition header, or null. */
export function dispositionFilename(header) {
  if (!header) return null;
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      // fall through to the plain parameter
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/.exec(header);
  if (quoted) return quoted[1].replace(/\\(.)/g, "$1");
  const plain = /filename\s*=\s*([^;]+)/.exec(header);
  return plain ? plain[1].trim() : null;
}
