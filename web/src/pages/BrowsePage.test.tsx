import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, configure, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { RegistryPackage, RegistryPackageDetail, RegistryPackageList } from '../api/client';
import { TOKEN_STORAGE_KEY } from '../api/auth';
import { installCommand } from './BrowsePage';
import { DEFAULT_BROWSE, parseRoute, routeToSearch } from '../router';
import { FakeWebSocket } from '../test/fakes';
import { renderAt, screenWidth } from '../test/render';

configure({ asyncUtilTimeout: 5000 });

const native: RegistryPackage = {
  ecosystem: 'npm',
  name: '@demo/native',
  version_count: 2,
  latest_version: '1.0.0',
  file_count: 2,
  total_size: 2_048,
};
const lib: RegistryPackage = {
  ecosystem: 'pypi',
  name: 'lib',
  version_count: 1,
  latest_version: '2.0',
  file_count: 1,
  total_size: 1_234_567,
};
const SHA = '0123456789abcdef'.repeat(4);
const file = {
  size: 1024,
  sha256: SHA,
  yanked: null,
  upload_time: '2024-03-01T10:00:00Z',
  requires_python: null,
  import_id: 'a'.repeat(32),
  import_filename: 'bundle-2026-12-05.zip',
  imported_at: '2026-12-05T10:00:00+00:00',
};
const nativeDetail: RegistryPackageDetail = {
  ...native,
  versions: [
    {
      version: '1.0.0',
      files: [{ ...file, filename: 'native-1.0.0.tgz', url: '/npm/@demo/native/-/native-1.0.0.tgz' }],
    },
    {
      version: '1.0.0-rc.1',
      files: [{ ...file, filename: 'native-1.0.0-rc.1.tgz', url: '/npm/@demo/native/-/native-1.0.0-rc.1.tgz' }],
    },
  ],
  install: { index_url: '/npm/', package_url: '/npm/@demo/native' },
};
const libDetail: RegistryPackageDetail = {
  ...lib,
  versions: [
    {
      version: '2.0',
      files: [
        {
          ...file,
          filename: 'lib-2.0-py3-none-any.whl',
          size: 1_234_567,
          yanked: 'broken build',
          requires_python: '>=3.9',
          url: `/files/pypi/${SHA}/lib-2.0-py3-none-any.whl`,
        },
      ],
    },
  ],
  install: { index_url: '/simple/', package_url: '/simple/lib/' },
};

function json(status: number, body: unknown) {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
}

interface Server {
  listed: string[];
  opened: string[];
}

function serve(list: (q: URLSearchParams) => Partial<RegistryPackageList>): Server {
  const listed: string[] = [];
  const opened: string[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: RequestInfo | URL) => {
      const url = String(input);
      const [path, search = ''] = url.split('?');
      if (path === '/api/tokens/me') return json(200, { id: null, name: 'me', owner: 'me', role: 'read' });
      if (path === '/api/registry/packages') {
        listed.push(url);
        const q = new URLSearchParams(search);
        return json(200, { packages: [], total: 0, page: Number(q.get('page') ?? 1), per_page: Number(q.get('per_page') ?? 20), ...list(q) });
      }
      if (path.startsWith('/api/registry/packages/')) {
        opened.push(path);
        if (path === '/api/registry/packages/npm/%40demo%2Fnative') return json(200, nativeDetail);
        if (path === '/api/registry/packages/pypi/lib') return json(200, libDetail);
        const message = `the registries hold nothing at ${decodeURIComponent(path)}`;
        return json(404, { type: 'urn:ferry:registry-not-found', title: message, status: 404, code: 'registry-not-found', message, params: { path: decodeURIComponent(path) } });
      }
      return json(404, { code: 'not-mocked', message: url });
    }),
  );
  return { listed, opened };
}

function names(): string[] {
  return screen.getAllByTestId('browse-row').map((r) => `${r.dataset.ecosystem}:${r.dataset.name}`);
}

function headers(): (string | null)[] {
  return [...document.querySelectorAll('[data-testid=browse-list] .ant-table-thead th')].map((th) => th.textContent);
}

beforeEach(() => {
  FakeWebSocket.instances = [];
  vi.stubGlobal('WebSocket', FakeWebSocket);
  window.localStorage.setItem(TOKEN_STORAGE_KEY, 'ferry_test-token');
  screenWidth(1400);
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  window.history.replaceState(null, '', '/');
});

