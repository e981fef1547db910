import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, configure, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { Package, PackageList, TokenSelf } from '../api/client';
import { TOKEN_STORAGE_KEY } from '../api/auth';
import {
  DESCRIPTION_MAX_BYTES,
  FIELD_LIMITS,
  guessFromFilename,
  identifierProblem,
} from '../components/PackageUpload';
import { formatDateTime } from '../format';
import { DEFAULT_PACKAGES, parseRoute, routeToSearch } from '../router';
import { FakeWebSocket, FakeXhr } from '../test/fakes';
import openapi from '../../openapi.json';
import { renderAt, screenWidth } from '../test/render';

// antd's form validates, and its dialog opens, a few renders later: on a loaded machine
// that is past the default second
configure({ asyncUtilTimeout: 5000 });

const SHA = '0123456789abcdef'.repeat(4);
const agent: Package = {
  id: 'a'.repeat(32),
  name: 'agent',
  version: '1.4.2',
  platform: 'linux',
  arch: 'x86_64',
  description: 'the node agent',
  filename: 'agent-1.4.2.tar.gz',
  size: 1_234_567,
  sha256: SHA,
  owner: 'alice',
  created_at: '2025-01-01T12:00:00+00:00',
  download_url: `/api/v1/packages/${'a'.repeat(32)}/download`,
  link_url: `/api/v1/packages/${'a'.repeat(32)}/download?expires=1&signature=${'0'.repeat(64)}`,
};
const tool: Package = {
  ...agent,
  id: 'b'.repeat(32),
  name: 'tool',
  version: '2.0',
  platform: 'windows',
  arch: 'arm64',
  description: '',
  filename: 'tool.zip',
  size: 999,
  sha256: 'f'.repeat(64),
  owner: 'bob',
  download_url: `/api/v1/packages/${'b'.repeat(32)}/download`,
  link_url: `/api/v1/packages/${'b'.repeat(32)}/download?expires=1&signature=${'0'.repeat(64)}`,
};

const ALICE: TokenSelf = { id: '1111222233334444', name: 'alice-laptop', owner: 'alice', role: 'write' };

function json(status: number, body: unknown) {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'content-type': type } });
}

function problem(status: number, code: string, message: string, params: Record<string, string>, extra = {}) {
  return { type: `urn:ferry:${code}`, title: message, status, code, message, params, ...extra };
}

interface Server {
  /** Every package-list URL asked, in order. */
  listed: string[];
  fetch: ReturnType<typeof vi.fn>;
}

/** The API as the page sees it: who the token is, the list (from the query it is sent),
 * deletes and downloads. `me: null` is a server that cannot say (404). */
function serve(opts: {
  me?: TokenSelf | null;
  list?: (q: URLSearchParams) => Partial<PackageList>;
  remove?: (id: string) => Response;
  one?: (id: string) => Response;
}): Server {
  const listed: string[] = [];
  const mock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = (init?.method ?? 'GET').toUpperCase();
    const [path, search = ''] = url.split('?');
    if (path === '/api/tokens/me') {
      return opts.me === null ? json(404, problem(404, 'not-found', 'nothing at /api/tokens/me', { path })) : json(200, opts.me ?? ALICE);
    }
    if (path === '/api/v1/packages' && method === 'GET') {
      listed.push(url);
      const q = new URLSearchParams(search);
      return json(200, { packages: [], total: 0, page: Number(q.get('page') ?? 1), size: Number(q.get('size') ?? 20), ...opts.list?.(q) });
    }
    const one = /^\/api\/v1\/packages\/(\w+)$/.exec(path);
    if (one && method === 'DELETE' && opts.remove) return opts.remove(one[1]);
    if (one && method === 'GET' && opts.one) return opts.one(one[1]);
    return json(404, problem(404, 'not-mocked', `${method} ${url}`, {}));
  });
  vi.stubGlobal('fetch', mock);
  return { listed, fetch: mock };
}

