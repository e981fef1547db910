import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { App } from '../App';
import { TOKEN_STORAGE_KEY } from '../api/auth';
import { I18nProvider } from '../i18n';
import { FakeWebSocket, fakeFetch } from '../test/fakes';

const GOOD = 'ferry_good-token';

function renderAt(location: string) {
  window.history.replaceState(null, '', `/${location}`);
  return render(
    <I18nProvider initial="en">
      <App />
    </I18nProvider>,
  );
}

/** The server: only GOOD is a token; every route answers 401 to anything else. */
function server(extra: Record<string, () => { status: number; body?: unknown }> = {}) {
  return vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const auth = new Headers(init.headers).get('Authorization');
    if (auth !== `Bearer ${GOOD}`) {
      return new Response(JSON.stringify({ code: 'auth-required', message: 'this needs a token' }), {
        status: 401,
        headers: { 'content-type': 'application/problem+json' },
      });
    }
    return fakeFetch({
      'GET /api/tasks': () => ({ status: 200, body: { tasks: [], total: 0, page: 1, size: 20 } }),
      ...extra,
    })(input, init);
  });
}

beforeEach(() => {
  FakeWebSocket.instances = [];
  vi.stubGlobal('WebSocket', FakeWebSocket);
});

afterEach(() => {
  vi.unstubAllGlobals();
  window.history.replaceState(null, '', '/');
});

describe('signing in', () => {
  it('asks for a token first, and says plainly when one is refused', async () => {
    const fetchMock = server();
    vi.stubGlobal('fetch', fetchMock);
    renderAt('');
    expect(screen.getByTestId('signin')).toBeInTheDocument();
    expect(screen.queryByTestId('upload-dragger')).toBeNull();

    fireEvent.change(screen.getByTestId('signin-token'), { target: { value: 'ferry_wrong' } });
    fireEvent.click(screen.getByTestId('signin-submit'));
    expect(await screen.findByTestId('signin-error')).toHaveTextContent(
      'That token was refused: it is unknown, revoked or expired.',
    );
    expect(window.localStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();

    fireEvent.change(screen.getByTestId('signin-token'), { target: { value: GOOD } });
    fireEvent.click(screen.getByTestId('signin-submit'));
    expect(await screen.findByTestId('upload-dragger')).toBeInTheDocument();
    expect(window.localStorage.getItem(TOKEN_STORAGE_KEY)).toBe(GOOD);
    // the check sent the token as a header, never in the URL
    for (const [url] of fetchMock.mock.calls) expect(String(url)).not.toContain('ferry_');
  });

  it('takes the token from the #token= link ferry serve prints, then drops it from the address', async () => {
    vi.stubGlobal('fetch', server());
    renderAt(`#token=${GOOD}`);
    expect(await screen.findByTestId('upload-dragger')).toBeInTheDocument();
    expect(window.location.hash).toBe('');
    expect(window.localStorage.getItem(TOKEN_STORAGE_KEY)).toBe(GOOD);
  });

  it('authenticates the socket with its first message, not its URL', async () => {
    window.localStorage.setItem(TOKEN_STORAGE_KEY, GOOD);
    vi.stubGlobal(
      'fetch',
      server({
        'GET /api/tasks/t1': () => ({ status: 200, body: { task_id: 't1', status: 'resolving' } }),
      }),
    );
    renderAt('?task=t1');
    const socket = FakeWebSocket.latest();
    expect(socket.url).not.toContain('token');
    socket.open();
    expect(JSON.parse(socket.sent[0])).toEqual({ type: 'auth', token: GOOD });
  });

  it('goes back to sign-in on any 401, and on sign-out', async () => {
    window.localStorage.setItem(TOKEN_STORAGE_KEY, 'ferry_revoked');
    vi.stubGlobal('fetch', server());
    renderAt('?view=tasks');
    // the list's request is refused: signed out, told why
    expect(await screen.findByTestId('signin')).toBeInTheDocument();
    expect(screen.getByText('You were signed out. Sign in again to go on.')).toBeInTheDocument();
    expect(window.localStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();

    fireEvent.change(screen.getByTestId('signin-token'), { target: { value: GOOD } });
    fireEvent.click(screen.getByTestId('signin-submit'));
    await waitFor(() => expect(screen.getByTestId('nav-sign-out')).toBeInTheDocument());
    fireEvent.click(screen.getByTestId('nav-sign-out'));
    expect(await screen.findByTestId('signin')).toBeInTheDocument();
    expect(window.localStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();
  });

  it('a socket closed with 4401 signs out', async () => {
    window.localStorage.setItem(TOKEN_STORAGE_KEY, GOOD);
    vi.stubGlobal(
      'fetch',
      server({
        'GET /api/tasks/t1': () => ({ status: 200, body: { task_id: 't1', status: 'resolving' } }),
      }),
    );
    renderAt('?task=t1');
    const socket = FakeWebSocket.latest();
    socket.open();
    socket.serverClose(4401);
    expect(await screen.findByTestId('signin')).toBeInTheDocument();
  });
});
