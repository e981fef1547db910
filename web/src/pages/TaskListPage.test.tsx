import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { Task, TaskList } from '../api/client';
import { TOKEN_STORAGE_KEY } from '../api/auth';
import { DEFAULT_LIST, parseRoute, routeToSearch } from '../router';
import { FakeWebSocket } from '../test/fakes';
import { renderAt, screenWidth } from '../test/render';

const completed: Task = {
  task_id: 'aaaaaaaa11111111aaaaaaaa11111111',
  status: 'completed',
  files: ['requirements.txt', 'package.json'],
  options: { python_version: '3.12', platforms: ['manylinux_2_28_x86_64'], node_version: '20', os: 'linux', cpu: 'x64' },
  progress: {},
  error: null,
  archive_url: '/api/tasks/aaaaaaaa11111111aaaaaaaa11111111/archive?expires=1&signature=s',
  archive_size: 12_345,
  archive_name: 'ferry-aaaaaaaa1111.zip',
  owner: 'tester',
  project_name: '@demo/web',
  package_count: 1234,
  created_at: '2025-01-01T12:00:00Z',
  updated_at: '2025-01-01T12:05:00Z',
  started_at: '2025-01-01T12:00:01Z',
  completed_at: '2025-01-01T12:05:00Z',
};

// no name declared, not analysed yet, only a Python file (the Node options sent anyway)
const resolving: Task = {
  ...completed,
  task_id: 'bbbbbbbb22222222bbbbbbbb22222222',
  status: 'resolving',
  files: ['requirements.txt'],
  archive_url: null,
  archive_size: null,
  archive_name: null,
  project_name: null,
  package_count: null,
};

/** A list endpoint that answers from the query it is sent; every URL asked is kept. */
function listFetch(answer: (q: URLSearchParams) => Partial<TaskList>) {
  const asked: string[] = [];
  const mock = vi.fn(async (input: RequestInfo | URL) => {
    const url = String(input);
    asked.push(url);
    const [path, query = ''] = url.split('?');
    if (path !== '/api/tasks') return new Response('{}', { status: 404, headers: { 'content-type': 'application/json' } });
    const q = new URLSearchParams(query);
    const body = { tasks: [], total: 0, page: Number(q.get('page')), size: Number(q.get('size')), ...answer(q) };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  });
  vi.stubGlobal('fetch', mock);
  return asked;
}

beforeEach(() => {
  FakeWebSocket.instances = [];
  vi.stubGlobal('WebSocket', FakeWebSocket);
  window.localStorage.setItem(TOKEN_STORAGE_KEY, 'ferry_test-token');
  screenWidth(1400);
});

afterEach(() => {
  vi.unstubAllGlobals();
  window.history.replaceState(null, '', '/');
});