describe('BrowsePage: the list', () => {
  it('reads the ecosystem, search and page from the URL and asks the server for exactly those', async () => {
    const server = serve(() => ({ packages: [native], total: 60 }));
    renderAt('?view=browse&ecosystem=npm&q=demo&page=2&size=50');
    await screen.findAllByTestId('browse-row');
    expect(server.listed).toEqual(['/api/registry/packages?ecosystem=npm&q=demo&page=2&per_page=50']);
    expect(screen.getByTestId('browse-search')).toHaveValue('demo');
    expect(within(screen.getByTestId('browse-ecosystem')).getByText('npm').closest('.ant-segmented-item')).toHaveClass(
      'ant-segmented-item-selected',
    );
    expect(document.querySelector('.ant-pagination-item-active')).toHaveTextContent('2');
    expect(screen.getByTestId('nav-browse')).toHaveClass('ant-btn-primary');
  });

  it('shows each package: name, ecosystem, latest, versions, files, size; and the URLs to give pip and npm', async () => {
    serve(() => ({ packages: [native, lib], total: 2 }));
    renderAt('?view=browse');
    await screen.findAllByTestId('browse-row');
    expect(headers()).toEqual(['Package', 'Ecosystem', 'Latest', 'Versions', 'Files', 'Size']);
    expect(names()).toEqual(['npm:@demo/native', 'pypi:lib']);
    const [first, second] = screen.getAllByTestId('browse-row');
    expect(within(first).getByTestId('browse-open')).toHaveTextContent('@demo/native');
    expect(within(first).getAllByTestId('browse-ecosystem-tag')[0]).toHaveTextContent('npm');
    expect(within(first).getByTestId('browse-latest')).toHaveTextContent('1.0.0');
    expect(within(first).getByTestId('browse-versions')).toHaveTextContent('2');
    expect(within(second).getByTestId('browse-size')).toHaveTextContent('1.23 MB');
    expect(screen.getByTestId('browse-total')).toHaveTextContent('2 packages');
    expect(screen.getByTestId('browse-index-url')).toHaveTextContent('http://localhost:3000/simple/');
    expect(screen.getByTestId('browse-registry-url')).toHaveTextContent('http://localhost:3000/npm/');
  });

  it('in Chinese, and on a phone the name with the rest under it', async () => {
    screenWidth(390);
    serve(() => ({ packages: [native, lib], total: 2 }));
    renderAt('?view=browse', 'zh');
    await screen.findAllByTestId('browse-row');
    expect(headers()).toEqual(['包']);
    const [first, second] = screen.getAllByTestId('browse-row');
    expect(within(first).getByTestId('browse-narrow-meta')).toHaveTextContent('npm1.0.0 · 2 个版本 · 2.05 kB');
    expect(within(second).getByTestId('browse-narrow-meta')).toHaveTextContent('PyPI2.0 · 1 个版本 · 1.23 MB');
    expect(screen.getByTestId('browse-total')).toHaveTextContent('共 2 个包');
    expect(screen.getByTestId('nav-browse')).toHaveTextContent('浏览');
  });

  it('says when there is nothing, and when nothing matches', async () => {
    serve(() => ({}));
    const first = renderAt('?view=browse');
    expect(await screen.findByText('The registries hold nothing yet: import a bundle first')).toBeInTheDocument();
    first.unmount();
    renderAt('?view=browse&q=zzz');
    expect(await screen.findByText('No package matches')).toBeInTheDocument();
  });

  it('writes the ecosystem and search to the URL; back brings them back', async () => {
    const server = serve((q) => ({ packages: q.get('ecosystem') === 'pypi' ? [lib] : [native, lib], total: 2 }));
    renderAt('?view=browse');
    await waitFor(() => expect(names()).toEqual(['npm:@demo/native', 'pypi:lib']));

    fireEvent.click(within(screen.getByTestId('browse-ecosystem')).getByText('PyPI'));
    await waitFor(() => expect(window.location.search).toBe('?view=browse&ecosystem=pypi'));
    await waitFor(() => expect(names()).toEqual(['pypi:lib']));

    const search = screen.getByTestId('browse-search');
    fireEvent.change(search, { target: { value: ' li ' } });
    fireEvent.keyDown(search, { key: 'Enter', code: 'Enter', keyCode: 13 });
    await waitFor(() => expect(window.location.search).toBe('?view=browse&ecosystem=pypi&q=li'));
    await waitFor(() => expect(server.listed.at(-1)).toBe('/api/registry/packages?ecosystem=pypi&q=li&page=1&per_page=20'));

    fireEvent.click(within(screen.getByTestId('browse-ecosystem')).getByText('All'));
    await waitFor(() => expect(window.location.search).toBe('?view=browse&q=li'));

    await act(async () => window.history.back());
    await waitFor(() => expect(window.location.search).toBe('?view=browse&ecosystem=pypi&q=li'));
    await act(async () => window.history.back());
    await waitFor(() => expect(window.location.search).toBe('?view=browse&ecosystem=pypi'));
    await waitFor(() => expect(screen.getByTestId('browse-search')).toHaveValue(''));
  });
});

