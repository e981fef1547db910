import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, configure, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { ModelDocument, ModelUsage } from '../api/client';
import { TOKEN_STORAGE_KEY } from '../api/auth';
import { hubSnippet, importCommand } from './ModelsPage';
import { DEFAULT_MODELS, parseRoute, routeToSearch } from '../router';
import { FakeWebSocket } from '../test/fakes';
import { renderAt, screenWidth } from '../test/render';

configure({ asyncUtilTimeout: 5000 });

const TOKEN = 'ferry_test-token';
const SHA_A = '0123456789abcdef'.repeat(4);
const SHA_B = 'fedcba9876543210'.repeat(4);
const COMMIT_OLD = 'a'.repeat(40);
const COMMIT_NEW = '1234567890abcdef1234567890abcdef12345678';

const tiny: ModelDocument = {
  id: 'acme/tiny',
  name: 'Tiny BERT',
  default_version: '1.1',
  task: 'fill-mask',
  languages: ['en', 'zh'],
  updated_at: '2026-12-06T10:00:00.000Z',
  versions: [
    {
      version: '1.1',
      commit: COMMIT_NEW,
      size_bytes: 3_000_000,
      updated_at: '2026-12-06T10:00:00.000Z',
      files: [
        { path: 'config.json', size_bytes: 22, sha256: SHA_A },
        { path: 'model.safetensors', size_bytes: 2_999_974, sha256: SHA_B },
        { path: 'tokenizer/vocab.txt', size_bytes: 4, sha256: SHA_A },
      ],
    },
    {
      version: '1.0',
      commit: COMMIT_OLD,
      size_bytes: 1_000,
      updated_at: '2026-12-05T10:00:00.000Z',
      files: [{ path: 'config.json', size_bytes: 1_000, sha256: SHA_B }],
    },
  ],
};
const small: ModelDocument = {
  id: 'solo',
  name: 'solo',
  default_version: '0.1',
  task: null,
  languages: [],
  updated_at: '2026-12-01T10:00:00.000Z',
  versions: [
    {
      version: '0.1',
      commit: 'b'.repeat(40),
      size_bytes: 1_234_567,
      updated_at: '2026-12-01T10:00:00.000Z',
      files: [{ path: 'weights.bin', size_bytes: 1_234_567, sha256: SHA_B }],
    },
  ],
};
const reviews: ModelDocument = {
  ...small,
  id: 'acme/reviews',
  name: 'reviews',
  versions: [{ ...small.versions[0], version: '1.0', files: [{ path: 'data/train.csv', size_bytes: 9, sha256: SHA_A }] }],
  default_version: '1.0',
};
const ranking: ModelUsage[] = [
  { model_id: 'acme/tiny', request_count: 3, rank: 1 },
  { model_id: 'solo', request_count: 1, rank: 2 },
];

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': type, ...headers } });
}

interface Server {
  /** Every URL asked, in order. */
  asked: string[];
  /** The headers each request carried, by URL. */
  headers: Map<string, Headers>;
}

/** What a list request is answered: the page's models, and how many in all (else as many). */
type Lister = (kind: 'models' | 'datasets', q: URLSearchParams) => ModelDocument[] | { models: ModelDocument[]; total: number };

function serve(list: Lister = () => [], usage: ModelUsage[] = ranking): Server {
  const asked: string[] = [];
  const headers = new Map<string, Headers>();
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
      const url = String(input);
      asked.push(url);
      headers.set(url, new Headers(init.headers));
      const [path, search = ''] = url.split('?');
      const q = new URLSearchParams(search);
      if (path === '/api/tokens/me') return json(200, { id: null, name: 'me', owner: 'me', role: 'read' });
      if (path === '/api/models' || path === '/api/datasets') {
        const kind = path === '/api/models' ? 'models' : 'datasets';
        const found = list(kind, q);
        const { models, total } = Array.isArray(found) ? { models: found, total: found.length } : found;
        return json(200, models, { 'X-Total-Count': String(total) });
      }
      if (path === '/api/model-usage/ranking') return json(200, usage);
      if (path === '/api/models/acme/tiny') return json(200, tiny);
      if (path === '/api/datasets/acme/reviews') return json(200, reviews);
      if (path.startsWith('/api/models/')) {
        // the Hub's own 404, as huggingface_hub reads it
        return new Response(JSON.stringify({ error: `Repository ${path.slice(12)} not found` }), {
          status: 404,
          headers: { 'content-type': 'application/json', 'X-Error-Code': 'RepoNotFound' },
        });
      }
      if (path === '/storage/models/acme/tiny/1.1/tokenizer/vocab.txt' || path === '/datasets/acme/reviews/resolve/1.0/data/train.csv') {
        const bytes = new TextEncoder().encode('a\nb\n');
        return new Response(bytes, { status: 200, headers: { 'content-length': String(bytes.length) } });
      }
      if (path.startsWith('/storage/models/')) {
        return json(404, { error: { code: 'model-file-not-found', message: 'no such model file' } });
      }
      return json(404, { code: 'not-mocked', message: url });
    }),
  );
  return { asked, headers };
}

