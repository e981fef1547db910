/**
 * The one WebSocket hook: a task's live events from `/ws/tasks/{id}`.
 *
 * The server first sends a snapshot (latest status, latest progress per ecosystem, recent
 * log lines, the final error/completion), then every event as it happens. This hook folds
 * them into state: the latest status, per-ecosystem progress, a capped log list, and the
 * final event. When the connection drops it reconnects with exponential backoff; the new
 * connection's snapshot replaces the log (so nothing is shown twice). It stops trying on
 * close codes that mean "never" (4404 unknown task, 4401 token refused, 1000 task over or
 * deleted). Its first message is `{type: 'auth', token}`: the token never goes in the URL.
 *
 * Messages are applied in small batches (every `flushMs`), so a burst of thousands of
 * cached files costs a few renders, not thousands.
 */
import { useEffect, useRef, useState } from 'react';
import type { TaskEventMessage, TaskStatus } from '../api/client';
import { clearToken, getToken } from '../api/auth';

/** One message of the socket: the server's `TaskEventMessage`, generated from its schema. */
export type WsMessage = TaskEventMessage;
export type WsMessageType = WsMessage['type'];

export interface SocketProgress {
  current: number;
  total: number;
  bytes_done: number;
  bytes_total: number;
  speed: number | null;
  eta: number | null;
  phase: string | null;
  package_name: string | null;
  timestamp: string | null;
}

/** Where the analysis of one ecosystem is (the server's `analysis` events). */
export interface SocketAnalysis {
  stage: string;
  current: number | null;
  total: number | null;
}

export interface LogEntry {
  id: number;
  timestamp: string | null;
  /** The server's English line (a status change: `status: <status> (<reason>)`). */
  message: string;
  level: 'info' | 'error' | 'success';
  ecosystem: string | null;
  package_name: string | null;
  phase: string | null;
  /** The event's code and params, for `serverText` (a status change: its reason's). */
  code?: string | null;
  params?: Record<string, string> | null;
  /** A status change: the new status and the server's English reason. */
  status?: TaskStatus | null;
  reason?: string | null;
}

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface TaskSocketState {
  connection: ConnectionState;
  status: TaskStatus | null;
  phase: string | null;
  progress: Record<string, SocketProgress>;
  /** The analysis, per ecosystem: its stage and, while reading metadata, how far. */
  analysis: Record<string, SocketAnalysis>;
  logs: LogEntry[];
  /** The last error or complete event (null again when the task runs again). */
  final: WsMessage | null;
  /** Increases with every status/error/complete event: a cue to refetch the task. */
  revision: number;
  /** How many connections have been opened (1 after the first). */
  connections: number;
}

export interface TaskSocketOptions {
  /** Most log lines kept (oldest dropped). */
  maxLogs?: number;
  /** First reconnect delay in ms; doubles up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Batching interval for applying messages. */
  flushMs?: number;
  /** Builds the socket URL (default: same host, ws/wss by the page's protocol). */
  url?: (taskId: string) => string;
}

/** 1000: the task is over or deleted; 4401: the token was refused; 4404: no such task. */
const NO_RECONNECT_CODES = new Set([1000, 4401, 4404]);
const CLOSE_NOT_AUTHENTICATED = 4401;

export function taskSocketUrl(taskId: string): string {
  const proto = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return `${proto}://${window.location.host}/ws/tasks/${encodeURIComponent(taskId)}`;
}

export function initialSocketState(): TaskSocketState {
  return {
    connection: 'idle',
    status: null,
    phase: null,
    progress: {},
    analysis: {},
    logs: [],
    final: null,
    revision: 0,
    connections: 0,
  };
}

function logLevel(msg: WsMessage): LogEntry['level'] {
  // by code; by the English words for a server that sends none
  const text = msg.message ?? '';
  if (msg.type === 'error' || msg.code === 'file-failed' || msg.status === 'failed') return 'error';
  if (!msg.code && /^failed\b/i.test(text)) return 'error';
  if (msg.type === 'complete' || msg.code === 'file-fetched' || msg.code === 'file-cached') return 'success';
  if (!msg.code && /^(fetched|cached)\b/i.test(text)) return 'success';
  return 'info';
}

