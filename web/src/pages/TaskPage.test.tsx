import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { Dependencies, Task } from '../api/client';
import { App } from '../App';
import { TOKEN_STORAGE_KEY } from '../api/auth';
import { I18nProvider } from '../i18n';
import type { Lang } from '../i18n';
import { FakeWebSocket, fakeFetch, npmPackage, pythonPackage } from '../test/fakes';

const baseTask: Task = {
  task_id: 't1',
  status: 'resolved',
  files: ['requirements.txt', 'package.json'],
  options: { npm: true, pypi: true },
  progress: {},
  error: null,
  archive_url: null,
  owner: 'tester',
  archive_size: null,
  created_at: '2025-01-01T12:00:00Z',
  updated_at: '2025-01-01T12:00:01Z',
  started_at: null,
  completed_at: null,
};

const deps: Dependencies = {
  task_id: 't1',
  python: {
    ecosystem: 'pypi',
    targets: [
      {
        target: { key: 'cp312-win_amd64', python: '3.12', platform: 'win_amd64', implementation: 'cp' },
        count: 2,
        total_bytes: 2000,
        packages: [
          pythonPackage({ name: 'flask', version: '3.0.3', filename: 'flask.whl', size: 1000 }),
          pythonPackage({ name: 'click', version: '8.1.7', filename: 'click.whl', size: 1000, yanked: 'bad' }),
        ],
        edges: [
          { parent: null, child: 'flask', specifier: '', extras: [], origin: 'requirements.txt' },
          { parent: 'flask', child: 'click', specifier: '>=8', extras: [], origin: null },
        ],
        problems: [{ severity: 'warning', kind: 'yanked', message: 'click 8.1.7 is yanked: bad', package: 'click', target: 'cp312-win_amd64', chain: [] }],
      },
    ],
    file_count: 2,
    total_bytes: 2000,
    problems: [{ severity: 'warning', kind: 'yanked', message: 'click 8.1.7 is yanked: bad', package: 'click', target: 'cp312-win_amd64', chain: [] }],
  },
  npm: {
    ecosystem: 'npm',
    lock_generated: false,
    target: { key: 'node20-linux-x64-glibc', node: '20', os: 'linux', cpu: 'x64', libc: 'glibc' },
    root: { name: 'app', version: '1.0.0' },
    count: 1,
    total_bytes: 500,
    packages: [npmPackage({ name: 'left-pad', version: '1.3.0', size: 500, deprecated: 'old' })],
    excluded: [],
    tree: [{ name: 'left-pad', version: '1.3.0', spec: '^1', children: [] }],
    problems: [{ severity: 'warning', kind: 'deprecated', message: 'left-pad@1.3.0 is deprecated: old', package: 'left-pad', target: 'node20-linux-x64-glibc', chain: [] }],
  },
};

function renderAt(search: string, lang: Lang = 'en') {
  window.history.replaceState(null, '', `/${search}`);
  return render(
    <I18nProvider initial={lang}>
      <App />
    </I18nProvider>,
  );
}

beforeEach(() => {
  FakeWebSocket.instances = [];
  vi.stubGlobal('WebSocket', FakeWebSocket);
  window.localStorage.setItem(TOKEN_STORAGE_KEY, 'ferry_test-token');
});

afterEach(() => {
  vi.unstubAllGlobals();
  window.history.replaceState(null, '', '/');
});