function listed(server: Server): string[] {
  return server.asked.filter((u) => /^\/api\/(models|datasets)\?/.test(u));
}

function ids(): string[] {
  return screen.getAllByTestId('models-row').map((r) => r.dataset.id ?? '');
}

function headers(): (string | null)[] {
  return [...document.querySelectorAll('[data-testid=models-list] .ant-table-thead th')].map((th) => th.textContent);
}

// jsdom has no object URLs: the download tests put their own in place
const { createObjectURL, revokeObjectURL } = URL;

beforeEach(() => {
  FakeWebSocket.instances = [];
  vi.stubGlobal('WebSocket', FakeWebSocket);
  window.localStorage.setItem(TOKEN_STORAGE_KEY, TOKEN);
  screenWidth(1400);
});

afterEach(() => {
  URL.createObjectURL = createObjectURL;
  URL.revokeObjectURL = revokeObjectURL;
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  window.history.replaceState(null, '', '/');
});

describe('ModelsPage: the list', () => {
  it('reads the kind, search and page from the URL and asks the server for exactly those', async () => {
    const server = serve(() => ({ models: [reviews], total: 60 }));
    renderAt('?view=models&kind=datasets&q=rev&page=2&size=50');
    await screen.findAllByTestId('models-row');
    expect(listed(server)).toEqual(['/api/datasets?search=rev&page=2&limit=50']);
    expect(screen.getByTestId('models-search')).toHaveValue('rev');
    expect(document.querySelector('.ant-pagination-item-active')).toHaveTextContent('2');
    expect(screen.getByTestId('models-total')).toHaveTextContent('60 datasets');
    expect(within(screen.getByTestId('models-kind')).getByText('Datasets').closest('.ant-segmented-item')).toHaveClass(
      'ant-segmented-item-selected',
    );
    expect(screen.getByTestId('nav-models')).toHaveClass('ant-btn-primary');
    // the ranking is of models: not beside the datasets
    expect(screen.queryByTestId('models-ranking')).not.toBeInTheDocument();
    expect(server.asked.some((u) => u.startsWith('/api/model-usage/ranking'))).toBe(false);
  });

  it('shows each model: id, task, languages, default version, versions, size, updated; and the ten most downloaded', async () => {
    const server = serve(() => [tiny, small]);
    renderAt('?view=models');
    await screen.findAllByTestId('models-row');
    expect(headers()).toEqual(['Model', 'Task', 'Languages', 'Default version', 'Versions', 'Size', 'Updated']);
    expect(ids()).toEqual(['acme/tiny', 'solo']);
    const [first, second] = screen.getAllByTestId('models-row');
    expect(within(first).getByTestId('models-open')).toHaveTextContent('acme/tiny');
    expect(first).toHaveTextContent('Tiny BERT');
    expect(within(first).getByTestId('models-task')).toHaveTextContent('fill-mask');
    expect(within(first).getByTestId('models-languages')).toHaveTextContent('enzh');
    expect(within(first).getByTestId('models-default')).toHaveTextContent('1.1');
    expect(within(first).getByTestId('models-versions')).toHaveTextContent('2');
    // the default version's size, not the newest's nor the sum
    expect(within(first).getByTestId('models-size')).toHaveTextContent('3.00 MB');
    expect(within(second).getByTestId('models-size')).toHaveTextContent('1.23 MB');
    expect(within(second).getAllByRole('cell')[1]).toHaveTextContent('—');
    expect(screen.getByTestId('models-total')).toHaveTextContent('2 models');
    expect(screen.getByTestId('models-endpoint')).toHaveTextContent('http://localhost:3000');

    const board = screen.getByTestId('models-ranking');
    await within(board).findAllByTestId('models-ranking-row');
    expect(server.asked).toContain('/api/model-usage/ranking?limit=10');
    const rows = within(board).getAllByTestId('models-ranking-row');
    expect(rows.map((r) => r.textContent)).toEqual(['1acme/tiny3 downloads', '2solo1 download']);
    fireEvent.click(within(rows[1]).getByRole('button', { name: 'Show solo' }));
    await waitFor(() => expect(window.location.search).toBe('?view=models&model=solo'));
  });

  it('in Chinese, and on a phone the id with the rest under it', async () => {
    screenWidth(390);
    serve(() => [tiny, small]);
    renderAt('?view=models', 'zh');
    await screen.findAllByTestId('models-row');
    expect(headers()).toEqual(['模型']);
    const [first, second] = screen.getAllByTestId('models-row');
    expect(within(first).getByTestId('models-narrow-meta')).toHaveTextContent('fill-mask · 1.1 · 3.00 MB');
    expect(within(second).getByTestId('models-narrow-meta')).toHaveTextContent('0.1 · 1.23 MB');
    expect(screen.getByTestId('models-total')).toHaveTextContent('共 2 个模型');
    expect(screen.getByTestId('nav-models')).toHaveTextContent('模型');
    expect(await within(screen.getByTestId('models-ranking')).findByText('下载最多')).toBeInTheDocument();
    expect(await screen.findByText('3 次下载')).toBeInTheDocument();
  });

  it('with nothing published, says how to publish; a search that finds nothing says so', async () => {
    serve(() => [], []);
    const first = renderAt('?view=models');
    const empty = await screen.findByTestId('models-empty');
    expect(empty).toHaveTextContent('No model published yet');
    const command = within(empty).getByTestId('models-import-command');
    expect(command).toHaveTextContent(/^ferry models import DIR --id org\/name --version V$/);
    expect(within(command).getByRole('button', { name: /copy/i })).toBeInTheDocument();
    expect(await screen.findByTestId('models-ranking-none')).toHaveTextContent('Nothing downloaded yet');
    first.unmount();

    const datasets = renderAt('?view=models&kind=datasets', 'zh');
    expect(await screen.findByTestId('models-empty')).toHaveTextContent('还没有发布任何数据集');
    expect(screen.getByTestId('models-import-command')).toHaveTextContent('ferry models import DIR --id org/name --version V --dataset');
    datasets.unmount();

    renderAt('?view=models&q=zzz');
    expect(await screen.findByText('Nothing matches')).toBeInTheDocument();
    expect(screen.queryByTestId('models-empty')).not.toBeInTheDocument();
  });

  it('writes the search and the datasets toggle to the URL; back brings them back', async () => {
    const server = serve((kind, q) => {
      const all = kind === 'models' ? [tiny, small] : [reviews];
      const search = q.get('search');
      return search ? all.filter((m) => m.id.includes(search)) : all;
    });
    renderAt('?view=models');
    await waitFor(() => expect(ids()).toEqual(['acme/tiny', 'solo']));

    const search = screen.getByTestId('models-search');
    fireEvent.change(search, { target: { value: ' tiny ' } });
    fireEvent.keyDown(search, { key: 'Enter', code: 'Enter', keyCode: 13 });
    await waitFor(() => expect(window.location.search).toBe('?view=models&q=tiny'));
    await waitFor(() => expect(ids()).toEqual(['acme/tiny']));
    expect(listed(server).at(-1)).toBe('/api/models?search=tiny&page=1&limit=20');

    fireEvent.click(within(screen.getByTestId('models-kind')).getByText('Datasets'));
    await waitFor(() => expect(window.location.search).toBe('?view=models&kind=datasets&q=tiny'));
    await waitFor(() => expect(listed(server).at(-1)).toBe('/api/datasets?search=tiny&page=1&limit=20'));
    expect(await screen.findByText('Nothing matches')).toBeInTheDocument();
    expect(screen.getByTestId('models-list')).toHaveAttribute('data-kind', 'datasets');
    expect(screen.queryByTestId('models-ranking')).not.toBeInTheDocument();

    fireEvent.click(screen.getByRole('button', { name: 'close-circle' }));
    await waitFor(() => expect(window.location.search).toBe('?view=models&kind=datasets'));
    await waitFor(() => expect(ids()).toEqual(['acme/reviews']));

    await act(async () => window.history.back());
    await waitFor(() => expect(window.location.search).toBe('?view=models&kind=datasets&q=tiny'));
    expect(screen.getByTestId('models-search')).toHaveValue('tiny');
    await act(async () => window.history.back());
    await waitFor(() => expect(window.location.search).toBe('?view=models&q=tiny'));
    await waitFor(() => expect(ids()).toEqual(['acme/tiny']));
    expect(await screen.findByTestId('models-ranking')).toBeInTheDocument();
  });
});