let nextLogId = 1;

/** Applies a batch of messages to the state (pure; `resetLogs` for a new snapshot). */
export function applyMessages(
  state: TaskSocketState,
  batch: WsMessage[],
  maxLogs: number,
  resetLogs: boolean,
): TaskSocketState {
  let { status, phase, progress, analysis, final, revision } = state;
  let logs = resetLogs ? [] : state.logs;
  const newLogs: LogEntry[] = [];
  let progressCopied = false;
  for (const msg of batch) {
    // an analysis stage or a row still waiting is not what the task is doing now
    if (msg.phase && msg.type !== 'analysis' && msg.phase !== 'waiting') phase = msg.phase;
    switch (msg.type) {
      case 'analysis': {
        analysis = {
          ...analysis,
          [msg.ecosystem ?? 'all']: { stage: msg.phase ?? 'resolving', current: msg.current ?? null, total: msg.total ?? null },
        };
        break;
      }
      case 'progress': {
        const key = msg.ecosystem ?? 'all';
        if (!progressCopied) {
          progress = { ...progress };
          progressCopied = true;
        }
        const prev = progress[key];
        progress[key] = {
          current: msg.current ?? prev?.current ?? 0,
          total: msg.total ?? prev?.total ?? 0,
          bytes_done: msg.bytes_done ?? prev?.bytes_done ?? 0,
          bytes_total: msg.bytes_total ?? prev?.bytes_total ?? 0,
          speed: msg.speed ?? null,
          eta: msg.eta ?? null,
          phase: msg.phase ?? prev?.phase ?? null,
          package_name: msg.package_name ?? null,
          timestamp: msg.timestamp ?? null,
        };
        break;
      }
      case 'status': {
        if (msg.status) status = msg.status;
        if (status && !['completed', 'failed', 'cancelled'].includes(status)) final = null;
        revision += 1;
        if (msg.status) {
          newLogs.push({
            id: nextLogId++,
            timestamp: msg.timestamp ?? null,
            message: `status: ${msg.status}${msg.message ? ` (${msg.message})` : ''}`,
            level: msg.status === 'failed' ? 'error' : msg.status === 'completed' ? 'success' : 'info',
            ecosystem: null,
            package_name: null,
            phase: msg.phase ?? null,
            code: msg.code ?? null,
            params: msg.params ?? null,
            status: msg.status,
            reason: msg.message ?? null,
          });
        }
        break;
      }
      case 'error':
      case 'complete': {
        final = msg;
        if (msg.status) status = msg.status;
        revision += 1;
        if (msg.message) {
          newLogs.push({
            id: nextLogId++,
            timestamp: msg.timestamp ?? null,
            message: msg.message,
            level: logLevel(msg),
            ecosystem: msg.ecosystem ?? null,
            package_name: msg.package_name ?? null,
            phase: msg.phase ?? null,
            code: msg.code ?? null,
            params: msg.params ?? null,
          });
        }
        break;
      }
      case 'log': {
        newLogs.push({
          id: nextLogId++,
          timestamp: msg.timestamp ?? null,
          message: msg.message ?? '',
          level: logLevel(msg),
          ecosystem: msg.ecosystem ?? null,
          package_name: msg.package_name ?? null,
          phase: msg.phase ?? null,
          code: msg.code ?? null,
          params: msg.params ?? null,
        });
        break;
      }
      default:
        break;
    }
  }
  if (newLogs.length > 0 || resetLogs) {
    logs = logs.concat(newLogs);
    if (logs.length > maxLogs) logs = logs.slice(logs.length - maxLogs);
  }
  return { ...state, status, phase, progress, analysis, final, revision, logs };
}

