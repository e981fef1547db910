import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, configure, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { AvailableBundles, ImportDocument, TokenSelf } from '../api/client';
import { TOKEN_STORAGE_KEY } from '../api/auth';
import { bundleUploadName } from './ImportPage';
import { parseRoute, routeToSearch } from '../router';
import { FakeWebSocket, FakeXhr } from '../test/fakes';
import { renderAt, screenWidth } from '../test/render';

configure({ asyncUtilTimeout: 5000 });

const SHA = 'abcdef0123456789'.repeat(4);
const earlier: ImportDocument = {
  id: '1'.repeat(32),
  filename: 'bundle-2026-11-01.zip',
  archive_sha256: '9'.repeat(64),
  archive_size: 2_500_000,
  file_count: 10,
  new_count: 10,
  repeated: false,
  owner: 'alice',
  created_at: '2026-11-01T09:00:00+00:00',
};
const fresh: ImportDocument = {
  ...earlier,
  id: '2'.repeat(32),
  filename: 'bundle-2026-12-05.zip',
  archive_sha256: SHA,
  archive_size: 1000,
  file_count: 12,
  new_count: 3,
  created_at: '2026-12-05T10:00:00+00:00',
};

const WRITER: TokenSelf = { id: '1111222233334444', name: 'alice-laptop', owner: 'alice', role: 'write' };
const ADMIN: TokenSelf = { ...WRITER, owner: 'root', role: 'admin' };
const READER: TokenSelf = { ...WRITER, role: 'read' };

function json(status: number, body: unknown) {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
}

function problem(status: number, code: string, message: string, params: Record<string, string>, extra = {}) {
  return { type: `urn:ferry:${code}`, title: message, status, code, message, params, ...extra };
}

interface Server {
  fetch: ReturnType<typeof vi.fn>;
  /** Every request, as "METHOD url". */
  asked: string[];
}

/** The API as the page sees it; `fromServer` answers the JSON import (a promise the test
 * may hold back). */
function serve(opts: {
  me?: TokenSelf;
  imports?: () => ImportDocument[];
  available?: AvailableBundles;
  fromServer?: (name: string) => Promise<Response>;
}): Server {
  const asked: string[] = [];
  const mock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = (init?.method ?? 'GET').toUpperCase();
    asked.push(`${method} ${url}`);
    if (url === '/api/tokens/me') return json(200, opts.me ?? WRITER);
    if (url === '/api/imports' && method === 'GET') return json(200, { imports: opts.imports?.() ?? [earlier] });
    if (url === '/api/imports/available') {
      return opts.available ? json(200, opts.available) : json(403, problem(403, 'role-insufficient', 'this needs the admin role', { role: 'admin', has: 'write' }));
    }
    if (url === '/api/imports' && method === 'POST' && opts.fromServer) {
      const headers = new Headers(init?.headers);
      expect(headers.get('Content-Type')).toBe('application/json');
      expect(headers.get('Authorization')).toBe('Bearer ferry_test-token');
      const body = JSON.parse(String(init?.body)) as { path: string };
      return opts.fromServer(body.path);
    }
    return json(404, problem(404, 'not-mocked', `${method} ${url}`, {}));
  });
  vi.stubGlobal('fetch', mock);
  return { fetch: mock, asked };
}

async function choose(file: File) {
  const input = (await screen.findByTestId('import-dragger')).querySelector('input[type="file"]');
  expect(input).not.toBeNull();
  fireEvent.change(input as HTMLInputElement, { target: { files: [file] } });
  await screen.findByTestId('import-chosen');
}

function rows(): string[] {
  return screen.getAllByTestId('import-row').map((r) => r.dataset.name ?? '');
}

beforeEach(() => {
  FakeWebSocket.instances = [];
  FakeXhr.instances = [];
  vi.stubGlobal('WebSocket', FakeWebSocket);
  vi.stubGlobal('XMLHttpRequest', FakeXhr);
  window.localStorage.setItem(TOKEN_STORAGE_KEY, 'ferry_test-token');
  screenWidth(1400);
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  window.history.replaceState(null, '', '/');
});

