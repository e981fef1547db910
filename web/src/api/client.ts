/**
 * The one API module: typed fetch wrappers over the server's REST API.
 *
 * Routes, path/query parameters, the request body and the TaskStatus enum come from
 * `schema.d.ts`, generated from the server's OpenAPI schema (`npm run gen:api`). The
 * server declares its answers as free-form JSON objects (`additionalProperties: true`),
 * so the documents below extend the generated answer type with the fields the UI reads;
 * once the server publishes response models, they can be replaced by
 * `components['schemas'][...]` one by one.
 *
 * Every error answer (application/problem+json: code, message, file?, line?, reason?,
 * problems?) becomes an `ApiError`.
 */
import type { components, paths } from './schema';

// ---- generated-schema helpers ---------------------------------------------------------

type Method = 'get' | 'post' | 'delete';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonAnswer<R> = R extends { content: { 'application/json': infer B } } ? B : void;
type SuccessOf<O> = O extends { responses: infer R }
  ? R extends { 200: infer A }
    ? JsonAnswer<A>
    : R extends { 201: infer A }
      ? JsonAnswer<A>
      : R extends { 202: infer A }
        ? JsonAnswer<A>
        : void
  : never;
type PathParams<O> = O extends { parameters: { path: infer X } } ? X : never;
type QueryParams<O> = O extends { parameters: { query?: infer X } } ? X : never;

export type TaskStatus = components['schemas']['TaskStatus'];
export type CreateTaskBody = components['schemas']['Body_create_task_api_tasks_post'];

export const TASK_STATUSES: readonly TaskStatus[] = [
  'created',
  'resolving',
  'resolved',
  'downloading',
  'paused',
  'packing',
  'completed',
  'failed',
  'cancelled',
] as const;

// ---- the documents the UI reads ---------------------------------------------------------

export type Ecosystem = 'pypi' | 'npm';

/** What the server's TaskOptions accepts (sent as the `options` JSON string). */
export interface TaskOptions {
  npm: boolean;
  pypi: boolean;
  python_versions: string[];
  platforms: string[];
  node_version: string | null;
  os: string | null;
  cpu: string | null;
  libc: string | null;
  format: 'zip' | 'tar.gz' | 'tar.zst';
  groups: string[];
  all_groups: boolean;
  all_platforms: boolean;
  auto_download: boolean;
}

export interface Problem {
  severity: 'error' | 'warning' | 'info';
  kind: string;
  message: string;
  package?: string | null;
  target?: string | null;
  chain?: string[];
}

export interface ProblemDoc {
  code: string;
  message: string;
  file?: string | null;
  line?: number | null;
  column?: number | null;
  reason?: string | null;
  hint?: string | null;
  context?: string | null;
  problems?: Problem[];
}

export interface EcosystemProgress {
  total: number;
  completed: number;
  failed: number;
  failed_packages: { name: string; error: string }[];
  bytes_done: number;
  bytes_total: number;
}

export interface Transition {
  from: string | null;
  to: string;
  reason: string | null;
  at: string;
}

type TaskAnswer = SuccessOf<Operation<'/api/tasks/{task_id}', 'get'>>;

export type Task = TaskAnswer & {
  task_id: string;
  status: TaskStatus;
  files: string[];
  options?: Partial<TaskOptions> | null;
  progress?: Partial<Record<Ecosystem, EcosystemProgress>> | null;
  error?: ProblemDoc | null;
  archive_url?: string | null;
  archive_size?: number | null;
  created_at: string;
  updated_at?: string | null;
  started_at?: string | null;
  completed_at?: string | null;
  transitions?: Transition[];
};

export type TaskList = SuccessOf<Operation<'/api/tasks', 'get'>> & {
  tasks: Task[];
  total: number;
  page: number;
  size: number;
};

export interface PythonPackage {
  name: string;
  version: string;
  filename: string;
  size: number | null;
  kind: 'wheel' | 'sdist';
  yanked: string | null;
  build_only: boolean;
}

export interface PythonEdge {
  parent: string | null;
  child: string;
  specifier: string;
  extras: string[];
  origin: string | null;
}

export interface PythonTargetDeps {
  target: { key: string; python: string; platform: string; implementation?: string };
  count: number;
  total_bytes: number;
  packages: PythonPackage[];
  edges: PythonEdge[];
  problems: Problem[];
}

export interface PythonDeps {
  targets: PythonTargetDeps[];
  file_count: number;
  total_bytes: number;
  problems: Problem[];
}

export interface NpmTreeNode {
  name: string;
  version: string;
  spec?: string;
  deduped?: boolean;
  problems?: string[];
  children: NpmTreeNode[];
}

export interface NpmPackage {
  path: string;
  name: string;
  version: string;
  size: number | null;
  deprecated: string | null;
  has_install_script: boolean;
  dev?: boolean;
  optional?: boolean;
}

export interface NpmDeps {
  target: { key: string; node: string; os: string; cpu: string; libc: string | null };
  root?: { name: string; version: string };
  count: number;
  total_bytes: number;
  packages: NpmPackage[];
  excluded: { name: string; version: string; reason: string }[];
  tree: NpmTreeNode[];
  problems: Problem[];
}

export type Dependencies = SuccessOf<Operation<'/api/tasks/{task_id}/dependencies', 'get'>> & {
  task_id: string;
  python?: PythonDeps | null;
  npm?: NpmDeps | null;
};

