/**
 * The one API module: typed fetch wrappers over the server's REST API.
 *
 * Every type of what the server sends or takes comes from `schema.d.ts`, generated from
 * the server's OpenAPI schema (`npm run gen:api`; the server's pydantic models in
 * `ferry/server/schemas.py`): routes, path/query parameters, the multipart body, every
 * answer (`paths[...]` responses), and the documents below, which are aliases of
 * `components['schemas'][...]` and nothing more. Nothing here copies a server shape by
 * hand, but for the model catalog's documents, which the server declares as plain JSON
 * (see "models and datasets" below); otherwise only UI-side types (`ApiProblem`,
 * `TaskAction`) are written here.
 *
 * Every error answer (application/problem+json, `ProblemDocument`: code, message, file?,
 * line?, reason?, problems?) becomes an `ApiError`.
 */
import type { components, paths } from './schema';
import { authHeaders, clearToken } from './auth';

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

type Schemas = components['schemas'];

export type TaskStatus = Schemas['TaskStatus'];
export type CreateTaskBody = Schemas['Body_create_task_api_tasks_post'];

// a runtime list of the generated union, in lifecycle order; `satisfies` makes the compiler
// refuse it the day the server's enum and this list differ
const STATUS_ORDER = {
  created: 0,
  resolving: 1,
  resolved: 2,
  downloading: 3,
  paused: 4,
  packing: 5,
  completed: 6,
  failed: 7,
  cancelled: 8,
} as const satisfies Record<TaskStatus, number>;

export const TASK_STATUSES: readonly TaskStatus[] = Object.keys(STATUS_ORDER) as TaskStatus[];

// ---- the documents (generated) ---------------------------------------------------------

/** What a task is asked to build (sent as the `options` JSON string; every field optional). */
export type TaskOptions = Schemas['TaskOptions'];
/** A task as lists and actions show it. */
export type Task = Schemas['TaskDocument'];
/** One task with its status history (`GET /api/tasks/{id}`). */
export type TaskDetail = Schemas['TaskDetail'];
/** The answer to an upload. */
export type TaskCreated = Schemas['TaskCreated'];
export type TaskList = Schemas['TaskList'];
export type Declared = Schemas['DeclaredDocument'];
export type DeclaredGroup = Schemas['DeclaredGroup'];
export type TaskError = Schemas['TaskError'];
export type Transition = Schemas['Transition'];
export type EcosystemProgress = Schemas['EcosystemProgress'];
export type FailedPackage = Schemas['FailedPackage'];
export type Problem = Schemas['Problem'];
/** The source profiles a task may pick (names and descriptions only). */
export type RegistryList = Schemas['RegistryList'];
export type RegistryEntry = Schemas['RegistryEntry'];
export type ProblemDocument = Schemas['ProblemDocument'];
export type Dependencies = Schemas['DependenciesDocument'];
export type PythonDeps = Schemas['PythonDependencies'];
export type PythonTargetDeps = Schemas['PythonTargetDependencies'];
export type PythonPackage = Schemas['PythonPackage'];
export type NpmDeps = Schemas['NpmDependencies'];
export type NpmPackage = Schemas['NpmPackage'];
export type NpmTreeNode = Schemas['NpmTreeNode'];
/** One WebSocket message of `/ws/tasks/{id}` (published in the schema's components). */
export type TaskEventMessage = Schemas['TaskEventMessage'];
/** A file in the package store, and a page of them. */
export type Package = Schemas['PackageDocument'];
export type PackageList = Schemas['PackageList'];
/** The signed-in token's name, owner and role (`GET /api/tokens/me`). */
export type TokenSelf = Schemas['TokenSelf'];
/** What a package list may be asked for: exact fields, `q`, page, sort. */
export type PackageListQuery = NonNullable<QueryParams<Operation<'/api/v1/packages', 'get'>>>;
type PackageForm = NonNullable<Operation<'/api/v1/packages', 'post'>['requestBody']>['content']['multipart/form-data'];
/** An upload's fields besides the file. */
export type PackageFields = Omit<PackageForm, 'file'>;
export type PackageSort = NonNullable<PackageListQuery['sort']>;
/** A bundle imported into the registries, and the list of them (`GET /api/imports`). */
export type ImportDocument = Schemas['ImportDocument'];
export type ImportList = Schemas['ImportList'];
/** The bundles on the server's disk an admin may import by name (`GET /api/imports/available`). */
export type AvailableBundles = Schemas['AvailableBundles'];
export type AvailableBundle = Schemas['AvailableBundle'];
/** What the registries hold (`/api/registry/packages`). */
export type RegistryPackage = Schemas['RegistryPackage'];
export type RegistryPackageList = Schemas['RegistryPackageList'];
export type RegistryPackageDetail = Schemas['RegistryPackageDetail'];
export type RegistryVersion = Schemas['RegistryVersion'];
export type RegistryFile = Schemas['RegistryFile'];
export type Ecosystem = RegistryPackage['ecosystem'];
export type RegistryListQuery = NonNullable<QueryParams<Operation<'/api/registry/packages', 'get'>>>;
type ImportFromServer = NonNullable<Operation<'/api/imports', 'post'>['requestBody']>['content']['application/json'];
export type SortOrder = NonNullable<PackageListQuery['order']>;

