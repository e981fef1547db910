/**
 * The URL is the state that survives a reload: `?task=<id>` opens a task (and its socket
 * reconnects), `?view=tasks` the task list, nothing the upload step.
 */
import { useCallback, useEffect, useState } from 'react';

export interface Route {
  view: 'task' | 'tasks';
  taskId: string | null;
}

export function parseRoute(search: string): Route {
  const params = new URLSearchParams(search);
  const taskId = params.get('task');
  if (params.get('view') === 'tasks' && !taskId) return { view: 'tasks', taskId: null };
  return { view: 'task', taskId: taskId && taskId.trim() ? taskId.trim() : null };
}

export function routeToSearch(route: Route): string {
  if (route.view === 'tasks') return '?view=tasks';
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