describe('TaskListPage', () => {
  it('tells tasks apart: project, target, packages, status, created, the archive link, the total', async () => {
    listFetch(() => ({ tasks: [completed, resolving], total: 2 }));
    renderAt('?view=tasks');
    const rows = await screen.findAllByTestId('task-row');
    expect(rows).toHaveLength(2);
    const headers = [...document.querySelectorAll('.ant-table-thead th')].map((th) => th.textContent);
    expect(headers).toEqual(['Project', 'Target', 'Packages', 'Status', 'Created', 'Archive', 'Actions']);

    const [first, second] = rows;
    expect(within(first).getByTestId('task-project')).toHaveTextContent('@demo/web');
    expect(within(first).getByTestId('task-project').dataset.declared).toBe('true');
    expect(within(first).getByText('aaaaaaaa')).toBeInTheDocument(); // the short id beside it
    expect(within(first).getByTestId('task-target')).toHaveTextContent(
      'Python 3.12 · manylinux_2_28_x86_64Node 20 · linux · x64',
    );
    expect(within(first).getByTestId('task-packages')).toHaveTextContent('1,234');
    expect(within(first).getByTestId('task-row-status')).toHaveTextContent('completed');
    const link = within(first).getByTestId('task-archive-link');
    expect(link).toHaveAttribute('href', completed.archive_url);
    expect(link).toHaveAttribute('download', 'ferry-aaaaaaaa1111.zip');
    expect(link).toHaveTextContent('12.3 kB');
    expect(link).toHaveAccessibleName('Download ferry-aaaaaaaa1111.zip, 12.3 kB');

    // no declared name: the first file; no Node target for a Python-only upload; no count yet
    expect(within(second).getByTestId('task-project')).toHaveTextContent('requirements.txt');
    expect(within(second).getByTestId('task-project').dataset.declared).toBe('false');
    expect(within(second).getByTestId('task-target')).toHaveTextContent('Python 3.12 · manylinux_2_28_x86_64');
    expect(within(second).getByTestId('task-target')).not.toHaveTextContent('Node');
    expect(within(second).getByTestId('task-packages')).toHaveTextContent('—');
    expect(within(second).queryByTestId('task-archive-link')).toBeNull();

    expect(screen.getByTestId('task-total')).toHaveTextContent('2 tasks');
  });

  it('says "1 task", and the Chinese total', async () => {
    listFetch(() => ({ tasks: [completed], total: 1 }));
    const first = renderAt('?view=tasks');
    expect(await screen.findByTestId('task-total')).toHaveTextContent(/^1 task$/);
    first.unmount();
    listFetch(() => ({ tasks: [completed, resolving], total: 2 }));
    renderAt('?view=tasks', 'zh');
    expect(await screen.findByTestId('task-total')).toHaveTextContent('共 2 个任务');
    const headers = [...document.querySelectorAll('.ant-table-thead th')].map((th) => th.textContent);
    expect(headers.slice(0, 3)).toEqual(['项目', '目标机器', '包数量']);
  });

  it("says a failed load or delete in the reader's language, the code as it is", async () => {
    const problem = (status: number, code: string, message: string, params: Record<string, string>) =>
      new Response(JSON.stringify({ type: `urn:ferry:${code}`, title: message, status, code, message, params }), {
        status,
        headers: { 'content-type': 'application/problem+json' },
      });
    let listFails = true;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = String(input);
        if (init?.method === 'DELETE') {
          return problem(404, 'task-not-found', `no task ${completed.task_id}`, { task_id: completed.task_id });
        }
        if (url.startsWith('/api/tasks?')) {
          if (listFails) return problem(500, 'internal-error', 'the server failed; the error is in its log', {});
          return new Response(JSON.stringify({ tasks: [completed], total: 1, page: 1, size: 20 }), {
            status: 200,
            headers: { 'content-type': 'application/json' },
          });
        }
        return new Response('{}', { status: 404, headers: { 'content-type': 'application/json' } });
      }),
    );
    renderAt('?view=tasks', 'zh');
    expect(await screen.findByTestId('task-list-error')).toHaveTextContent('服务器出错；错误信息已写入服务器日志');

    listFails = false;
    fireEvent.click(screen.getByTestId('task-list-refresh'));
    const row = await screen.findByTestId('task-row');
    expect(screen.queryByTestId('task-list-error')).toBeNull();
    fireEvent.click(within(row).getByTestId('task-delete'));
    fireEvent.click(await screen.findByTestId('task-delete-confirm'));
    expect(await screen.findByText(`task-not-found: 任务 ${completed.task_id} 不存在`)).toBeInTheDocument();
  });

  it('on a phone keeps the project, status and actions', async () => {
    screenWidth(390);
    listFetch(() => ({ tasks: [completed], total: 1 }));
    renderAt('?view=tasks');
    await screen.findByTestId('task-row');
    const headers = [...document.querySelectorAll('.ant-table-thead th')].map((th) => th.textContent);
    expect(headers).toEqual(['Project', 'Status', 'Actions']);
  });

  it('reads the filter and page from the URL', async () => {
    const asked = listFetch(() => ({ tasks: [completed], total: 120 }));
    renderAt('?view=tasks&status=completed&page=2&size=50');
    await screen.findByTestId('task-row');
    expect(asked).toEqual(['/api/tasks?page=2&size=50&status=completed']);
    expect(screen.getByTestId('status-filter')).toHaveTextContent('completed');
    expect(document.querySelector('.ant-pagination-item-active')).toHaveTextContent('2');
  });

  it('reads nonsense in the URL as the defaults', async () => {
    const asked = listFetch(() => ({ tasks: [completed], total: 1 }));
    renderAt('?view=tasks&status=bogus&page=-3&size=7');
    await screen.findByTestId('task-row');
    expect(asked).toEqual(['/api/tasks?page=1&size=20']);
    expect(screen.getByTestId('status-filter')).toHaveTextContent('All statuses');
  });

  it('writes the filter and page to the URL; back and forward bring them back', async () => {
    const asked = listFetch((q) => ({
      tasks: [{ ...completed, task_id: `${q.get('status') ?? 'any'}-${q.get('page')}` }],
      total: 45,
    }));
    renderAt('?view=tasks');
    await screen.findByTestId('task-row');

    // the filter: a new history entry, back to page 1
    fireEvent.mouseDown(within(screen.getByTestId('status-filter')).getByRole('combobox'));
    fireEvent.click(await screen.findByTitle('failed'));
    await waitFor(() => expect(window.location.search).toBe('?view=tasks&status=failed'));
    await waitFor(() => expect(screen.getByTestId('task-row').dataset.taskId).toBe('failed-1'));

    // the page
    fireEvent.click(screen.getByTitle('2'));
    await waitFor(() => expect(window.location.search).toBe('?view=tasks&status=failed&page=2'));
    await waitFor(() => expect(screen.getByTestId('task-row').dataset.taskId).toBe('failed-2'));
    expect(asked.at(-1)).toBe('/api/tasks?page=2&size=20&status=failed');

    // back: page 1 of the filter; back again: no filter; forward: the filter again
    await act(async () => window.history.back());
    await waitFor(() => expect(window.location.search).toBe('?view=tasks&status=failed'));
    await waitFor(() => expect(screen.getByTestId('task-row').dataset.taskId).toBe('failed-1'));
    await act(async () => window.history.back());
    await waitFor(() => expect(screen.getByTestId('task-row').dataset.taskId).toBe('any-1'));
    expect(screen.getByTestId('status-filter')).toHaveTextContent('All statuses');
    await act(async () => window.history.forward());
    await waitFor(() => expect(screen.getByTestId('task-row').dataset.taskId).toBe('failed-1'));
    expect(screen.getByTestId('status-filter')).toHaveTextContent('failed');
  });

  it('goes to the last page when the URL names one past the end', async () => {
    const asked = listFetch((q) => ({ tasks: Number(q.get('page')) <= 3 ? [completed] : [], total: 45 }));
    renderAt('?view=tasks&page=9');
    await waitFor(() => expect(window.location.search).toBe('?view=tasks&page=3'));
    await screen.findByTestId('task-row');
    expect(asked).toEqual(['/api/tasks?page=9&size=20', '/api/tasks?page=3&size=20']);
  });
});

describe('the list in the URL', () => {
  it('round-trips, leaving out the defaults', () => {
    const list = { status: 'paused' as const, page: 7, size: 100 };
    expect(routeToSearch({ view: 'tasks', taskId: null, list })).toBe('?view=tasks&status=paused&page=7&size=100');
    expect(parseRoute('?view=tasks&status=paused&page=7&size=100')).toEqual({ view: 'tasks', taskId: null, list });
    expect(routeToSearch({ view: 'tasks', taskId: null })).toBe('?view=tasks');
    expect(routeToSearch({ view: 'tasks', taskId: null, list: DEFAULT_LIST })).toBe('?view=tasks');
    for (const bad of ['page=0', 'page=2.5', 'page=1e3', 'page=99999999', 'size=30', 'status=COMPLETED']) {
      expect(parseRoute(`?view=tasks&${bad}`).list, bad).toEqual(DEFAULT_LIST);
    }
    // a task in the URL wins over the list
    expect(parseRoute('?view=tasks&task=t1&page=2')).toEqual({ view: 'task', taskId: 't1' });
  });
});