function headers(): (string | null)[] {
  return [...document.querySelectorAll('.ant-table-thead th')].map((th) => th.textContent);
}

function row(name: string): HTMLElement {
  const found = screen.getAllByTestId('package-row').find((r) => r.dataset.name === name);
  if (!found) throw new Error(`no row ${name}`);
  return found;
}

function dialog(): HTMLElement {
  return screen.getByRole('dialog');
}

/** A file chosen in the dialog; the upload takes it a moment later (rc-upload reads it
 * asynchronously), as the list under the dragger shows. */
async function chooseFile(file: File) {
  const input = dialog().querySelector('.package-upload-dragger input[type="file"]') as HTMLInputElement;
  expect(input).not.toBeNull();
  fireEvent.change(input, { target: { files: [file] } });
  await waitFor(() => expect(dialog().querySelector('.ant-upload-list-item-name')).toHaveTextContent(file.name));
}

function field(label: string): HTMLInputElement | HTMLTextAreaElement {
  // antd adds "(optional)" to the label of a field that may stay empty
  return within(dialog()).getByLabelText(new RegExp(`^${label}`)) as HTMLInputElement | HTMLTextAreaElement;
}

function type(label: string, value: string) {
  fireEvent.change(field(label), { target: { value } });
}

async function openUpload() {
  fireEvent.click(await screen.findByTestId('package-upload-open'));
  await screen.findByRole('dialog');
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

describe('PackagesPage: the list', () => {
  it('reads the filters, search, page and sort from the URL and asks the server for exactly those', async () => {
    const server = serve({ list: () => ({ packages: [agent, tool], total: 60 }) });
    renderAt('?view=packages&name=agent&platform=linux&q=node&page=2&size=50&sort=name&order=asc');
    await screen.findAllByTestId('package-row');
    expect(server.listed).toEqual(['/api/v1/packages?name=agent&platform=linux&q=node&page=2&size=50&sort=name&order=asc']);
    expect(screen.getByTestId('package-filter-name')).toHaveValue('agent');
    expect(screen.getByTestId('package-filter-platform')).toHaveValue('linux');
    expect(screen.getByTestId('package-filter-version')).toHaveValue('');
    expect(screen.getByTestId('package-search')).toHaveValue('node');
    expect(document.querySelector('.ant-pagination-item-active')).toHaveTextContent('2');
    const nameHeader = [...document.querySelectorAll('.ant-table-thead th')].find((th) => th.textContent === 'Name');
    expect(nameHeader).toHaveAttribute('aria-sort', 'ascending');
    expect(screen.getByTestId('nav-packages')).toHaveClass('ant-btn-primary');
  });

  it('shows every column: name and file, version, platform, arch, size in human units, a short copyable sha256, who and when, description', async () => {
    serve({ list: () => ({ packages: [agent, tool], total: 2 }) });
    renderAt('?view=packages');
    await screen.findAllByTestId('package-row');
    expect(headers()).toEqual(['Name', 'Version', 'Platform', 'Arch', 'Size', 'SHA-256', 'Uploaded', 'Description', 'Actions']);
    const first = row('agent');
    expect(within(first).getByTestId('package-name')).toHaveTextContent('agent');
    expect(first).toHaveTextContent('agent-1.4.2.tar.gz');
    expect(within(first).getByTestId('package-version')).toHaveTextContent('1.4.2');
    expect(within(first).getByTestId('package-platform')).toHaveTextContent('linux');
    expect(within(first).getByTestId('package-arch')).toHaveTextContent('x86_64');
    expect(within(first).getByTestId('package-size')).toHaveTextContent('1.23 MB');
    const sha = within(first).getByTestId('package-sha256');
    expect(sha).toHaveTextContent(/^0123456789ab$/);
    expect(sha.dataset.sha256).toBe(SHA);
    expect(within(first).getByRole('button', { name: /copy/i })).toBeInTheDocument();
    expect(within(first).getByTestId('package-uploaded')).toHaveTextContent(`alice${formatDateTime(agent.created_at)}`);
    expect(within(first).getByTestId('package-description')).toHaveTextContent('the node agent');
    expect(within(row('tool')).getByTestId('package-size')).toHaveTextContent('999 B');
    expect(screen.getByTestId('package-total')).toHaveTextContent('2 packages');
    expect(screen.getByTestId('package-me')).toHaveTextContent('alice · write');
  });

  it('in Chinese', async () => {
    serve({ list: () => ({ packages: [agent], total: 1 }) });
    renderAt('?view=packages', 'zh');
    await screen.findAllByTestId('package-row');
    expect(headers()).toEqual(['名称', '版本', '平台', '架构', '大小', 'SHA-256', '上传者 / 时间', '说明', '操作']);
    expect(screen.getByTestId('package-total')).toHaveTextContent('共 1 个软件包');
    expect(screen.getByTestId('package-me')).toHaveTextContent('alice · 读写');
    expect(screen.getByTestId('nav-packages')).toHaveTextContent('软件包');
  });

  it('on a phone keeps the name (version, platform, arch and size under it) and the actions', async () => {
    screenWidth(390);
    serve({ list: () => ({ packages: [agent], total: 1 }) });
    renderAt('?view=packages');
    await screen.findAllByTestId('package-row');
    expect(headers()).toEqual(['Name', 'Actions']);
    expect(within(row('agent')).getByTestId('package-narrow-meta')).toHaveTextContent('1.4.2 · linux/x86_64 · 1.23 MB');
  });

  it('writes filters, search, sort and page to the URL; back brings them back', async () => {
    const server = serve({ list: (q) => ({ packages: [{ ...agent, name: `agent-p${q.get('page')}` }], total: 45 }) });
    renderAt('?view=packages');
    await screen.findAllByTestId('package-row');

    const name = screen.getByTestId('package-filter-name');
    fireEvent.change(name, { target: { value: ' agent ' } });
    fireEvent.keyDown(name, { key: 'Enter', code: 'Enter', keyCode: 13 });
    await waitFor(() => expect(window.location.search).toBe('?view=packages&name=agent'));
    await waitFor(() => expect(server.listed.at(-1)).toBe('/api/v1/packages?name=agent&page=1&size=20&sort=created&order=desc'));

    const search = screen.getByTestId('package-search');
    fireEvent.change(search, { target: { value: 'node' } });
    fireEvent.keyDown(search, { key: 'Enter', code: 'Enter', keyCode: 13 });
    await waitFor(() => expect(window.location.search).toBe('?view=packages&name=agent&q=node'));

    fireEvent.click(screen.getByText('Version'));
    await waitFor(() => expect(window.location.search).toBe('?view=packages&name=agent&q=node&sort=version&order=asc'));
    fireEvent.click(screen.getByText('Version'));
    await waitFor(() => expect(window.location.search).toBe('?view=packages&name=agent&q=node&sort=version&order=desc'));

    fireEvent.click(screen.getByTitle('2'));
    await waitFor(() => expect(window.location.search).toBe('?view=packages&name=agent&q=node&page=2&sort=version&order=desc'));
    await waitFor(() => expect(screen.getByTestId('package-row').dataset.name).toBe('agent-p2'));
    expect(server.listed.at(-1)).toBe('/api/v1/packages?name=agent&q=node&page=2&size=20&sort=version&order=desc');

    fireEvent.click(screen.getByTestId('package-filters-clear'));
    await waitFor(() => expect(window.location.search).toBe('?view=packages&sort=version&order=desc'));
    expect(screen.getByTestId('package-filter-name')).toHaveValue('');

    await act(async () => window.history.back());
    await waitFor(() => expect(window.location.search).toBe('?view=packages&name=agent&q=node&page=2&sort=version&order=desc'));
    await waitFor(() => expect(screen.getByTestId('package-filter-name')).toHaveValue('agent'));
    expect(screen.getByTestId('package-search')).toHaveValue('node');
  });

  it('downloads through a link signed for the one package, under its file name', async () => {
    const link = `${agent.download_url}?expires=1999999999&signature=${'c'.repeat(64)}`;
    const server = serve({
      list: () => ({ packages: [agent], total: 1 }),
      one: () => json(200, { ...agent, link_url: link }),
    });
    const saved: { href: string; download: string }[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push({ href: this.href, download: this.download });
    });
    renderAt('?view=packages');
    const button = within(await screen.findByTestId('package-row')).getByTestId('package-download');
    expect(button).toHaveAccessibleName('Download agent-1.4.2.tar.gz, 1.23 MB');
    fireEvent.click(button);
    // the browser's own download follows the fresh link: no bytes pass through the page
    await waitFor(() => expect(saved).toEqual([{ href: `http://localhost:3000${link}`, download: 'agent-1.4.2.tar.gz' }]));
    const [, init] = server.fetch.mock.calls.find(([url]) => String(url) === `/api/v1/packages/${agent.id}`) ?? [];
    expect(new Headers((init as RequestInit).headers).get('Authorization')).toBe('Bearer ferry_test-token');
    expect(server.fetch.mock.calls.some(([url]) => String(url).endsWith('/download'))).toBe(false);
  });
});

