/**
 * The URL is the state that survives a reload: `?task=<id>` opens a task (and its socket
 * reconnects), `?view=tasks` the task list, `?view=packages` the package store,
 * `?view=import` the far side's imports, `?view=browse` what its registries hold (with
 * `&ecosystem=npm&package=@scope/name` one package), `?view=models` the model catalog (with
 * `&kind=datasets` the datasets, `&model=org/name` one of them), nothing the upload step.
 * A list's filters, page and sort ride along
 * (`?view=tasks&status=completed&page=2&size=50`,
 * `?view=packages&name=agent&platform=linux&sort=name&order=asc`), so reload and
 * back/forward bring them back; a value that makes no sense is read as the default.
 */
import { useCallback, useEffect, useState } from 'react';
import { ECOSYSTEMS, MODEL_KINDS, PACKAGE_SORTS, SORT_ORDERS, TASK_STATUSES } from './api/client';
import type { Ecosystem, ModelKind, PackageSort, SortOrder, TaskStatus } from './api/client';

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

/** The package list's filters (exact fields, and `q` in name or description), page and sort. */
export interface PackageQuery {
  name: string | null;
  version: string | null;
  platform: string | null;
  arch: string | null;
  q: string | null;
  page: number;
  size: number;
  sort: PackageSort;
  order: SortOrder;
}

export const PACKAGE_FILTERS = ['name', 'version', 'platform', 'arch', 'q'] as const;
export type PackageFilter = (typeof PACKAGE_FILTERS)[number];
export const DEFAULT_PACKAGES: PackageQuery = {
  name: null,
  version: null,
  platform: null,
  arch: null,
  q: null,
  page: 1,
  size: 20,
  sort: 'created',
  order: 'desc',
};
// the server's bound on a filter's length: a longer one could only be refused
const MAX_FILTER = 100;

/** The Browse page: the ecosystem and search, the page, and the package open, if any
 * (a package is named within its ecosystem: `package` needs `ecosystem`). */
export interface BrowseQuery {
  ecosystem: Ecosystem | null;
  q: string | null;
  page: number;
  size: number;
  package: string | null;
}

export const DEFAULT_BROWSE: BrowseQuery = { ecosystem: null, q: null, page: 1, size: 20, package: null };
// npm's longest name; a PyPI name is shorter
const MAX_PACKAGE_NAME = 214;

/** The Models page: models or datasets, the search, the page, and the one open, if any. */
export interface ModelsQuery {
  kind: ModelKind;
  q: string | null;
  page: number;
  size: number;
  model: string | null;
}

export const DEFAULT_MODELS: ModelsQuery = { kind: 'models', q: null, page: 1, size: 20, model: null };
// the Hub's `name` or `org/name` (models/names.py): letters, digits, - _ . in each part
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$/;

