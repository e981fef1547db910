/**
 * The bearer token the UI signs in with: kept in localStorage (`ferry.token`), sent as an
 * `Authorization` header by `call()` and as the first message of every socket, never put
 * in a URL. A `#token=…` fragment (the link `ferry serve` prints at its first start) is
 * taken once and removed from the address bar. Any 401 signs out: `onSignOut` listeners
 * (the app shell) then show the sign-in page.
 */
export const TOKEN_STORAGE_KEY = 'ferry.token';

type Listener = (token: string | null) => void;
const listeners = new Set<Listener>();
let memory: string | null = null;

export function getToken(): string | null {
  try {
    return window.localStorage.getItem(TOKEN_STORAGE_KEY) ?? memory;
  } catch {
    return memory; // storage blocked: signed in for this page only
  }
}

function notify(token: string | null) {
  for (const listener of listeners) listener(token);
}

export function setToken(token: string): void {
  memory = token;
  try {
    window.localStorage.setItem(TOKEN_STORAGE_KEY, token);
  } catch {
    // kept in memory only
  }
  notify(token);
}

export function clearToken(): void {
  memory = null;
  try {
    window.localStorage.removeItem(TOKEN_STORAGE_KEY);
  } catch {
    // nothing stored
  }
  notify(null);
}

/** Called with the new token, or null once signed out. Returns the unsubscribe. */
export function onTokenChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Takes `#token=…` from the address (then removes it, so it is not bookmarked or shared). */
export function takeTokenFromLocation(): string | null {
  const hash = window.location.hash;
  const match = /(?:^#|&)token=([^&]+)/.exec(hash);
  if (!match) return null;
  const token = decodeURIComponent(match[1]);
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  return token;
}

export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}