describe('PackagesPage: delete only where the role allows', () => {
  it.each([
    ['a writer, on its own owner\'s package only', ALICE, ['agent'], true],
    ['an admin, on every package', { ...ALICE, owner: 'root', role: 'admin' as const }, ['agent', 'tool'], true],
    ['a reader, on none, and no upload', { ...ALICE, role: 'read' as const }, [], false],
    ['an unknown token (an older server), on every one: the server decides', null, ['agent', 'tool'], true],
  ])('%s', async (_title, me, deletable, upload) => {
    serve({ me, list: () => ({ packages: [agent, tool], total: 2 }) });
    renderAt('?view=packages');
    await screen.findAllByTestId('package-row');
    // who the token is arrives on its own: wait until the page has heard
    if (me) await screen.findByTestId('package-me');
    else await waitFor(() => expect(screen.getAllByTestId('package-delete').length).toBeGreaterThan(0));
    const withDelete = screen
      .getAllByTestId('package-row')
      .filter((r) => within(r).queryByTestId('package-delete'))
      .map((r) => r.dataset.name);
    expect(withDelete).toEqual(deletable);
    expect(screen.queryByTestId('package-upload-open') !== null).toBe(upload);
    expect(screen.queryByTestId('package-read-only') !== null).toBe(me?.role === 'read');
    // everyone may download
    expect(screen.getAllByTestId('package-download')).toHaveLength(2);
  });

  it('deletes after a confirm and shows a refusal by its code, in Chinese', async () => {
    const removed: string[] = [];
    serve({
      me: null,
      list: () => ({ packages: removed.includes(agent.id) ? [tool] : [agent, tool], total: removed.includes(agent.id) ? 1 : 2 }),
      remove: (id) => {
        if (id === tool.id) {
          const text = `package ${id} was uploaded by bob: only they or an admin may delete it`;
          return json(403, problem(403, 'package-not-owned', text, { package_id: id, owner: 'bob' }));
        }
        removed.push(id);
        return json(204, null);
      },
    });
    renderAt('?view=packages', 'zh');
    await screen.findAllByTestId('package-row');
    fireEvent.click(within(row('tool')).getByTestId('package-delete'));
    expect(await screen.findByText('删除 tool 2.0（windows/arm64）？')).toBeInTheDocument();
    fireEvent.click(await screen.findByTestId('package-delete-confirm'));
    expect(
      await screen.findByText(`package-not-owned: 软件包 ${tool.id} 由 bob 上传：只有上传者或管理员可以删除它`),
    ).toBeInTheDocument();
    expect(screen.getAllByTestId('package-row')).toHaveLength(2);

    fireEvent.click(within(row('agent')).getByTestId('package-delete'));
    const confirms = await screen.findAllByTestId('package-delete-confirm');
    fireEvent.click(confirms[confirms.length - 1]);
    await waitFor(() => expect(screen.getAllByTestId('package-row').map((r) => r.dataset.name)).toEqual(['tool']));
    expect(removed).toEqual([agent.id]);
  });
});

