// Calls to the coordinator's API. The bearer token, when the user gave one, lives in this tab's
// sessionStorage only (never a cookie, so no other site can make the browser send it) and goes out
// only as the Authorization header.
const TOKEN_KEY = 'blox-edge.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const value = token();
  return value ? { authorization: `Bearer ${value}` } : {};
}

/** An error answer, worded as the API words it (`code`, `message`, `field`). */
export class ApiError extends Error {
  constructor(status, body) {
    const code = body?.code ?? `HTTP ${status}`;
    const message = body?.message ?? 'the coordinator gave no reason';
    super(`${code}: ${message}${body?.field ? ` (field ${body.field})` : ''}`);
    this.status = status;
    this.code = code;
  }
}

export async function request(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json', ...authHeaders() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

/** Every item of a list route, page by page (at most `maxPages` pages of 100). */
export async function listAll(path, maxPages = 100) {
  const items = [];
  let next = '';
  for (let i = 0; i < maxPages; i++) {
    const separator = path.includes('?') ? '&' : '?';
    const page = await request(`${path}${separator}limit=100${next ? `&nextToken=${encodeURIComponent(next)}` : ''}`);
    items.push(...page.items);
    if (!page.nextToken) break;
    next = page.nextToken;
  }
  return items;
}

export const enc = encodeURIComponent;