describe('ImportPage: an upload', () => {
  it('sends the bundle with a real progress bar, says the server is checking, then what it added', async () => {
    let imported = false;
    serve({ imports: () => (imported ? [earlier, fresh] : [earlier]) });
    renderAt('?view=import');
    expect(await screen.findByTestId('nav-import')).toHaveClass('ant-btn-primary');
    await waitFor(() => expect(rows()).toEqual(['bundle-2026-11-01.zip']));
    await choose(new File(['x'.repeat(1000)], 'bundle-2026-12-05.zip'));
    expect(screen.getByTestId('import-chosen')).toHaveTextContent('bundle-2026-12-05.zip · 1.00 kB');
    fireEvent.click(screen.getByTestId('import-submit'));

    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    const xhr = FakeXhr.latest();
    expect([xhr.method, xhr.url]).toEqual(['POST', '/api/imports?filename=bundle-2026-12-05.zip']);
    expect(xhr.headers['Content-Type']).toBe('application/octet-stream');
    expect(xhr.headers.Authorization).toBe('Bearer ferry_test-token');
    // the file itself is the body, not a form
    expect((xhr.body as File).name).toBe('bundle-2026-12-05.zip');

    act(() => xhr.progress(250, 1000));
    const progress = screen.getByTestId('import-progress');
    expect(progress.dataset.phase).toBe('sending');
    expect(progress.dataset.percent).toBe('25');
    expect(progress.querySelector('.ant-progress-text')).toHaveTextContent('25%');
    expect(screen.getByTestId('import-progress-text')).toHaveTextContent(/^250 B of 1.00 kB/);
    act(() => xhr.progress(1000, 1000));
    expect(screen.getByTestId('import-progress').dataset.phase).toBe('storing');
    expect(screen.getByTestId('import-progress-text')).toHaveTextContent('Sent; the server is checking every file and storing it…');

    imported = true;
    act(() => xhr.respond(201, fresh));
    const done = await screen.findByTestId('import-result');
    expect(done).toHaveTextContent('Imported bundle-2026-12-05.zip');
    expect(within(done).getByTestId('import-result-summary')).toHaveTextContent('12 files for the registries: 3 new, 9 held already');
    expect(within(done).getByTestId('import-result-sha256')).toHaveTextContent(SHA);
    // the history has it, newest first and marked
    await waitFor(() => expect(rows()).toEqual(['bundle-2026-12-05.zip', 'bundle-2026-11-01.zip']));
    expect(screen.getAllByTestId('import-row')[0]).toHaveClass('package-row-highlight');
    expect(within(screen.getAllByTestId('import-row')[0]).getByTestId('import-row-files')).toHaveTextContent('12 · 3 new');
    expect(screen.getByTestId('import-total')).toHaveTextContent('2 imports');

    fireEvent.click(within(done).getByTestId('import-browse'));
    await waitFor(() => expect(window.location.search).toBe('?view=browse'));
  });

  it('a bundle imported before adds nothing and says so', async () => {
    serve({});
    renderAt('?view=import');
    await choose(new File(['bytes'], 'bundle-2026-11-01.zip'));
    fireEvent.click(screen.getByTestId('import-submit'));
    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    act(() => FakeXhr.latest().respond(201, { ...earlier, repeated: true, new_count: 0 }));
    const result = await screen.findByTestId('import-result');
    expect(result.dataset.repeated).toBe('true');
    expect(result).toHaveTextContent('bundle-2026-11-01.zip was imported before: nothing was added');
    expect(result).toHaveTextContent('10 files for the registries: 0 new, 10 held already');
  });

  it("a refusal is said by its code and hint, in Chinese", async () => {
    serve({});
    renderAt('?view=import', 'zh');
    await choose(new File(['bytes'], 'bad.tar.zst'));
    fireEvent.click(screen.getByTestId('import-submit'));
    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    const reason = 'python-packages/app-1.0-py3-none-any.whl has sha256 00; SHA256SUMS says 11';
    act(() =>
      FakeXhr.latest().respond(
        422,
        problem(422, 'import-rejected', `bad.tar.zst was not imported: ${reason}`, { bundle: 'bad.tar.zst', reason }, {
          hint: 'Nothing of the bundle was kept. Bring an intact copy (check it with its own SHA256SUMS) and import it again.',
          hint_code: 'import-whole',
          hint_params: {},
        }),
      ),
    );
    const alert = await screen.findByTestId('import-error');
    expect(alert.dataset.code).toBe('import-rejected');
    expect(alert).toHaveTextContent('离线包未被导入');
    expect(within(alert).getByTestId('import-error-message')).toHaveTextContent(`bad.tar.zst 未被导入：${reason}`);
    expect(within(alert).getByTestId('import-error-hint')).toHaveTextContent('此包的任何内容都没有保留');
    // the file is still chosen, to try again
    expect(screen.getByTestId('import-submit')).toBeEnabled();
  });

  it('a file that is no bundle is said before anything is sent', async () => {
    serve({});
    renderAt('?view=import');
    await choose(new File(['text'], 'notes.txt'));
    expect(await screen.findByTestId('import-wrong-type')).toHaveTextContent(
      'notes.txt is not a bundle: a bundle ends in .zip, .tar.gz or .tar.zst',
    );
    expect(screen.getByTestId('import-submit')).toBeDisabled();
    expect(FakeXhr.instances).toHaveLength(0);
  });

  it('a name the server would refuse is sent under a plain one', async () => {
    serve({});
    renderAt('?view=import');
    await choose(new File(['bytes'], 'bundle (1).tar.gz'));
    fireEvent.click(screen.getByTestId('import-submit'));
    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    expect(FakeXhr.latest().url).toBe('/api/imports?filename=bundle-1-.tar.gz');
  });

  it('can be cancelled mid-way', async () => {
    serve({});
    renderAt('?view=import');
    await choose(new File(['x'.repeat(100)], 'bundle.zip'));
    fireEvent.click(screen.getByTestId('import-submit'));
    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    act(() => FakeXhr.latest().progress(10, 100));
    fireEvent.click(screen.getByTestId('import-cancel'));
    expect(FakeXhr.latest().aborted).toBe(true);
    expect(await screen.findByText('Import cancelled')).toBeInTheDocument();
    expect(screen.queryByTestId('import-progress')).toBeNull();
  });
});