describe('PackagesPage: upload', () => {
  it('sends the fields then the file, with a real progress bar, and shows the stored package', async () => {
    const stored = { ...agent, id: 'c'.repeat(32), platform: 'linux', arch: 'x86_64', filename: 'agent-1.4.2-linux-x86_64.tar.gz', size: 1000 };
    let uploaded = false;
    const server = serve({ list: (q) => ({ packages: uploaded && !q.get('name') ? [stored] : [], total: uploaded && !q.get('name') ? 1 : 0 }) });
    renderAt('?view=packages');
    await openUpload();
    await chooseFile(new File(['x'.repeat(1000)], 'agent-1.4.2-linux-x86_64.tar.gz'));
    // a first guess from the file's name
    await waitFor(() => expect(field('Name')).toHaveValue('agent'));
    expect(field('Version')).toHaveValue('1.4.2');
    expect(field('Platform')).toHaveValue('linux');
    expect(field('Arch')).toHaveValue('x86_64');
    type('Description', 'the node agent');
    fireEvent.click(screen.getByTestId('package-upload-submit'));

    // a duplicate looked up first, then the upload
    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    expect(server.listed).toContain('/api/v1/packages?name=agent&version=1.4.2&platform=linux&arch=x86_64&size=1');
    const xhr = FakeXhr.latest();
    expect([xhr.method, xhr.url]).toEqual(['POST', '/api/v1/packages']);
    expect(xhr.headers.Authorization).toBe('Bearer ferry_test-token');
    const form = xhr.body as FormData;
    // the four that identify it before the file: a duplicate is refused before its bytes
    expect([...form.keys()]).toEqual(['name', 'version', 'platform', 'arch', 'description', 'file']);
    expect(form.get('description')).toBe('the node agent');
    expect((form.get('file') as File).name).toBe('agent-1.4.2-linux-x86_64.tar.gz');

    act(() => xhr.progress(250, 1000));
    const progress = screen.getByTestId('package-upload-progress');
    expect(progress.dataset.percent).toBe('25');
    expect(progress.dataset.phase).toBe('sending');
    expect(screen.getByTestId('package-upload-sent')).toHaveTextContent(/^250 B of 1.00 kB/);
    expect(progress.querySelector('.ant-progress-text')).toHaveTextContent('25%');
    act(() => xhr.progress(600, 1000));
    expect(screen.getByTestId('package-upload-progress').dataset.percent).toBe('60');
    act(() => xhr.progress(1000, 1000));
    expect(screen.getByTestId('package-upload-progress').dataset.phase).toBe('storing');
    expect(screen.getByTestId('package-upload-sent')).toHaveTextContent('Sent; the server is storing it…');

    uploaded = true;
    act(() => xhr.respond(201, stored));
    const done = await screen.findByTestId('package-upload-done');
    expect(done).toHaveTextContent('Uploaded agent 1.4.2 (linux/x86_64)');
    expect(within(done).getByTestId('package-upload-sha256')).toHaveTextContent(SHA);
    // the list behind it has it, marked
    await waitFor(() => expect(screen.getByTestId('package-row').dataset.packageId).toBe(stored.id));
    expect(screen.getByTestId('package-row')).toHaveClass('package-row-highlight');
  });

  it('a 409 names the stored package, in Chinese, and leads to it', async () => {
    const server = serve({ list: (q) => ({ packages: q.get('version') && q.get('size') !== '1' ? [agent] : [], total: q.get('version') && q.get('size') !== '1' ? 1 : 0 }) });
    renderAt('?view=packages', 'zh');
    await openUpload();
    await chooseFile(new File(['bytes'], 'agent.tgz'));
    type('名称', 'agent');
    type('版本', '1.4.2');
    type('平台', 'linux');
    type('架构', 'x86_64');
    fireEvent.click(screen.getByTestId('package-upload-submit'));
    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    // another upload of the same four won the race: the server says so
    const params = { name: 'agent', version: '1.4.2', platform: 'linux', arch: 'x86_64', package_id: agent.id };
    act(() =>
      FakeXhr.latest().respond(
        409,
        problem(409, 'package-exists', `agent 1.4.2 for linux/x86_64 is stored already, as package ${agent.id}`, params, {
          package_id: agent.id,
          hint: 'Upload it as another version, or delete the stored one first.',
          hint_code: 'package-exists',
          hint_params: {},
        }),
      ),
    );
    const alert = await screen.findByTestId('package-upload-error');
    expect(alert).toHaveTextContent('此软件包已经存在');
    expect(alert).toHaveTextContent('package-exists');
    expect(within(alert).getByTestId('package-upload-error-message')).toHaveTextContent(
      `agent 1.4.2（linux/x86_64）已经存在，软件包 ID 为 ${agent.id}`,
    );
    expect(within(alert).getByTestId('package-upload-error-hint')).toHaveTextContent('请以另一个版本上传，或先删除已有的那个。');

    fireEvent.click(within(alert).getByTestId('package-upload-show-existing'));
    await waitFor(() => expect(window.location.search).toBe('?view=packages&name=agent&version=1.4.2&platform=linux&arch=x86_64'));
    await waitFor(() => expect(screen.getByTestId('package-row').dataset.packageId).toBe(agent.id));
    expect(screen.getByTestId('package-row')).toHaveClass('package-row-highlight');
    expect(server.listed.at(-1)).toBe('/api/v1/packages?name=agent&version=1.4.2&platform=linux&arch=x86_64&page=1&size=20&sort=created&order=desc');
  });

  it('a duplicate found before the upload sends no byte and says what the server would', async () => {
    serve({ list: (q) => (q.get('size') === '1' ? { packages: [agent], total: 1 } : {}) });
    renderAt('?view=packages');
    await openUpload();
    await chooseFile(new File(['bytes'], 'agent-1.4.2.tar.gz'));
    await waitFor(() => expect(field('Name')).toHaveValue('agent'));
    type('Platform', 'linux');
    type('Arch', 'x86_64');
    fireEvent.click(screen.getByTestId('package-upload-submit'));
    const alert = await screen.findByTestId('package-upload-error');
    expect(within(alert).getByTestId('package-upload-error-message')).toHaveTextContent(
      `agent 1.4.2 for linux/x86_64 is stored already, as package ${agent.id}`,
    );
    expect(within(alert).getByTestId('package-upload-show-existing')).toBeInTheDocument();
    expect(FakeXhr.instances).toHaveLength(0);
  });

  it("checks what the server checks before sending: unsafe names, lengths, an empty file, the description's bytes", async () => {
    const server = serve({});
    renderAt('?view=packages');
    await openUpload();
    await chooseFile(new File([], 'empty.bin'));
    type('Name', '../etc');
    type('Version', '1'.repeat(65));
    type('Platform', 'linux/amd64');
    // 3,500 characters, 10,500 bytes of UTF-8: over the limit in bytes
    type('Description', '中'.repeat(3500));
    fireEvent.click(screen.getByTestId('package-upload-submit'));
    const within_ = within(dialog());
    expect(await within_.findByText('This file is empty: a package needs at least one byte')).toBeInTheDocument();
    expect(within_.getAllByText('Letters, digits and . _ + ~ - only, starting with a letter or digit; no / and no ..')).toHaveLength(2);
    expect(within_.getByText('At most 64 characters')).toBeInTheDocument();
    expect(within_.getByText('Enter the arch')).toBeInTheDocument();
    expect(within_.getByText('At most 10240 bytes of UTF-8 text; this is 10500')).toBeInTheDocument();
    expect(FakeXhr.instances).toHaveLength(0);
    expect(server.listed.filter((u) => u.includes('size=1&') || u.endsWith('size=1'))).toEqual([]);
  });

  it('a network failure mid-upload is said, and the form is kept to try again', async () => {
    serve({});
    renderAt('?view=packages');
    await openUpload();
    await chooseFile(new File(['bytes'], 'agent-1.4.2-linux-x86_64.tar.gz'));
    await waitFor(() => expect(field('Arch')).toHaveValue('x86_64'));
    fireEvent.click(screen.getByTestId('package-upload-submit'));
    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    act(() => FakeXhr.latest().fail());
    const alert = await screen.findByTestId('package-upload-error');
    expect(alert).toHaveTextContent('network-error');
    expect(field('Name')).toHaveValue('agent');
    expect(screen.getByTestId('package-upload-submit')).toBeEnabled();
  });
});