describe('BrowsePage: a package', () => {
  it('opens a scoped npm package: versions newest first, its files, where they came from, the install command', async () => {
    const server = serve(() => ({ packages: [native, lib], total: 2 }));
    renderAt('?view=browse&q=demo');
    await screen.findAllByTestId('browse-row');
    const open = within(screen.getAllByTestId('browse-row')[0]).getByTestId('browse-open');
    expect(open).toHaveAccessibleName('Show @demo/native');
    fireEvent.click(open);
    await waitFor(() => expect(window.location.search).toBe('?view=browse&ecosystem=npm&q=demo&package=@demo/native'));
    const view = await screen.findByTestId('browse-package');
    await within(view).findByTestId('browse-package-name');
    // the scoped name escaped as one path parameter
    expect(server.opened).toEqual(['/api/registry/packages/npm/%40demo%2Fnative']);
    expect(within(view).getByTestId('browse-package-name')).toHaveTextContent('@demo/native');
    expect(within(view).getByTestId('browse-stats')).toHaveTextContent('latest 1.0.0');
    expect(within(view).getByTestId('browse-stats')).toHaveTextContent('2 versions · 2 files · 2.05 kB');
    expect(within(view).getAllByTestId('browse-version').map((v) => v.dataset.version)).toEqual(['1.0.0', '1.0.0-rc.1']);
    // the latest open, its file with the bundle that brought it
    const files = within(view).getAllByTestId('browse-file');
    expect(files.map((f) => f.dataset.filename)).toEqual(['native-1.0.0.tgz']);
    expect(within(files[0]).getByTestId('browse-imported')).toHaveTextContent('bundle-2026-12-05.zip');
    expect(within(files[0]).getByTestId('browse-sha256')).toHaveTextContent(/^0123456789ab$/);
    const command = within(view).getByTestId('browse-install-command');
    expect(command).toHaveTextContent('npm install --registry http://localhost:3000/npm/ @demo/native');
    expect(within(command).getByRole('button', { name: /copy/i })).toBeInTheDocument();
    // the token's place, for this server, never the token itself
    expect(within(view).getByText(/from a line of \.npmrc: \/\/localhost:3000\/npm\/:_authToken=TOKEN$/)).toBeInTheDocument();
    expect(view).not.toHaveTextContent('ferry_test-token');
    expect(within(view).getAllByTestId('browse-version')[0]).toHaveTextContent('1.0.0latest1 file · 1.02 kB');

    // the other version's files, on asking
    fireEvent.click(within(view).getAllByTestId('browse-version')[1]);
    await waitFor(() => expect(within(view).getAllByTestId('browse-file')).toHaveLength(2));

    fireEvent.click(within(view).getByTestId('browse-back'));
    await waitFor(() => expect(window.location.search).toBe('?view=browse&ecosystem=npm&q=demo'));
    await screen.findAllByTestId('browse-row');
  });

  it('a Python package: pip pointed at /simple/, a yanked file said with its reason, in Chinese', async () => {
    serve(() => ({}));
    renderAt('?view=browse&ecosystem=pypi&package=lib', 'zh');
    const view = await screen.findByTestId('browse-package');
    await within(view).findByTestId('browse-package-name');
    expect(within(view).getByTestId('browse-install-command')).toHaveTextContent(
      'pip install --index-url http://localhost:3000/simple/ lib',
    );
    expect(within(view).getByTestId('browse-yanked')).toHaveTextContent('已撤回：broken build');
    expect(within(view).getByText('Python >=3.9')).toBeInTheDocument();
    expect(within(view).getByTestId('browse-stats')).toHaveTextContent('1 个版本 · 1 个文件 · 1.23 MB');
    expect(within(view).getByText('从本服务器安装')).toBeInTheDocument();
    expect(within(view).getByText(/--index-url http:\/\/__token__:TOKEN@localhost:3000\/simple\//)).toBeInTheDocument();
  });

  it('a package the registries do not hold says so, with the way back', async () => {
    serve(() => ({}));
    renderAt('?view=browse&ecosystem=npm&package=left-pad');
    const alert = await screen.findByTestId('browse-package-error');
    expect(alert).toHaveTextContent('The registries do not hold this package');
    expect(alert).toHaveTextContent('the registries hold nothing at /api/registry/packages/npm/left-pad');
    fireEvent.click(screen.getByTestId('browse-back'));
    await waitFor(() => expect(window.location.search).toBe('?view=browse&ecosystem=npm'));
  });
});

describe('the Browse page in the URL', () => {
  it('round-trips, leaving out the defaults, and reads nonsense as them', () => {
    const browse = { ...DEFAULT_BROWSE, ecosystem: 'npm' as const, q: 'demo', page: 3, size: 50, package: '@demo/native' };
    const search = routeToSearch({ view: 'browse', taskId: null, browse });
    expect(search).toBe('?view=browse&ecosystem=npm&q=demo&page=3&size=50&package=@demo/native');
    expect(parseRoute(search)).toEqual({ view: 'browse', taskId: null, browse });
    expect(parseRoute('?view=browse&ecosystem=npm&package=%40demo%2Fnative').browse?.package).toBe('@demo/native');
    expect(routeToSearch({ view: 'browse', taskId: null })).toBe('?view=browse');
    for (const bad of ['ecosystem=maven', 'page=0', 'size=7', `q=${'x'.repeat(101)}`, 'package=lib', `ecosystem=x&package=lib`]) {
      expect(parseRoute(`?view=browse&${bad}`).browse, bad).toEqual(DEFAULT_BROWSE);
    }
  });

  it('gives pip and npm this server', () => {
    expect(installCommand('pypi', 'lib', 'https://ferry.example')).toBe('pip install --index-url https://ferry.example/simple/ lib');
    expect(installCommand('npm', '@a/b', 'https://ferry.example')).toBe('npm install --registry https://ferry.example/npm/ @a/b');
  });
});