describe('ModelsPage: a model', () => {
  it('opens one: its versions newest first, the commit of each, its files, the huggingface_hub snippet', async () => {
    const server = serve(() => [tiny, small]);
    renderAt('?view=models&q=tiny');
    await screen.findAllByTestId('models-row');
    const open = within(screen.getAllByTestId('models-row')[0]).getByTestId('models-open');
    expect(open).toHaveAccessibleName('Show acme/tiny');
    fireEvent.click(open);
    await waitFor(() => expect(window.location.search).toBe('?view=models&q=tiny&model=acme/tiny'));
    const view = await screen.findByTestId('models-detail');
    await within(view).findByTestId('models-detail-id');
    // the id's slash a slash: the route takes the id as a path
    expect(server.asked).toContain('/api/models/acme/tiny');
    expect(within(view).getByTestId('models-detail-id')).toHaveTextContent('acme/tiny');
    expect(within(view).getByTestId('models-detail-name')).toHaveTextContent('Tiny BERT');
    expect(within(view).getByTestId('models-stats')).toHaveTextContent('default 1.1');
    expect(within(view).getByTestId('models-stats')).toHaveTextContent('fill-mask');
    expect(within(view).getByTestId('models-stats')).toHaveTextContent('2 versions · 3.00 MB · Updated');

    const versions = within(view).getAllByTestId('models-version');
    expect(versions.map((v) => v.dataset.version)).toEqual(['1.1', '1.0']);
    expect(versions[0]).toHaveTextContent('1.1default3 files · 3.00 MB · published');
    expect(versions[0]).toHaveTextContent('Commit 1234567890ab');
    expect(versions[1]).toHaveTextContent('Commit aaaaaaaaaaaa');
    // the default version open: its whole commit to copy, its files
    const commit = within(view).getByTestId('models-commit');
    expect(commit).toHaveAttribute('data-commit', COMMIT_NEW);
    expect(commit).toHaveTextContent(COMMIT_NEW);
    expect(within(commit).getByRole('button', { name: /copy/i })).toBeInTheDocument();
    const files = within(view).getAllByTestId('models-file');
    expect(files.map((f) => f.dataset.path)).toEqual(['config.json', 'model.safetensors', 'tokenizer/vocab.txt']);
    expect(within(files[1]).getByTestId('models-file-size')).toHaveTextContent('3.00 MB');
    const sha = within(files[1]).getByTestId('models-file-sha256');
    expect(sha).toHaveTextContent(/^fedcba987654$/);
    expect(sha).toHaveAttribute('data-sha256', SHA_B);
    expect(within(sha).getByRole('button', { name: /copy/i })).toBeInTheDocument();
    const link = within(files[2]).getByTestId('models-file-download');
    expect(link).toHaveAttribute('href', '/storage/models/acme/tiny/1.1/tokenizer/vocab.txt');
    expect(link).toHaveAccessibleName('Download tokenizer/vocab.txt (4 B)');

    const snippet = within(view).getByTestId('models-hub-snippet');
    expect(snippet).toHaveTextContent(
      `HF_ENDPOINT=http://localhost:3000 HF_TOKEN=<your token> python -c "from huggingface_hub import snapshot_download; snapshot_download('acme/tiny')"`,
    );
    expect(within(snippet).getByRole('button', { name: /copy/i })).toBeInTheDocument();
    // the token's place, never the token
    expect(view).not.toHaveTextContent(TOKEN);

    // the other version's files, on asking
    fireEvent.click(versions[1]);
    await waitFor(() => expect(within(view).getAllByTestId('models-file')).toHaveLength(4));
    expect(within(view).getAllByTestId('models-commit').map((c) => c.dataset.commit)).toEqual([COMMIT_NEW, COMMIT_OLD]);

    fireEvent.click(within(view).getByTestId('models-back'));
    await waitFor(() => expect(window.location.search).toBe('?view=models&q=tiny'));
    await screen.findAllByTestId('models-row');
  });

  it('downloads a file with the token, into a file of its name', async () => {
    const server = serve();
    const blobs: Blob[] = [];
    const saved: { href: string; download: string }[] = [];
    URL.createObjectURL = vi.fn((blob: Blob) => {
      blobs.push(blob);
      return `blob:http://localhost:3000/${blobs.length}`;
    });
    URL.revokeObjectURL = vi.fn();
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push({ href: this.href, download: this.download });
    });
    renderAt('?view=models&model=acme/tiny');
    const view = await screen.findByTestId('models-detail');
    const row = (await within(view).findAllByTestId('models-file')).find((f) => f.dataset.path === 'tokenizer/vocab.txt');
    fireEvent.click(within(row!).getByTestId('models-file-download'));
    await waitFor(() => expect(saved).toEqual([{ href: 'blob:http://localhost:3000/1', download: 'vocab.txt' }]));
    const url = '/storage/models/acme/tiny/1.1/tokenizer/vocab.txt';
    expect(server.asked).toContain(url);
    expect(server.headers.get(url)?.get('Authorization')).toBe(`Bearer ${TOKEN}`);
    expect(blobs[0].size).toBe(4);

    // a file the server no longer has: its refusal, and no file saved
    const other = within(view).getAllByTestId('models-file').find((f) => f.dataset.path === 'config.json');
    fireEvent.click(within(other!).getByTestId('models-file-download'));
    expect(await screen.findByText('model-file-not-found: no such model file')).toBeInTheDocument();
    expect(saved).toHaveLength(1);
  });

  it('a dataset: its files from the Hub route, the snippet with repo_type, in Chinese', async () => {
    const server = serve();
    URL.createObjectURL = vi.fn(() => 'blob:x');
    URL.revokeObjectURL = vi.fn();
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => undefined);
    renderAt('?view=models&kind=datasets&model=acme/reviews', 'zh');
    const view = await screen.findByTestId('models-detail');
    await within(view).findByTestId('models-detail-id');
    expect(view).toHaveTextContent('数据集');
    expect(within(view).getByTestId('models-hub-snippet')).toHaveTextContent(
      `HF_ENDPOINT=http://localhost:3000 HF_TOKEN=<你的令牌> python -c "from huggingface_hub import snapshot_download; snapshot_download('acme/reviews', repo_type='dataset')"`,
    );
    expect(within(view).getByText('用 huggingface_hub 下载')).toBeInTheDocument();
    fireEvent.click(within(view).getByTestId('models-file-download'));
    await waitFor(() => expect(click).toHaveBeenCalledTimes(1));
    const url = '/datasets/acme/reviews/resolve/1.0/data/train.csv';
    expect(server.headers.get(url)?.get('Authorization')).toBe(`Bearer ${TOKEN}`);
    fireEvent.click(within(view).getByTestId('models-back'));
    await waitFor(() => expect(window.location.search).toBe('?view=models&kind=datasets'));
  });

  it('a model the server does not have says so, with the way back', async () => {
    serve();
    renderAt('?view=models&model=acme/none');
    const alert = await screen.findByTestId('models-detail-error');
    expect(alert).toHaveTextContent('This server has no such model');
    expect(alert).toHaveTextContent('Repository acme/none not found');
    fireEvent.click(screen.getByTestId('models-back'));
    await waitFor(() => expect(window.location.search).toBe('?view=models'));
  });
});