// ---- errors ------------------------------------------------------------------------------

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly file?: string;
  readonly line?: number;
  readonly reason?: string;
  readonly hint?: string;
  readonly problems?: Problem[];
  readonly body: unknown;

  constructor(status: number, doc: ProblemDoc, body?: unknown) {
    super(doc.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = doc.code;
    this.file = doc.file ?? undefined;
    this.line = doc.line ?? undefined;
    this.reason = doc.reason ?? undefined;
    this.hint = doc.hint ?? undefined;
    this.problems = doc.problems;
    this.body = body ?? doc;
  }

  /** `file:line` when the server named them, else undefined. */
  get where(): string | undefined {
    if (!this.file) return undefined;
    return this.line != null ? `${this.file}:${this.line}` : this.file;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns any error answer into a problem document (FastAPI's 422 `detail` included). */
export function toProblem(status: number, body: unknown, fallback: string): ProblemDoc {
  if (isRecord(body)) {
    if (typeof body.code === 'string' && typeof body.message === 'string') {
      return body as unknown as ProblemDoc;
    }
    if (Array.isArray(body.detail) && body.detail.length > 0 && isRecord(body.detail[0])) {
      const first = body.detail[0];
      const loc = Array.isArray(first.loc) ? first.loc.join('.') : '';
      return { code: 'validation-error', message: `${loc ? loc + ': ' : ''}${String(first.msg)}` };
    }
    if (typeof body.detail === 'string') return { code: `http-${status}`, message: body.detail };
  }
  if (typeof body === 'string' && body.trim()) {
    return { code: `http-${status}`, message: body.trim().slice(0, 500) };
  }
  return { code: `http-${status}`, message: fallback };
}

// ---- the one request function --------------------------------------------------------

interface CallInit<O> {
  path?: PathParams<O>;
  query?: QueryParams<O>;
  body?: BodyInit;
  signal?: AbortSignal;
}

function fillPath(template: string, params: Record<string, unknown> | undefined): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) =>
    encodeURIComponent(String(params?.[name] ?? '')),
  );
}

function queryString(query: Record<string, unknown> | undefined): string {
  if (!query) return '';
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}

export async function call<P extends keyof paths, M extends Method>(
  method: M,
  route: P,
  init: CallInit<Operation<P, M>> = {},
): Promise<SuccessOf<Operation<P, M>>> {
  const url =
    fillPath(route as string, init.path as Record<string, unknown> | undefined) +
    queryString(init.query as Record<string, unknown> | undefined);
  let response: Response;
  try {
    response = await fetch(url, {
      method: method.toUpperCase(),
      body: init.body,
      signal: init.signal,
      headers: { Accept: 'application/json, application/problem+json' },
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, {
      code: 'network-error',
      message: `the server could not be reached (${err instanceof Error ? err.message : String(err)})`,
    });
  }
  const type = response.headers.get('content-type') ?? '';
  let body: unknown = undefined;
  if (response.status !== 204) {
    const text = await response.text();
    if (type.includes('json') && text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    } else {
      body = text;
    }
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      toProblem(response.status, body, `${response.status} ${response.statusText}`.trim()),
      body,
    );
  }
  return body as SuccessOf<Operation<P, M>>;
}

// ---- the wrappers the pages use ----------------------------------------------------------

export async function createTask(files: File[], options: Partial<TaskOptions>): Promise<Task> {
  const form = new FormData();
  for (const file of files) form.append('files', file, file.name);
  const optionsField: CreateTaskBody['options'] = JSON.stringify(options);
  form.append('options', optionsField ?? '{}');
  return (await call('post', '/api/tasks', { body: form })) as Task;
}

export async function listTasks(
  query: NonNullable<QueryParams<Operation<'/api/tasks', 'get'>>>,
  signal?: AbortSignal,
): Promise<TaskList> {
  return (await call('get', '/api/tasks', { query, signal })) as TaskList;
}

export async function getTask(taskId: string, signal?: AbortSignal): Promise<Task> {
  return (await call('get', '/api/tasks/{task_id}', { path: { task_id: taskId }, signal })) as Task;
}

export async function getDependencies(taskId: string, signal?: AbortSignal): Promise<Dependencies> {
  return (await call('get', '/api/tasks/{task_id}/dependencies', {
    path: { task_id: taskId },
    signal,
  })) as Dependencies;
}

export type TaskAction = 'download' | 'pause' | 'resume' | 'retry' | 'cancel';

export async function taskAction(taskId: string, action: TaskAction): Promise<Task> {
  const path = { task_id: taskId };
  switch (action) {
    case 'download':
      return (await call('post', '/api/tasks/{task_id}/download', { path })) as Task;
    case 'pause':
      return (await call('post', '/api/tasks/{task_id}/pause', { path })) as Task;
    case 'resume':
      return (await call('post', '/api/tasks/{task_id}/resume', { path })) as Task;
    case 'retry':
      return (await call('post', '/api/tasks/{task_id}/retry', { path })) as Task;
    case 'cancel':
      return (await call('post', '/api/tasks/{task_id}/cancel', { path })) as Task;
  }
}

export async function deleteTask(taskId: string): Promise<void> {
  await call('delete', '/api/tasks/{task_id}', { path: { task_id: taskId } });
}

/** The archive's URL for a completed task (the server also puts it in `archive_url`). */
export function archiveUrl(task: Pick<Task, 'task_id' | 'archive_url'>): string {
  return task.archive_url ?? `/api/tasks/${encodeURIComponent(task.task_id)}/archive`;
}