// runtime lists of the generated unions; `satisfies` fails the build when the server's differ
const SORTS = { name: 0, version: 1, created: 2 } as const satisfies Record<PackageSort, number>;
const ECOSYSTEM_ORDER = { pypi: 0, npm: 1 } as const satisfies Record<Ecosystem, number>;
export const ECOSYSTEMS: readonly Ecosystem[] = Object.keys(ECOSYSTEM_ORDER) as Ecosystem[];
const ORDERS = { asc: 0, desc: 1 } as const satisfies Record<SortOrder, number>;
export const PACKAGE_SORTS: readonly PackageSort[] = Object.keys(SORTS) as PackageSort[];
export const SORT_ORDERS: readonly SortOrder[] = Object.keys(ORDERS) as SortOrder[];

// ---- errors ------------------------------------------------------------------------------

/**
 * What an `ApiError` carries: the server's problem document, or one made here (network
 * error, FastAPI's 422 `detail`, a proxy's plain-text answer) with at least code and
 * message.
 */
export type ApiProblem = Partial<ProblemDocument> & Pick<ProblemDocument, 'code' | 'message'>;

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** What the message was made of: with `code`, `serverText` words it in the reader's language. */
  readonly params?: Record<string, string>;
  readonly file?: string;
  readonly line?: number;
  readonly reason?: string;
  readonly hint?: string;
  /** The hint's code and params: with them, `serverText` words the hint in the reader's language. */
  readonly hintCode?: string;
  readonly hintParams?: Record<string, string>;
  readonly problems?: Problem[];
  readonly body: unknown;

  constructor(status: number, doc: ApiProblem, body?: unknown) {
    super(doc.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = doc.code;
    this.params = doc.params ?? undefined;
    this.file = doc.file ?? undefined;
    this.line = doc.line ?? undefined;
    this.reason = doc.reason ?? undefined;
    this.hint = doc.hint ?? undefined;
    this.hintCode = doc.hint_code ?? undefined;
    this.hintParams = doc.hint_params ?? undefined;
    this.problems = doc.problems ?? undefined;
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
export function toProblem(status: number, body: unknown, fallback: string): ApiProblem {
  if (isRecord(body)) {
    if (typeof body.code === 'string' && typeof body.message === 'string') {
      return body as ApiProblem;
    }
    if (Array.isArray(body.detail) && body.detail.length > 0 && isRecord(body.detail[0])) {
      const first = body.detail[0];
      const loc = Array.isArray(first.loc) ? first.loc.join('.') : '';
      return { code: 'validation-error', message: `${loc ? loc + ': ' : ''}${String(first.msg)}` };
    }
    if (typeof body.detail === 'string') return { code: `http-${status}`, message: body.detail };
    // the model catalog's 404s: the Hub's `{"error": "..."}`, seed 004's `{"error": {code, message}}`
    if (typeof body.error === 'string') return { code: `http-${status}`, message: body.error };
    if (isRecord(body.error) && typeof body.error.code === 'string' && typeof body.error.message === 'string') {
      return { code: body.error.code, message: body.error.message };
    }
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
  /** A JSON body (sent as application/json) instead of `body`. */
  json?: O extends { requestBody?: { content: { 'application/json': infer J } } } ? J : never;
  signal?: AbortSignal;
}

function fillPath(template: string, params: Record<string, unknown> | undefined): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = String(params?.[name] ?? '');
    // `{rest}` is a path's tail (`org/name/…`): its slashes stay slashes, as some proxies
    // refuse an encoded one
    return name === 'rest' ? pathOf(value) : encodeURIComponent(value);
  });
}

