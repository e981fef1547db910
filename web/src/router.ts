/**
 * The URL is the state that survives a reload: `?task=<id>` opens a task (and its socket
 * reconnects), `?view=tasks` the task list, nothing the upload step. The list's filter
 * and page ride along (`?view=tasks&status=completed&page=2&size=50`), so reload and
 * back/forward bring them back; a value that makes no sense is read as the default.
 */
import { useCallback, useEffect, useState } from 'react';
import { TASK_STATUSES } from './api/client';
import type { TaskStatus } from './api/client';

/** The task list's status filter and page. */
export interface ListQuery {
  status: TaskStatus | null;
  page: number;
  size: number;
}

export const PAGE_SIZES = [10, 20, 50, 100] as const;
export const DEFAULT_LIST: ListQuery = { status: null, page: 1, size: 20 };
// the server's own bound on `page`
const MAX_PAGE = 1_000_000;

export interface Route {
  view: 'task' | 'tasks';
  taskId: string | null;
  /** The list's filter and page (view 'tasks' only); left out: the defaults. */
  list?: ListQuery;
}

function wholeNumber(raw: string | null): number | null {
  // digits only: "2abc", "1e3", " 2" and "-1" are not pages
  return raw !== null && /^[1-9][0-9]{0,6}$/.test(raw) ? Number(raw) : null;
}

export function parseListQuery(params: URLSearchParams): ListQuery {
  const status = params.get('status');
  const page = wholeNumber(params.get('page'));
  const size = wholeNumber(params.get('size'));
  return {
    status: TASK_STATUSES.find((s) => s === status) ?? DEFAULT_LIST.status,
    page: page !== null && page <= MAX_PAGE ? page : DEFAULT_LIST.page,
    size: PAGE_SIZES.find((s) => s === size) ?? DEFAULT_LIST.size,
  };
}

export function parseRoute(search: string): Route {
  const params = new URLSearchParams(search);
  const taskId = params.get('task');
  if (params.get('view') === 'tasks' && !taskId) {
    return { view: 'tasks', taskId: null, list: parseListQuery(params) };
  }
  return { view: 'task', taskId: taskId && taskId.trim() ? taskId.trim() : null };
}

export function routeToSearch(route: Route): string {
  if (route.view === 'tasks') {
    const list = route.list ?? DEFAULT_LIST;
    const params = new URLSearchParams({ view: 'tasks' });
    // only what differs from the default: the plain list stays `?view=tasks`
    if (list.status) params.set('status', list.status);
    if (list.page !== DEFAULT_LIST.page) params.set('page', String(list.page));
    if (list.size !== DEFAULT_LIST.size) params.set('size', String(list.size));
    return `?${params.toString()}`;
  }
  if (route.taskId) return `?task=${encodeURIComponent(route.taskId)}`;
  return '';
}

export function useRoute(): [Route, (next: Route, replace?: boolean) => void] {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.search));
  useEffect(() => {
    const onPop = () => setRoute(parseRoute(window.location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((next: Route, replace = false) => {
    const url = `${window.location.pathname}${routeToSearch(next)}${window.location.hash}`;
    if (replace) window.history.replaceState(null, '', url);
    else window.history.pushState(null, '', url);
    setRoute(next);
    window.scrollTo?.(0, 0);
  }, []);
  return [route, navigate];
}