export interface Route {
  view: 'task' | 'tasks' | 'packages' | 'import' | 'browse' | 'models';
  taskId: string | null;
  /** The list's filter and page (view 'tasks' only); left out: the defaults. */
  list?: ListQuery;
  /** The package list's filters, page and sort (view 'packages' only); left out: the defaults. */
  packages?: PackageQuery;
  /** The Browse page's search and the package open (view 'browse' only); left out: the defaults. */
  browse?: BrowseQuery;
  /** The Models page's kind, search and the model open (view 'models' only); left out: the defaults. */
  models?: ModelsQuery;
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

function filterValue(raw: string | null): string | null {
  const value = raw?.trim();
  return value && value.length <= MAX_FILTER ? value : null;
}

export function parsePackageQuery(params: URLSearchParams): PackageQuery {
  const { page, size } = parseListQuery(params);
  const sort = params.get('sort');
  const order = params.get('order');
  return {
    name: filterValue(params.get('name')),
    version: filterValue(params.get('version')),
    platform: filterValue(params.get('platform')),
    arch: filterValue(params.get('arch')),
    q: filterValue(params.get('q')),
    page,
    size,
    sort: PACKAGE_SORTS.find((s) => s === sort) ?? DEFAULT_PACKAGES.sort,
    order: SORT_ORDERS.find((o) => o === order) ?? DEFAULT_PACKAGES.order,
  };
}

export function parseBrowseQuery(params: URLSearchParams): BrowseQuery {
  const { page, size } = parseListQuery(params);
  const raw = params.get('ecosystem');
  const ecosystem = ECOSYSTEMS.find((e) => e === raw) ?? null;
  const name = params.get('package')?.trim();
  return {
    ecosystem,
    q: filterValue(params.get('q')),
    page,
    size,
    package: ecosystem && name && name.length <= MAX_PACKAGE_NAME ? name : null,
  };
}

export function parseModelsQuery(params: URLSearchParams): ModelsQuery {
  const { page, size } = parseListQuery(params);
  const raw = params.get('kind');
  const model = params.get('model')?.trim();
  return {
    kind: MODEL_KINDS.find((k) => k === raw) ?? DEFAULT_MODELS.kind,
    q: filterValue(params.get('q')),
    page,
    size,
    model: model && MODEL_ID.test(model) ? model : null,
  };
}

export function parseRoute(search: string): Route {
  const params = new URLSearchParams(search);
  const taskId = params.get('task');
  if (params.get('view') === 'import' && !taskId) return { view: 'import', taskId: null };
  if (params.get('view') === 'browse' && !taskId) {
    return { view: 'browse', taskId: null, browse: parseBrowseQuery(params) };
  }
  if (params.get('view') === 'models' && !taskId) {
    return { view: 'models', taskId: null, models: parseModelsQuery(params) };
  }
  if (params.get('view') === 'tasks' && !taskId) {
    return { view: 'tasks', taskId: null, list: parseListQuery(params) };
  }
  if (params.get('view') === 'packages' && !taskId) {
    return { view: 'packages', taskId: null, packages: parsePackageQuery(params) };
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
  if (route.view === 'packages') {
    const query = route.packages ?? DEFAULT_PACKAGES;
    const params = new URLSearchParams({ view: 'packages' });
    for (const key of PACKAGE_FILTERS) {
      const value = query[key];
      if (value) params.set(key, value);
    }
    if (query.page !== DEFAULT_PACKAGES.page) params.set('page', String(query.page));
    if (query.size !== DEFAULT_PACKAGES.size) params.set('size', String(query.size));
    // the newest first is the default; any other sort names both
    if (query.sort !== DEFAULT_PACKAGES.sort || query.order !== DEFAULT_PACKAGES.order) {
      params.set('sort', query.sort);
      params.set('order', query.order);
    }
    return `?${params.toString()}`;
  }
  if (route.view === 'import') return '?view=import';
  if (route.view === 'browse') {
    const query = route.browse ?? DEFAULT_BROWSE;
    const params = new URLSearchParams({ view: 'browse' });
    if (query.ecosystem) params.set('ecosystem', query.ecosystem);
    if (query.q) params.set('q', query.q);
    if (query.page !== DEFAULT_BROWSE.page) params.set('page', String(query.page));
    if (query.size !== DEFAULT_BROWSE.size) params.set('size', String(query.size));
    if (query.package && query.ecosystem) params.set('package', query.package);
    // "@" and "/" of a scoped name read better as they are
    return `?${params.toString().replace(/%40/g, '@').replace(/%2F/g, '/')}`;
  }
  if (route.view === 'models') {
    const query = route.models ?? DEFAULT_MODELS;
    const params = new URLSearchParams({ view: 'models' });
    if (query.kind !== DEFAULT_MODELS.kind) params.set('kind', query.kind);
    if (query.q) params.set('q', query.q);
    if (query.page !== DEFAULT_MODELS.page) params.set('page', String(query.page));
    if (query.size !== DEFAULT_MODELS.size) params.set('size', String(query.size));
    if (query.model) params.set('model', query.model);
    // the "/" of org/name reads better as it is
    return `?${params.toString().replace(/%2F/g, '/')}`;
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