describe('the Models page in the URL', () => {
  it('round-trips, leaving out the defaults, and reads nonsense as them', () => {
    const models = { ...DEFAULT_MODELS, kind: 'datasets' as const, q: 'rev', page: 3, size: 50, model: 'acme/reviews' };
    const search = routeToSearch({ view: 'models', taskId: null, models });
    expect(search).toBe('?view=models&kind=datasets&q=rev&page=3&size=50&model=acme/reviews');
    expect(parseRoute(search)).toEqual({ view: 'models', taskId: null, models });
    expect(parseRoute('?view=models&model=acme%2Ftiny').models?.model).toBe('acme/tiny');
    expect(routeToSearch({ view: 'models', taskId: null })).toBe('?view=models');
    for (const bad of ['kind=spaces', 'page=0', 'size=7', `q=${'x'.repeat(101)}`, 'model=a/b/c', 'model=../etc', 'model=-x']) {
      expect(parseRoute(`?view=models&${bad}`).models, bad).toEqual(DEFAULT_MODELS);
    }
  });

  it('tells the CLI and huggingface_hub what they need', () => {
    expect(importCommand('models')).toBe('ferry models import DIR --id org/name --version V');
    expect(hubSnippet('models', 'acme/tiny', 'https://ferry.example', '<your token>')).toBe(
      `HF_ENDPOINT=https://ferry.example HF_TOKEN=<your token> python -c "from huggingface_hub import snapshot_download; snapshot_download('acme/tiny')"`,
    );
  });
});
