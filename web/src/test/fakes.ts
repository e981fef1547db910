/** Test doubles shared by the page tests: a WebSocket the test drives, and a fetch router. */
import { vi } from 'vitest';
import type { NpmPackage, PythonPackage } from '../api/client';
import type { WsMessage } from '../hooks/useTaskSocket';

export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  url: string;
  readyState = 0;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closedByClient = false;

  constructor(url: string) {
    this.url = url;
    FakeWebSocket.instances.push(this);
  }

  static latest(): FakeWebSocket {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
  }

  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  receive(msg: Partial<WsMessage>) {
    const full = {
      phase: null,
      current: null,
      total: null,
      bytes_done: null,
      bytes_total: null,
      speed: null,
      eta: null,
      message: null,
      package_name: null,
      timestamp: '2025-01-01T12:00:00Z',
      ecosystem: null,
      status: null,
      ...msg,
    };
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(full) }));
  }

  serverClose(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: '', wasClean: false } as CloseEvent);
  }

  close() {
    this.closedByClient = true;
    this.readyState = 3;
  }

  /** What the page sent over this socket, in order. */
  sent: string[] = [];

  send(data: string) {
    this.sent.push(String(data));
  }
}


/** A fetch that answers from `routes` ("GET /api/tasks/x" → handler). */
export function fakeFetch(routes: Record<string, (init: RequestInit) => { status: number; body?: unknown }>) {
  return vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    const method = (init.method ?? 'GET').toUpperCase();
    const path = url.split('?')[0];
    const handler = routes[`${method} ${url}`] ?? routes[`${method} ${path}`];
    if (!handler) {
      return new Response(JSON.stringify({ code: 'not-mocked', message: `${method} ${url}` }), {
        status: 404,
        headers: { 'content-type': 'application/problem+json' },
      });
    }
    const { status, body } = handler(init);
    const problem = status >= 400;
    return new Response(status === 204 ? null : JSON.stringify(body ?? {}), {
      status,
      headers: { 'content-type': problem ? 'application/problem+json' : 'application/json' },
    });
  });
}

/** A Python package as the server lists it, with made-up url and hash. */
export function pythonPackage(
  p: Pick<PythonPackage, 'name' | 'version'> & Partial<PythonPackage>,
): PythonPackage {
  const filename = p.filename ?? `${p.name}-${p.version}-py3-none-any.whl`;
  return {
    filename,
    url: `http://index.invalid/files/${filename}`,
    sha256: '0'.repeat(64),
    size: null,
    kind: 'wheel',
    yanked: null,
    build_only: false,
    ...p,
  };
}

/** An npm package as the server lists it, with made-up tarball and integrity. */
export function npmPackage(p: Pick<NpmPackage, 'name' | 'version'> & Partial<NpmPackage>): NpmPackage {
  return {
    path: `node_modules/${p.name}`,
    resolved: `http://registry.invalid/${p.name}/-/${p.name}-${p.version}.tgz`,
    integrity: null,
    filename: `${p.name.replace(/^@/, '').replace('/', '-')}-${p.version}.tgz`,
    size: null,
    dev: false,
    optional: false,
    peer: false,
    os: null,
    cpu: null,
    libc: null,
    engines: {},
    has_install_script: false,
    deprecated: null,
    ...p,
  };
}

/**
 * An XMLHttpRequest the test drives (uploads use it for their progress): what the page
 * sent, upload progress events, then the answer, a network failure or an abort.
 */
export class FakeXhr {
  static instances: FakeXhr[] = [];
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: Document | XMLHttpRequestBodyInit | null = null;
  status = 0;
  statusText = '';
  responseText = '';
  aborted = false;
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  private answerHeaders: Record<string, string> = {};

  constructor() {
    FakeXhr.instances.push(this);
  }

  static latest(): FakeXhr {
    return FakeXhr.instances[FakeXhr.instances.length - 1];
  }

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }

  getResponseHeader(name: string): string | null {
    return this.answerHeaders[name.toLowerCase()] ?? null;
  }

  send(body: Document | XMLHttpRequestBodyInit | null) {
    this.body = body;
  }

  abort() {
    this.aborted = true;
    this.onabort?.();
  }

  /** `loaded` of `total` bytes of the body sent. */
  progress(loaded: number, total: number) {
    this.upload.onprogress?.(new ProgressEvent('progress', { loaded, total, lengthComputable: true }));
  }

  respond(status: number, body: unknown, type = status >= 400 ? 'application/problem+json' : 'application/json') {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.answerHeaders = { 'content-type': type };
    this.onload?.();
  }

  fail() {
    this.onerror?.();
  }
}