describe('the upload rules', () => {
  it("are the server's: its limits are the upload form's maxLength in openapi.json", () => {
    const form = openapi.paths['/api/v1/packages'].post.requestBody.content['multipart/form-data'].schema.properties;
    expect(FIELD_LIMITS).toEqual({
      name: form.name.maxLength,
      version: form.version.maxLength,
      platform: form.platform.maxLength,
      arch: form.arch.maxLength,
    });
    expect(DESCRIPTION_MAX_BYTES).toBe(form.description.maxLength);
  });

  it('refuse what check_identifier refuses, in its order', () => {
    expect(identifierProblem('name', 'agent')).toBeNull();
    expect(identifierProblem('version', '1.4.2+build~1_rc-2')).toBeNull();
    expect(identifierProblem('name', '')).toEqual({ kind: 'missing' });
    for (const bad of ['../x', 'a/b', 'a..b', '.hidden', '-x', 'a b', 'ä', 'a\\b']) {
      expect(identifierProblem('name', bad), bad).toEqual({ kind: 'unsafe' });
    }
    expect(identifierProblem('arch', 'x'.repeat(32))).toBeNull();
    expect(identifierProblem('arch', 'x'.repeat(33))).toEqual({ kind: 'long', limit: 32 });
  });

  it('guess the fields from a file name only where it is clear', () => {
    expect(guessFromFilename('agent-1.4.2-linux-x86_64.tar.gz')).toEqual({ name: 'agent', version: '1.4.2', platform: 'linux', arch: 'x86_64' });
    expect(guessFromFilename('node-agent_v2.0.1rc1.windows.amd64.zip')).toEqual({
      name: 'node-agent',
      version: '2.0.1rc1',
      platform: 'windows',
      arch: 'amd64',
    });
    expect(guessFromFilename('firmware.bin')).toEqual({});
  });
});

describe('the package list in the URL', () => {
  it('round-trips, leaving out the defaults, and reads nonsense as them', () => {
    const packages = { ...DEFAULT_PACKAGES, name: 'agent', q: 'node agent', page: 3, size: 50, sort: 'name' as const, order: 'asc' as const };
    const search = routeToSearch({ view: 'packages', taskId: null, packages });
    expect(search).toBe('?view=packages&name=agent&q=node+agent&page=3&size=50&sort=name&order=asc');
    expect(parseRoute(search)).toEqual({ view: 'packages', taskId: null, packages });
    expect(routeToSearch({ view: 'packages', taskId: null })).toBe('?view=packages');
    for (const bad of ['sort=size', 'order=up', 'page=0', 'size=7', `name=${'x'.repeat(101)}`, 'name=%20%20']) {
      expect(parseRoute(`?view=packages&${bad}`).packages, bad).toEqual(DEFAULT_PACKAGES);
    }
  });
});