/** Each `/`-separated part percent-encoded on its own. */
export function pathOf(value: string): string {
  return value.split('/').map(encodeURIComponent).join('/');
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
  return (await callWithHeaders(method, route, init)).body;
}

/** `call`, with the answer's headers too (a list's `X-Total-Count`, say). */
export async function callWithHeaders<P extends keyof paths, M extends Method>(
  method: M,
  route: P,
  init: CallInit<Operation<P, M>> = {},
): Promise<{ body: SuccessOf<Operation<P, M>>; headers: Headers }> {
  const url =
    fillPath(route as string, init.path as Record<string, unknown> | undefined) +
    queryString(init.query as Record<string, unknown> | undefined);
  let response: Response;
  try {
    const json = init.json !== undefined;
    response = await fetch(url, {
      method: method.toUpperCase(),
      body: json ? JSON.stringify(init.json) : init.body,
      signal: init.signal,
      headers: {
        Accept: 'application/json, application/problem+json',
        ...(json ? { 'Content-Type': 'application/json' } : {}),
        ...authHeaders(),
      },
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw networkError(err instanceof Error ? err.message : String(err));
  }
  const text = response.status !== 204 ? await response.text() : '';
  const body = answered(response.status, response.statusText, response.headers.get('content-type'), text);
  return { body: body as SuccessOf<Operation<P, M>>, headers: response.headers };
}

/** An answer's body (JSON when it says so), or the `ApiError` it is; a 401 signs out. */
function answered(status: number, statusText: string, contentType: string | null, text: string): unknown {
  let body: unknown = text;
  if ((contentType ?? '').includes('json') && text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (status === 204) body = undefined;
  if (status === 401) clearToken(); // back to the sign-in page
  if (status < 200 || status >= 300) {
    throw new ApiError(status, toProblem(status, body, `${status} ${statusText}`.trim()), body);
  }
  return body;
}

function networkError(detail: string): ApiError {
  return new ApiError(0, { code: 'network-error', message: `the server could not be reached (${detail})` });
}

// ---- the wrappers the pages use ----------------------------------------------------------

export async function createTask(
  files: File[],
  options: TaskOptions,
): Promise<TaskCreated> {
  const form = new FormData();
  for (const file of files) form.append('files', file, file.name);
  const optionsField: CreateTaskBody['options'] = JSON.stringify(options);
  form.append('options', optionsField ?? '{}');
  return call('post', '/api/tasks', { body: form });
}

/** The groups and extras the files declare, and the files that cannot be read. */
export async function declaredGroups(files: File[], signal?: AbortSignal): Promise<Declared> {
  const form = new FormData();
  for (const file of files) form.append('files', file, file.name);
  return call('post', '/api/manifests/declared', { body: form, signal });
}

export async function listTasks(
  query: NonNullable<QueryParams<Operation<'/api/tasks', 'get'>>>,
  signal?: AbortSignal,
): Promise<TaskList> {
  return call('get', '/api/tasks', { query, signal });
}

export async function listRegistries(signal?: AbortSignal): Promise<RegistryList> {
  return call('get', '/api/registries', { signal });
}

export async function getTask(taskId: string, signal?: AbortSignal): Promise<TaskDetail> {
  return call('get', '/api/tasks/{task_id}', { path: { task_id: taskId }, signal });
}

export async function getDependencies(taskId: string, signal?: AbortSignal): Promise<Dependencies> {
  return call('get', '/api/tasks/{task_id}/dependencies', { path: { task_id: taskId }, signal });
}

export type TaskAction = 'download' | 'pause' | 'resume' | 'retry' | 'cancel';

export async function taskAction(taskId: string, action: TaskAction): Promise<Task> {
  const path = { task_id: taskId };
  switch (action) {
    case 'download':
      return call('post', '/api/tasks/{task_id}/download', { path });
    case 'pause':
      return call('post', '/api/tasks/{task_id}/pause', { path });
    case 'resume':
      return call('post', '/api/tasks/{task_id}/resume', { path });
    case 'retry':
      return call('post', '/api/tasks/{task_id}/retry', { path });
    case 'cancel':
      return call('post', '/api/tasks/{task_id}/cancel', { path });
  }
}

export async function deleteTask(taskId: string): Promise<void> {
  await call('delete', '/api/tasks/{task_id}', { path: { task_id: taskId } });
}

/**
 * The archive of a completed task, as a link a browser can follow: the server signs
 * `archive_url` for this one file and a few minutes (a plain link cannot carry the token).
 * The task is fetched again first, so a page left open long still gets a valid link.
 */
export async function freshArchiveUrl(taskId: string): Promise<string> {
  const task = await getTask(taskId);
  if (!task.archive_url) throw new ApiError(409, { code: 'task-not-completed', message: 'no archive yet' });
  return task.archive_url;
}

/** Start the download of a completed task's archive. */
export async function downloadArchive(taskId: string): Promise<void> {
  const url = await freshArchiveUrl(taskId);
  const link = document.createElement('a');
  link.href = url;
  link.download = '';
  document.body.appendChild(link);
  link.click();
  link.remove();
}

/** Who the signed-in token is (any read route answers; 401 means signed out). */
export async function checkToken(token: string): Promise<boolean> {
  const response = await fetch('/api/tasks?size=1', {
    headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
  });
  if (response.status === 401) return false;
  if (!response.ok) {
    throw new ApiError(response.status, { code: `http-${response.status}`, message: response.statusText });
  }
  return true;
}

// ---- the package store -------------------------------------------------------------------

export async function whoAmI(signal?: AbortSignal): Promise<TokenSelf> {
  return call('get', '/api/tokens/me', { signal });
}

export async function listPackages(query: PackageListQuery, signal?: AbortSignal): Promise<PackageList> {
  return call('get', '/api/v1/packages', { query, signal });
}

/** The package stored under exactly these four fields, if there is one. */
export async function findPackage(
  key: Pick<PackageFields, 'name' | 'version' | 'platform' | 'arch'>,
  signal?: AbortSignal,
): Promise<Package | null> {
  const { name, version, platform, arch } = key;
  const found = await listPackages({ name, version, platform, arch, size: 1 }, signal);
  return found.packages[0] ?? null;
}

export async function deletePackage(packageId: string): Promise<void> {
  await call('delete', '/api/v1/packages/{package_id}', { path: { package_id: packageId } });
}

/** Bytes sent (or received) so far of how many; `total` null when the length is unknown. */
export interface Transferred {
  loaded: number;
  total: number | null;
}

/**
 * Upload a file to the package store, reporting the bytes sent: XMLHttpRequest, since
 * fetch has no upload progress. Rejects with an `ApiError` as `call` does (a 409 carries
 * the existing package's id in `params.package_id`), or an AbortError once `signal` aborts.
 */
export function uploadPackage(
  fields: PackageFields,
  file: File,
  onProgress: (sent: Transferred) => void,
  signal?: AbortSignal,
): Promise<Package> {
  const form = new FormData();
  // the four that identify it before the file: the server refuses a duplicate before
  // reading a byte of it (forms.py)
  form.append('name', fields.name);
  form.append('version', fields.version);
  form.append('platform', fields.platform);
  form.append('arch', fields.arch);
  form.append('description', fields.description ?? '');
  form.append('file', file, file.name);
  return sendWithProgress<Package>('/api/v1/packages', form, null, onProgress, signal);
}

/** POST `body` with XMLHttpRequest (fetch has no upload progress), answered as `call` is. */
function sendWithProgress<T>(
  url: string,
  body: XMLHttpRequestBodyInit,
  contentType: string | null,
  onProgress: (sent: Transferred) => void,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('the upload was cancelled', 'AbortError'));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('Accept', 'application/json, application/problem+json');
    if (contentType) xhr.setRequestHeader('Content-Type', contentType);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e: ProgressEvent) => {
      onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : null });
    };
    xhr.onload = () => {
      try {
        resolve(answered(xhr.status, xhr.statusText, xhr.getResponseHeader('content-type'), xhr.responseText) as T);
      } catch (err) {
        reject(err);
      }
    };
    // A server that answers before it has read the whole body (a refusal) and closes the
    // connection can leave the browser with no answer at all: said as a network error.
    xhr.onerror = () => reject(networkError('the connection closed during the upload'));
    xhr.onabort = () => reject(new DOMException('the upload was cancelled', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

/**
 * Start the download of a stored package as the browser's own download, which streams to
 * disk however large the file. A plain link cannot carry the token, so the package is
 * fetched again for its `link_url`, signed for this one file and a few minutes: a page
 * left open long still gets a valid link.
 */
export async function downloadPackage(packageId: string): Promise<void> {
  const pkg = await call('get', '/api/v1/packages/{package_id}', { path: { package_id: packageId } });
  const link = document.createElement('a');
  link.href = pkg.link_url;
  link.download = pkg.filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
}

// ---- the far side: imports and the registries --------------------------------------------

export async function listImports(signal?: AbortSignal): Promise<ImportList> {
  return call('get', '/api/imports', { signal });
}

export async function availableBundles(signal?: AbortSignal): Promise<AvailableBundles> {
  return call('get', '/api/imports/available', { signal });
}

/**
 * Upload a bundle to be imported, reporting the bytes sent; the answer comes once the
 * server has checked every file and stored it. `filename` is the name it is recorded
 * under (its ending says the format).
 */
export function uploadBundle(
  file: File,
  filename: string,
  onProgress: (sent: Transferred) => void,
  signal?: AbortSignal,
): Promise<ImportDocument> {
  const url = `/api/imports${queryString({ filename })}`;
  return sendWithProgress<ImportDocument>(url, file, 'application/octet-stream', onProgress, signal);
}

/** Import, in place, a bundle the server's import directory holds (admin). */
export async function importFromServer(name: string, signal?: AbortSignal): Promise<ImportDocument> {
  const json: ImportFromServer = { path: name };
  return call('post', '/api/imports', { json, signal });
}

export async function listRegistryPackages(query: RegistryListQuery, signal?: AbortSignal): Promise<RegistryPackageList> {
  return call('get', '/api/registry/packages', { query, signal });
}

export async function getRegistryPackage(
  ecosystem: Ecosystem,
  name: string,
  signal?: AbortSignal,
): Promise<RegistryPackageDetail> {
  return call('get', '/api/registry/packages/{ecosystem}/{name}', { path: { ecosystem, name }, signal });
}

// ---- models and datasets -----------------------------------------------------------------

/*
 * The model catalog's routes (server/routes/hub.py) answer documents that are at once seed
 * 004's and the Hugging Face Hub's (models/documents.py), which the server declares to
 * OpenAPI as plain JSON: here alone a server shape is written by hand, with only the fields
 * the Models page reads.
 */

/** Which catalog: the URL's segment (`/api/models`, `/api/datasets`). */
export type ModelKind = 'models' | 'datasets';
export const MODEL_KINDS: readonly ModelKind[] = ['models', 'datasets'];

export interface ModelFile {
  path: string;
  size_bytes: number;
  sha256: string;
}

export interface ModelVersion {
  version: string;
  /** 40 hex digits, derived from the version's files (what the Hub's clients call `sha`). */
  commit: string;
  size_bytes: number;
  files: ModelFile[];
  updated_at: string;
}

export interface ModelDocument {
  id: string;
  name: string;
  /** Newest first. */
  versions: ModelVersion[];
  /** What `main` serves. */
  default_version: string | null;
  task: string | null;
  languages: string[];
  updated_at: string;
}

/** A model by how often its files were fetched (`GET /api/model-usage/ranking`). */
export interface ModelUsage {
  model_id: string;
  request_count: number;
  rank: number;
}

export interface ModelPage {
  models: ModelDocument[];
  /** `X-Total-Count`: how many match, on every page. */
  total: number;
}

export interface ModelListQuery {
  search?: string | null;
  page: number;
  limit: number;
}

export async function listModels(kind: ModelKind, query: ModelListQuery, signal?: AbortSignal): Promise<ModelPage> {
  const { body, headers } =
    kind === 'models'
      ? await callWithHeaders('get', '/api/models', { query, signal })
      : await callWithHeaders('get', '/api/datasets', { query, signal });
  const models = Array.isArray(body) ? (body as ModelDocument[]) : [];
  const total = Number(headers.get('x-total-count'));
  return { models, total: Number.isFinite(total) && headers.has('x-total-count') ? total : models.length };
}

export async function getModel(kind: ModelKind, id: string, signal?: AbortSignal): Promise<ModelDocument> {
  const path = { rest: id };
  const body =
    kind === 'models'
      ? await call('get', '/api/models/{rest}', { path, signal })
      : await call('get', '/api/datasets/{rest}', { path, signal });
  return body as ModelDocument;
}

export async function modelRanking(limit: number, signal?: AbortSignal): Promise<ModelUsage[]> {
  const body = await call('get', '/api/model-usage/ranking', { query: { limit }, signal });
  return body as unknown as ModelUsage[];
}

/** Where a file of a version is served: seed 004's storage for a model, the Hub's resolve
 * route for a dataset (the storage has models only). */
export function modelFileUrl(kind: ModelKind, id: string, version: string, path: string): string {
  return kind === 'models'
    ? `/storage/models/${pathOf(id)}/${encodeURIComponent(version)}/${pathOf(path)}`
    : `/datasets/${pathOf(id)}/resolve/${encodeURIComponent(version)}/${pathOf(path)}`;
}

/**
 * Download a file that needs the token: a plain link cannot carry it and these files have
 * no signed links, so it is fetched with the `Authorization` header, reporting the bytes
 * received, into a Blob the browser then saves under `filename`. The Blob is in the
 * browser's memory (or its disk, when large) until saved: fine for the configs and
 * weights of a small model; `huggingface_hub` is the way for a large one.
 */
export async function downloadWithToken(
  url: string,
  filename: string,
  onProgress?: (received: Transferred) => void,
  signal?: AbortSignal,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { ...authHeaders() }, signal });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw networkError(err instanceof Error ? err.message : String(err));
  }
  if (!response.ok) {
    answered(response.status, response.statusText, response.headers.get('content-type'), await response.text());
  }
  const length = Number(response.headers.get('content-length'));
  const total = response.headers.has('content-length') && Number.isFinite(length) ? length : null;
  const parts: BlobPart[] = [];
  if (response.body) {
    const reader = response.body.getReader();
    let loaded = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      loaded += value.byteLength;
      onProgress?.({ loaded, total });
    }
  } else {
    parts.push(await response.arrayBuffer());
  }
  const href = URL.createObjectURL(new Blob(parts, { type: 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = href;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // the browser has taken the bytes once the click's download has started
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}