describe('ImportPage: who sees what', () => {
  it('a reader sees the history only', async () => {
    const server = serve({ me: READER });
    renderAt('?view=import');
    expect(await screen.findByTestId('import-read-only')).toHaveTextContent('importing needs the write role');
    expect(screen.queryByTestId('import-dragger')).toBeNull();
    expect(screen.queryByTestId('import-server')).toBeNull();
    await waitFor(() => expect(rows()).toEqual(['bundle-2026-11-01.zip']));
    expect(server.asked).not.toContain('GET /api/imports/available');
  });

  it('a writer uploads; the bundles on the server are not offered', async () => {
    const server = serve({ me: WRITER });
    renderAt('?view=import');
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(screen.getByTestId('import-dragger')).toBeInTheDocument();
    expect(screen.queryByTestId('import-server')).toBeNull();
    expect(server.asked).not.toContain('GET /api/imports/available');
  });

  it('the history: who, when, files, size', async () => {
    serve({ imports: () => [earlier, { ...fresh, new_count: 0 }] });
    renderAt('?view=import');
    await waitFor(() => expect(rows()).toEqual(['bundle-2026-12-05.zip', 'bundle-2026-11-01.zip']));
    const headers = [...document.querySelectorAll('[data-testid=import-history] .ant-table-thead th')].map((th) => th.textContent);
    expect(headers).toEqual(['Bundle', 'Imported', 'Files', 'Size']);
    const [first, second] = screen.getAllByTestId('import-row');
    expect(within(first).getByTestId('import-row-files')).toHaveTextContent('12 · none new');
    expect(within(second).getByTestId('import-row-when')).toHaveTextContent('alice');
    expect(second).toHaveTextContent('2.50 MB');
  });

  it('in Chinese, on a phone', async () => {
    screenWidth(390);
    serve({});
    renderAt('?view=import', 'zh');
    await waitFor(() => expect(rows()).toHaveLength(1));
    const headers = [...document.querySelectorAll('[data-testid=import-history] .ant-table-thead th')].map((th) => th.textContent);
    expect(headers).toEqual(['离线包']);
    expect(screen.getByTestId('import-narrow-meta')).toHaveTextContent('10 个 · 新增 10 个');
    expect(screen.getByTestId('nav-import')).toHaveTextContent('导入');
    expect(screen.getByText('拖拽离线包到此处，或点击选择')).toBeInTheDocument();
  });
});