export function useTaskSocket(
  taskId: string | null | undefined,
  options: TaskSocketOptions = {},
): TaskSocketState {
  const { maxLogs = 1000, baseDelayMs = 500, maxDelayMs = 10_000, flushMs = 80 } = options;
  const urlFor = options.url ?? taskSocketUrl;
  const urlRef = useRef(urlFor);
  urlRef.current = urlFor;
  const [state, setState] = useState<TaskSocketState>(initialSocketState);

  useEffect(() => {
    setState(initialSocketState());
    if (!taskId) return undefined;

    let disposed = false;
    let socket: WebSocket | null = null;
    let attempt = 0;
    let connections = 0;
    let reconnectTimer: ReturnType<typeof setTimeout> | null = null;
    let flushTimer: ReturnType<typeof setTimeout> | null = null;
    let pending: WsMessage[] = [];
    // the first batch of a connection is (or starts with) its snapshot: it replaces the log
    let resetPending = false;

    const flush = () => {
      flushTimer = null;
      if (disposed) return;
      const batch = pending;
      const reset = resetPending;
      pending = [];
      resetPending = false;
      if (batch.length === 0 && !reset) return;
      setState((prev) => applyMessages(prev, batch, maxLogs, reset));
    };

    const schedule = () => {
      if (flushTimer === null) flushTimer = setTimeout(flush, flushMs);
    };

    const connect = () => {
      if (disposed) return;
      setState((prev) => ({ ...prev, connection: connections === 0 ? 'connecting' : 'reconnecting' }));
      let ws: WebSocket;
      try {
        ws = new WebSocket(urlRef.current(taskId));
      } catch {
        scheduleReconnect();
        return;
      }
      socket = ws;
      let firstMessage = true;
      ws.onopen = () => {
        if (disposed || socket !== ws) return;
        // the token goes in the first message: a browser cannot set the socket's headers,
        // and a URL would leave it in logs and history
        ws.send(JSON.stringify({ type: 'auth', token: getToken() ?? '' }));
        attempt = 0;
        connections += 1;
        const count = connections;
        setState((prev) => ({ ...prev, connection: 'open', connections: count }));
      };
      ws.onmessage = (event: MessageEvent) => {
        if (disposed || socket !== ws) return;
        let msg: WsMessage;
        try {
          msg = JSON.parse(String(event.data)) as WsMessage;
        } catch {
          return;
        }
        if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return;
        if (firstMessage) {
          firstMessage = false;
          // a fresh snapshot: drop what is pending from an older connection, restart the log
          pending = [];
          resetPending = true;
        }
        pending.push(msg);
        schedule();
      };
      ws.onerror = () => {
        // onclose follows and decides
      };
      ws.onclose = (event: CloseEvent) => {
        if (disposed || socket !== ws) return;
        socket = null;
        if (event.code === CLOSE_NOT_AUTHENTICATED) clearToken();
        if (NO_RECONNECT_CODES.has(event.code)) {
          setState((prev) => ({ ...prev, connection: 'closed' }));
          return;
        }
        scheduleReconnect();
      };
    };

    const scheduleReconnect = () => {
      if (disposed) return;
      const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
      attempt += 1;
      setState((prev) => ({ ...prev, connection: 'reconnecting' }));
      reconnectTimer = setTimeout(() => {
        reconnectTimer = null;
        connect();
      }, delay);
    };

    connect();

    return () => {
      disposed = true;
      if (reconnectTimer !== null) clearTimeout(reconnectTimer);
      if (flushTimer !== null) clearTimeout(flushTimer);
      if (socket) {
        const ws = socket;
        socket = null;
        ws.onopen = null;
        ws.onmessage = null;
        ws.onclose = null;
        ws.onerror = null;
        try {
          ws.close(1000, 'left the page');
        } catch {
          // already closed
        }
      }
    };
  }, [taskId, maxLogs, baseDelayMs, maxDelayMs, flushMs]);

  return state;
}