describe('TaskPage', () => {
  it('starts at the upload step with the target options', () => {
    vi.stubGlobal('fetch', fakeFetch({}));
    renderAt('');
    expect(screen.getByTestId('step-content').getAttribute('data-step')).toBe('0');
    expect(screen.getByTestId('upload-dragger')).toBeInTheDocument();
    expect(screen.getByTestId('target-options')).toBeInTheDocument();
    expect(screen.queryByTestId('log-panel')).toBeNull();
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it('offers the groups the chosen files declare and names a broken file at once', async () => {
    let created: FormData | null = null;
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'POST /api/manifests/declared': () => ({
          status: 200,
          body: {
            groups: [
              { name: 'docs', ecosystem: 'pypi', files: ['pyproject.toml'] },
              { name: 'dev', ecosystem: 'npm', files: ['package.json'] },
            ],
            errors: [{ code: 'manifest-invalid', message: 'requirements.txt:2: bad', file: 'requirements.txt', line: 2, reason: 'not a requirement' }],
          },
        }),
        'POST /api/tasks': (init) => {
          created = init.body as FormData;
          // an id no other test opens: this page remembers the files of the tasks it makes
          return { status: 201, body: { task_id: 't-declared', status: 'created', files: [], created_at: '2025-01-01T00:00:00Z' } };
        },
      }),
    );
    // a group remembered from an earlier project that these files do not declare
    window.localStorage.setItem('ferry.targetOptions', JSON.stringify({ groups: ['lint'] }));
    renderAt('');
    const input = screen.getByTestId('upload-dragger').querySelector('input[type="file"]') as HTMLInputElement;
    fireEvent.change(input, {
      target: {
        files: [
          new File(['[project]\nname = "x"\n'], 'pyproject.toml'),
          new File(['{}'], 'package.json'),
          new File(['dep\nbad line\n'], 'requirements.txt'),
        ],
      },
    });
    const warning = await screen.findByTestId('upload-check-error');
    expect(warning).toHaveTextContent('requirements.txt, line 2');
    expect(warning).toHaveTextContent('not a requirement');
    // offered, not typed: the choices are the declared names, with the files declaring them
    const select = screen.getByTestId('option-groups').closest('.ant-select')!;
    fireEvent.mouseDown(select.querySelector('.ant-select-selector')!);
    const titles = Array.from(document.querySelectorAll('.ant-select-item-option')).map((el) => el.getAttribute('title'));
    expect(titles).toEqual(expect.arrayContaining(['docs (pyproject.toml)', 'dev (package.json)']));
    expect(titles).not.toContain('lint');
    fireEvent.click(document.querySelector('.ant-select-item-option[title="docs (pyproject.toml)"]')!);
    fireEvent.click(screen.getByTestId('submit-button'));
    await waitFor(() => expect(created).not.toBeNull());
    const options = JSON.parse(String(created!.get('options')));
    // the remembered "lint" is not sent: the files do not declare it
    expect(options.groups).toEqual(['docs']);
    window.localStorage.removeItem('ferry.targetOptions');
  });

  it('shows the analysis from the URL: trees, counts, problems; a problem selects its node; start downloads', async () => {
    let started = false;
    const fetchMock = fakeFetch({
      'GET /api/tasks/t1': () => ({ status: 200, body: { ...baseTask, status: started ? 'downloading' : 'resolved' } }),
      'GET /api/tasks/t1/dependencies': () => ({ status: 200, body: deps }),
      'POST /api/tasks/t1/download': () => {
        started = true;
        return { status: 202, body: { ...baseTask, status: 'downloading' } };
      },
    });
    vi.stubGlobal('fetch', fetchMock);
    renderAt('?task=t1');
    expect(FakeWebSocket.latest().url).toMatch(/\/ws\/tasks\/t1$/);

    await screen.findByTestId('analyse-view');
    expect(screen.getByTestId('step-content').getAttribute('data-step')).toBe('1');
    // the target, from what was resolved, always in view
    expect(screen.getByTestId('target-header')).toHaveTextContent(
      'Python 3.12 · win_amd64 | Node 20 · linux · x64 · glibc',
    );
    expect(screen.getByTestId('stats-npm')).toHaveTextContent('1');
    expect(screen.getByTestId('stats-pypi')).toHaveTextContent('2.00 kB');
    expect(screen.getByTestId('dependency-tree-npm')).toBeInTheDocument();
    expect(screen.getByTestId('dependency-tree-pypi-cp312-win_amd64')).toBeInTheDocument();
    expect(screen.getAllByTestId('problem-item')).toHaveLength(2);

    // the Python tree's roots are open: click is visible with its yanked tag
    const pyTree = screen.getByTestId('dependency-tree-pypi-cp312-win_amd64');
    fireEvent.click(within(pyTree).getByTestId('tree-collapse-all-pypi-cp312-win_amd64'));
    expect(pyTree.querySelector('[data-name="click"]')).toBeNull();
    const clickProblem = screen.getAllByTestId('problem-item').find((el) => el.getAttribute('data-package') === 'click')!;
    fireEvent.click(clickProblem);
    await waitFor(() =>
      expect(pyTree.querySelector('.ant-tree-node-selected [data-testid="tree-node"]')?.getAttribute('data-name')).toBe('click'),
    );

    fireEvent.click(screen.getByTestId('start-download'));
    await waitFor(() => expect(screen.getByTestId('step-content').getAttribute('data-step')).toBe('2'));
    expect(fetchMock).toHaveBeenCalledWith('/api/tasks/t1/download', expect.objectContaining({ method: 'POST' }));
    expect(screen.getByTestId('pause-button')).toBeInTheDocument();
    expect(screen.getByTestId('cancel-button')).toBeInTheDocument();
  });

  it('shows live progress, speed, ETA and the log from the socket', async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'GET /api/tasks/t1': () => ({ status: 200, body: { ...baseTask, status: 'downloading' } }),
        'GET /api/tasks/t1/dependencies': () => ({ status: 200, body: deps }),
      }),
    );
    renderAt('?task=t1');
    await screen.findByTestId('download-panel');
    act(() => {
      const ws = FakeWebSocket.latest();
      ws.open();
      ws.receive({ type: 'status', status: 'downloading' });
      ws.receive({ type: 'progress', ecosystem: 'pypi', current: 1, total: 2, bytes_done: 1000, bytes_total: 2000, speed: 500, eta: 2 });
      ws.receive({ type: 'progress', ecosystem: 'npm', current: 0, total: 1, bytes_done: 0, bytes_total: 500 });
      ws.receive({ type: 'log', message: 'fetched flask.whl', ecosystem: 'pypi' });
    });
    // the row is there from the start (the analysis's); wait for the socket's numbers
    await waitFor(() => expect(screen.getByTestId('progress-pypi').getAttribute('data-percent')).toBe('50'));
    expect(screen.getByTestId('progress-pypi-files')).toHaveTextContent('Files 1 / 2');
    expect(screen.getByTestId('progress-pypi-bytes')).toHaveTextContent('1.00 kB / 2.00 kB');
    expect(screen.getByTestId('progress-pypi-speed')).toHaveTextContent('500 B/s');
    expect(screen.getByTestId('progress-pypi-eta')).toHaveTextContent('0:02');
    expect(screen.getByTestId('progress-npm')).toBeInTheDocument();
    expect(within(screen.getByTestId('log-panel')).getByText(/fetched flask\.whl/)).toBeInTheDocument();
  });

  it("shows every ecosystem's row from the start, with the analysis's totals", async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'GET /api/tasks/t1': () => ({ status: 200, body: { ...baseTask, status: 'downloading' } }),
        'GET /api/tasks/t1/dependencies': () => ({ status: 200, body: deps }),
      }),
    );
    renderAt('?task=t1');
    await screen.findByTestId('download-panel');
    // before any report: both rows, waiting, totals from the analysis
    await waitFor(() => expect(screen.getByTestId('progress-npm')).toBeInTheDocument());
    expect(screen.getByTestId('progress-pypi').getAttribute('data-state')).toBe('waiting');
    expect(screen.getByTestId('progress-npm').getAttribute('data-state')).toBe('waiting');
    expect(screen.getByTestId('progress-pypi-files')).toHaveTextContent('Files 0 / 2');
    expect(screen.getByTestId('progress-pypi-bytes')).toHaveTextContent('0 B / 2.00 kB');
    expect(screen.getByTestId('progress-npm-bytes')).toHaveTextContent('0 B / 500 B');
    expect(screen.getByTestId('progress-npm-waiting')).toHaveTextContent('waiting');
    act(() => {
      const ws = FakeWebSocket.latest();
      ws.open();
      ws.receive({ type: 'status', status: 'downloading' });
      ws.receive({ type: 'progress', ecosystem: 'npm', phase: 'waiting', current: 0, total: 1, bytes_done: 0, bytes_total: 500 });
      // the engine's numbers: one file in the store already, one fetching at 500 B/s
      ws.receive({ type: 'progress', ecosystem: 'pypi', phase: 'fetching pypi', current: 1, total: 2, bytes_done: 1500, bytes_total: 2000, speed: 500, eta: 1 });
    });
    await waitFor(() => expect(screen.getByTestId('progress-pypi').getAttribute('data-state')).toBe('fetching'));
    expect(screen.getByTestId('progress-pypi').getAttribute('data-percent')).toBe('75');
    expect(screen.getByTestId('progress-npm').getAttribute('data-state')).toBe('waiting');
    // what is left of both rows (500 + 500 bytes) at 500 B/s
    expect(screen.getByTestId('progress-eta-total')).toHaveTextContent('All done in about 0:02');
  });

  it('offers the archive when complete', async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'GET /api/tasks/t1': () => ({
          status: 200,
          body: {
            ...baseTask,
            status: 'completed',
            archive_url: '/api/tasks/t1/archive',
            archive_size: 5_000_000,
            archive_name: 'ferry-t1.tar.zst',
            archive_sha256: 'ab'.repeat(32),
            expires_at: '2025-01-08T12:00:00Z',
            progress: { pypi: { total: 2, completed: 2, failed: 0, failed_packages: [], bytes_done: 2000, bytes_total: 2000 } },
          },
        }),
        'GET /api/tasks/t1/dependencies': () => ({ status: 200, body: deps }),
      }),
    );
    renderAt('?task=t1');
    const button = await screen.findByTestId('download-button');
    expect(button.getAttribute('href')).toBe('/api/tasks/t1/archive');
    expect(screen.getByTestId('archive-size')).toHaveTextContent('5.00 MB');
    expect(screen.getByTestId('progress-pypi').getAttribute('data-percent')).toBe('100');
    // carrying it across: name, digest, the check and the install for the target's systems
    expect(screen.getByTestId('archive-name')).toHaveTextContent('ferry-t1.tar.zst');
    expect(screen.getByTestId('archive-sha256')).toHaveTextContent('ab'.repeat(32));
    expect(screen.getByTestId('archive-check')).toHaveTextContent('sha256sum ferry-t1.tar.zst');
    // the analysis targets win_amd64 (Python) and linux (Node): both installers
    expect(screen.getByTestId('archive-install-sh')).toHaveTextContent('tar --zstd -xf ferry-t1.tar.zst && sh bundle/install.sh');
    expect(screen.getByTestId('archive-install-ps1')).toHaveTextContent('install.ps1');
    expect(screen.getByTestId('archive-expires')).toHaveTextContent('2025');
  });

  it('lists failed files and retries', async () => {
    let retried = false;
    const fetchMock = fakeFetch({
      'GET /api/tasks/t1': () => ({
        status: 200,
        body: {
          ...baseTask,
          status: retried ? 'downloading' : 'failed',
          error: retried ? null : { code: 'fetch-failed', message: '1 file failed' },
          progress: {
            npm: { total: 1, completed: 0, failed: 1, failed_packages: [{ name: 'left-pad-1.3.0.tgz', error: 'HTTP 500' }], bytes_done: 0, bytes_total: 500 },
          },
        },
      }),
      'GET /api/tasks/t1/dependencies': () => ({ status: 200, body: deps }),
      'POST /api/tasks/t1/retry': () => {
        retried = true;
        return { status: 202, body: { ...baseTask, status: 'downloading' } };
      },
    });
    vi.stubGlobal('fetch', fetchMock);
    renderAt('?task=t1');
    await screen.findByTestId('failed-list');
    expect(screen.getByTestId('failed-item')).toHaveTextContent('left-pad-1.3.0.tgz');
    expect(screen.getByTestId('task-error')).toHaveTextContent('fetch-failed');
    fireEvent.click(screen.getByTestId('retry-button'));
    await waitFor(() => expect(screen.queryByTestId('retry-button')).toBeNull());
    expect(fetchMock).toHaveBeenCalledWith('/api/tasks/t1/retry', expect.objectContaining({ method: 'POST' }));
    expect(screen.getByTestId('pause-button')).toBeInTheDocument();
  });

  it('shows an analysis failure with file and line', async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'GET /api/tasks/t1': () => ({
          status: 200,
          body: {
            ...baseTask,
            status: 'failed',
            error: { code: 'manifest-invalid', message: 'pyproject.toml:4: bad', file: 'pyproject.toml', line: 4, reason: 'bad' },
          },
        }),
        'GET /api/tasks/t1/dependencies': () => ({ status: 409, body: { code: 'task-not-resolved', message: 'no tree' } }),
      }),
    );
    renderAt('?task=t1');
    const alert = await screen.findByTestId('analyse-error');
    expect(alert).toHaveTextContent('manifest-invalid');
    expect(screen.getByTestId('analyse-error-where')).toHaveTextContent('File pyproject.toml, line 4');
  });

  it("says an analysis failure and what to do next in the reader's language", async () => {
    const reason = "local path '../libs/x.whl': a manifest uploaded to the service cannot name files on the server";
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'GET /api/tasks/t1': () => ({
          status: 200,
          body: {
            ...baseTask,
            status: 'failed',
            error: {
              code: 'requirement-unsupported',
              message: `requirements.txt:2: ${reason}`,
              params: { file: 'requirements.txt', line: '2', reason },
              file: 'requirements.txt',
              line: 2,
              reason,
              hint: 'Put the wheel on an index or web server the operator allows and list it by version or URL; or bundle with the ferry CLI on your own machine.',
              hint_code: 'uploaded-local-path',
              hint_params: {},
            },
          },
        }),
        'GET /api/tasks/t1/dependencies': () => ({ status: 409, body: { code: 'task-not-resolved', message: 'no tree' } }),
      }),
    );
    renderAt('?task=t1', 'zh');
    const alert = await screen.findByTestId('analyse-error');
    expect(alert).toHaveTextContent('requirement-unsupported');
    // Ferry's words in Chinese, the manifest's own text as it was
    expect(within(alert).getByTestId('analyse-error-message')).toHaveTextContent(
      `requirements.txt 第 2 行的依赖无法带到其他机器：${reason}`,
    );
    expect(within(alert).getByTestId('analyse-error-hint')).toHaveTextContent(
      '请把 wheel 放到运维允许的包索引或 Web 服务器上，按版本号或 URL 列出；或者在自己的机器上用 ferry 命令行打包。',
    );
  });

  it('keeps a resolution failure on the analyse step, in the resolver\'s words, and fixes the manifests', async () => {
    const failedDeps: Dependencies = {
      ...deps,
      npm: null,
      python: {
        ...deps.python!,
        problems: [
          {
            severity: 'error',
            kind: 'not-found',
            message: 'Because nonexistent-pkg was not found in the package registry, your requirements are unsatisfiable.',
            package: 'nonexistent-pkg',
            target: 'cp312-win_amd64',
            chain: [],
          },
        ],
      },
    };
    const failed: Task = {
      ...baseTask,
      status: 'failed',
      files: ['requirements.txt'],
      options: { npm: false, pypi: true, python_versions: ['3.11'], platforms: ['win_amd64'] },
      error: {
        code: 'resolution-failed',
        message: 'the manifests cannot be resolved for the target',
        problems: failedDeps.python!.problems,
      },
    };
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'POST /api/tasks': () => ({ status: 201, body: { task_id: 't1', status: 'created' } }),
        'GET /api/tasks/t1': () => ({ status: 200, body: failed }),
        'GET /api/tasks/t1/dependencies': () => ({ status: 200, body: failedDeps }),
        'GET /api/registries': () => ({ status: 200, body: { registries: [] } }),
      }),
    );
    renderAt('');
    const input = screen.getByTestId('upload-dragger').querySelector('input[type="file"]') as HTMLInputElement;
    fireEvent.change(input, { target: { files: [new File(['nonexistent-pkg==1.0\n'], 'requirements.txt')] } });
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(1));
    fireEvent.click(screen.getByTestId('submit-button'));

    const alert = await screen.findByTestId('analyse-error');
    expect(screen.getByTestId('step-content').getAttribute('data-step')).toBe('1');
    expect(alert).toHaveTextContent('resolution-failed');
    expect(screen.getByTestId('analyse-failed')).toHaveTextContent('nonexistent-pkg was not found in the package registry');
    expect(screen.queryByTestId('download-panel')).toBeNull();
    expect(screen.queryByTestId('start-download')).toBeNull();

    fireEvent.click(screen.getByTestId('fix-manifests'));
    await waitFor(() => expect(screen.getByTestId('step-content').getAttribute('data-step')).toBe('0'));
    // the file and the target come back
    expect(screen.getAllByTestId('upload-file').map((el) => el.getAttribute('data-name'))).toEqual(['requirements.txt']);
    expect(screen.getByTestId('target-options')).toHaveTextContent('3.11');
    expect(screen.getByTestId('target-options')).toHaveTextContent('win_amd64');
  });

  it('says what was left out and why, and brings the dev dependencies in with one click', async () => {
    const withLeftOut: Dependencies = {
      ...deps,
      npm: {
        ...deps.npm!,
        excluded: [
          { name: 'vite', version: '5.4.0', os: null, cpu: null, libc: null, reason: 'dev' },
          { name: 'typescript', version: '5.6.2', os: null, cpu: null, libc: null, reason: 'dev' },
          { name: '@esbuild/win32-x64', version: '0.21.5', os: ['win32'], cpu: ['x64'], libc: null, reason: 'platform' },
        ],
      },
    };
    const created: unknown[] = [];
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'GET /api/tasks/t9': () => ({ status: 200, body: { ...baseTask, task_id: 't9' } }),
        'GET /api/tasks/t9/dependencies': () => ({ status: 200, body: withLeftOut }),
        'GET /api/registries': () => ({ status: 200, body: { registries: [] } }),
        'POST /api/tasks': (init) => {
          created.push(init);
          return { status: 201, body: { task_id: 't2', status: 'created' } };
        },
      }),
    );
    renderAt('?task=t9'); // a task this page did not make
    await screen.findByTestId('analyse-view');
    expect(screen.getByTestId('left-out')).toHaveTextContent('2 dev · 1 for other platforms');
    fireEvent.click(screen.getByTestId('left-out-dev'));
    expect(await screen.findByTestId('left-out-list-dev')).toHaveTextContent('vite@5.4.0, typescript@5.6.2');
    // its files are not in this page: chosen again, with the dev group set
    fireEvent.click(screen.getByTestId('include-dev'));
    await waitFor(() => expect(screen.getByTestId('step-content').getAttribute('data-step')).toBe('0'));
    expect(screen.getByTestId('target-options')).toHaveTextContent('dev');
    expect(created).toHaveLength(0);
  });

  it('makes the task again with the dev dependencies at once when this page has its files', async () => {
    const withDev: Dependencies = {
      ...deps,
      npm: { ...deps.npm!, excluded: [{ name: 'vite', version: '5.4.0', os: null, cpu: null, libc: null, reason: 'dev' }] },
    };
    const posted: FormData[] = [];
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'POST /api/tasks': (init) => {
          posted.push(init.body as FormData);
          return { status: 201, body: { task_id: posted.length === 1 ? 't5' : 't6', status: 'created' } };
        },
        'GET /api/tasks/t5': () => ({ status: 200, body: { ...baseTask, task_id: 't5' } }),
        'GET /api/tasks/t5/dependencies': () => ({ status: 200, body: withDev }),
        'GET /api/tasks/t6': () => ({ status: 200, body: { ...baseTask, task_id: 't6', status: 'resolving' } }),
        'GET /api/registries': () => ({ status: 200, body: { registries: [] } }),
      }),
    );
    renderAt('');
    const input = screen.getByTestId('upload-dragger').querySelector('input[type="file"]') as HTMLInputElement;
    fireEvent.change(input, { target: { files: [new File(['{}'], 'package.json')] } });
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(1));
    fireEvent.click(screen.getByTestId('submit-button'));
    fireEvent.click(await screen.findByTestId('include-dev'));
    await waitFor(() => expect(posted).toHaveLength(2));
    const again = posted[1];
    expect((again.getAll('files') as File[]).map((f) => f.name)).toEqual(['package.json']);
    expect(JSON.parse(String(again.get('options'))).groups).toEqual(['dev']);
    await waitFor(() => expect(screen.getByTestId('task-page').getAttribute('data-task-id')).toBe('t6'));
  });

  it('lists tasks with a status filter, opens and deletes them', async () => {
    let deleted = false;
    const fetchMock = fakeFetch({
      'GET /api/tasks': () => ({
        status: 200,
        body: {
          tasks: deleted ? [] : [{ ...baseTask, status: 'completed', archive_size: 1024 }],
          total: deleted ? 0 : 1,
          page: 1,
          size: 20,
        },
      }),
      'DELETE /api/tasks/t1': () => {
        deleted = true;
        return { status: 204 };
      },
      'GET /api/tasks/t1': () => ({ status: 200, body: baseTask }),
      'GET /api/tasks/t1/dependencies': () => ({ status: 200, body: deps }),
    });
    vi.stubGlobal('fetch', fetchMock);
    renderAt('?view=tasks');
    const row = await screen.findByTestId('task-row');
    expect(row.getAttribute('data-task-id')).toBe('t1');
    expect(fetchMock).toHaveBeenCalledWith('/api/tasks?page=1&size=20', expect.anything());

    fireEvent.click(within(row).getByTestId('task-delete'));
    fireEvent.click(await screen.findByTestId('task-delete-confirm'));
    await waitFor(() => expect(screen.queryByTestId('task-row')).toBeNull());
    expect(deleted).toBe(true);

    deleted = false;
    fireEvent.click(screen.getByTestId('task-list-refresh'));
    fireEvent.click(within(await screen.findByTestId('task-row')).getByTestId('task-open'));
    await screen.findByTestId('analyse-view');
    expect(window.location.search).toBe('?task=t1');
  });
});