describe('ImportPage: bundles on the server (admin)', () => {
  const available: AvailableBundles = {
    enabled: true,
    bundles: [
      { name: 'bundle-2026-12-05.tar.zst', size: 5_000_000, modified_at: '2026-12-05T08:00:00+00:00' },
      { name: 'bundle-2026-11-01.zip', size: 2_500_000, modified_at: '2026-11-01T08:00:00+00:00' },
    ],
  };

  it('are listed, and one is imported where it lies by its name', async () => {
    let answer: (r: Response) => void = () => undefined;
    const asked: string[] = [];
    serve({
      me: ADMIN,
      available,
      fromServer: (name) => {
        asked.push(name);
        return new Promise<Response>((resolve) => {
          answer = resolve;
        });
      },
    });
    renderAt('?view=import');
    const card = await screen.findByTestId('import-server');
    await waitFor(() => expect(within(card).getAllByTestId('available-row')).toHaveLength(2));
    const first = within(card).getAllByTestId('available-row')[0];
    expect(first).toHaveTextContent('bundle-2026-12-05.tar.zst');
    expect(first).toHaveTextContent('5.00 MB');
    const button = within(first).getByTestId('available-import');
    expect(button).toHaveAccessibleName('Import bundle-2026-12-05.tar.zst');
    fireEvent.click(button);

    await waitFor(() => expect(asked).toEqual(['bundle-2026-12-05.tar.zst']));
    expect(within(card).getByTestId('import-progress-text')).toHaveTextContent(
      'The server is checking every file of bundle-2026-12-05.tar.zst and storing it…',
    );
    // one import at a time
    within(card).getAllByTestId('available-import').forEach((b) => expect(b).toBeDisabled());
    await act(async () => answer(json(201, { ...fresh, filename: 'bundle-2026-12-05.tar.zst' })));
    const result = await within(card).findByTestId('import-result');
    expect(result).toHaveTextContent('Imported bundle-2026-12-05.tar.zst');
    expect(screen.getAllByTestId('import-result')).toHaveLength(1);
  });

  it("a refusal from the server's side is said there", async () => {
    serve({
      me: ADMIN,
      available,
      fromServer: async (name) =>
        json(404, problem(404, 'import-file-not-found', `no bundle ${name} in the import directory`, { name }, {
          hint: 'GET /api/imports/available lists the bundles there are.',
          hint_code: 'import-available',
          hint_params: {},
        })),
    });
    renderAt('?view=import', 'zh');
    const card = await screen.findByTestId('import-server');
    await waitFor(() => expect(within(card).getAllByTestId('available-row')).toHaveLength(2));
    fireEvent.click(within(card).getAllByTestId('available-import')[1]);
    const alert = await within(card).findByTestId('import-error');
    expect(within(alert).getByTestId('import-error-message')).toHaveTextContent('导入目录中没有离线包 bundle-2026-11-01.zip');
  });

  it('when the operator has not enabled it, says how', async () => {
    serve({ me: ADMIN, available: { enabled: false, bundles: [] } });
    renderAt('?view=import');
    expect(await screen.findByTestId('import-server-off')).toHaveTextContent('import_dir (FERRY_IMPORT_DIR)');
    expect(screen.queryByTestId('available-row')).toBeNull();
  });

  it('an empty directory says so', async () => {
    serve({ me: ADMIN, available: { enabled: true, bundles: [] } });
    renderAt('?view=import');
    expect(await within(await screen.findByTestId('import-server')).findByText('No bundle in the import directory')).toBeInTheDocument();
  });
});

describe('the bundle name an upload is sent under', () => {
  it("keeps a plain name, makes the rest plain, refuses what is no bundle", () => {
    expect(bundleUploadName('bundle-2026-12-05.tar.zst')).toBe('bundle-2026-12-05.tar.zst');
    expect(bundleUploadName('bundle (1).zip')).toBe('bundle-1-.zip');
    expect(bundleUploadName('.hidden.zip')).toBe('hidden.zip');
    expect(bundleUploadName('../x.tar.gz')).toBe('x.tar.gz');
    expect(bundleUploadName('BUNDLE.ZIP')).toBe('BUNDLE.zip');
    expect(bundleUploadName('离线包.zip')).toBe('bundle.zip');
    expect(bundleUploadName(`${'a'.repeat(300)}.zip`)).toHaveLength(201);
    expect(bundleUploadName('notes.txt')).toBeNull();
    expect(bundleUploadName('.zip')).toBeNull();
  });

  it('the route is ?view=import', () => {
    expect(routeToSearch({ view: 'import', taskId: null })).toBe('?view=import');
    expect(parseRoute('?view=import')).toEqual({ view: 'import', taskId: null });
  });
});
