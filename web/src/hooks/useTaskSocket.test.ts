import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, renderHook, waitFor } from '@testing-library/react';
import { taskSocketUrl, useTaskSocket } from './useTaskSocket';
import { FakeWebSocket } from '../test/fakes';

const options = { baseDelayMs: 10, maxDelayMs: 40, flushMs: 5 };

beforeEach(() => {
  FakeWebSocket.instances = [];
  vi.stubGlobal('WebSocket', FakeWebSocket);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

const latest = () => FakeWebSocket.instances[FakeWebSocket.instances.length - 1];

describe('useTaskSocket', () => {
  it('connects to /ws/tasks/{id} on this host', () => {
    renderHook(() => useTaskSocket('t1', options));
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(latest().url).toBe(`ws://${window.location.host}/ws/tasks/t1`);
    expect(taskSocketUrl('a b')).toBe(`ws://${window.location.host}/ws/tasks/a%20b`);
  });

  it('folds the snapshot, then live progress, into state', async () => {
    const { result } = renderHook(() => useTaskSocket('t1', options));
    act(() => {
      latest().open();
      // the snapshot: status, progress per ecosystem, recent logs
      latest().receive({ type: 'status', status: 'downloading' });
      latest().receive({ type: 'progress', ecosystem: 'pypi', current: 3, total: 10, bytes_done: 300, bytes_total: 1000, speed: 100, eta: 7 });
      latest().receive({ type: 'progress', ecosystem: 'npm', current: 1, total: 4, bytes_done: 10, bytes_total: 40 });
      latest().receive({ type: 'log', message: 'fetched flask-3.0.3-py3-none-any.whl', ecosystem: 'pypi' });
      latest().receive({ type: 'log', message: 'failed left-pad-1.3.0.tgz: HTTP 500', ecosystem: 'npm' });
    });
    await waitFor(() => expect(result.current.logs).toHaveLength(3));
    expect(result.current.connection).toBe('open');
    expect(result.current.status).toBe('downloading');
    expect(result.current.progress.pypi).toMatchObject({ current: 3, total: 10, bytes_done: 300, bytes_total: 1000, speed: 100, eta: 7 });
    expect(result.current.progress.npm).toMatchObject({ current: 1, total: 4 });
    expect(result.current.logs.map((l) => l.level)).toEqual(['info', 'success', 'error']);

    act(() => {
      latest().receive({ type: 'progress', ecosystem: 'pypi', current: 10, total: 10, bytes_done: 1000, bytes_total: 1000, speed: 250, eta: 0 });
      latest().receive({ type: 'status', status: 'completed' });
      latest().receive({ type: 'complete', status: 'completed', message: 'archive ready' });
    });
    await waitFor(() => expect(result.current.status).toBe('completed'));
    expect(result.current.progress.pypi).toMatchObject({ current: 10, bytes_done: 1000, speed: 250 });
    expect(result.current.final?.type).toBe('complete');
    expect(result.current.revision).toBeGreaterThanOrEqual(3);
  });

  it('reconnects after the connection drops, and the new snapshot replaces the log', async () => {
    const { result } = renderHook(() => useTaskSocket('t1', options));
    act(() => {
      latest().open();
      latest().receive({ type: 'status', status: 'downloading' });
      latest().receive({ type: 'log', message: 'fetched a.whl' });
    });
    await waitFor(() => expect(result.current.logs).toHaveLength(2));

    act(() => latest().serverClose(1006));
    expect(result.current.connection).toBe('reconnecting');
    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(2), { timeout: 2000 });

    act(() => {
      latest().open();
      latest().receive({ type: 'status', status: 'downloading' });
      latest().receive({ type: 'log', message: 'fetched a.whl' });
      latest().receive({ type: 'log', message: 'fetched b.whl' });
      latest().receive({ type: 'progress', ecosystem: 'pypi', current: 2, total: 5, bytes_done: 20, bytes_total: 50 });
    });
    await waitFor(() => expect(result.current.logs.map((l) => l.message)).toEqual(['status: downloading', 'fetched a.whl', 'fetched b.whl']));
    expect(result.current.connection).toBe('open');
    expect(result.current.connections).toBe(2);
    expect(result.current.progress.pypi.current).toBe(2);
  });

  it('backs off between failed attempts', async () => {
    renderHook(() => useTaskSocket('t1', options));
    act(() => latest().serverClose(1006)); // never opened
    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(2));
    act(() => latest().serverClose(1006));
    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(3));
    act(() => latest().serverClose(1006));
    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(4));
  });

  it('does not reconnect to an unknown task, and closes on unmount', async () => {
    const { result, unmount } = renderHook(() => useTaskSocket('nope', options));
    act(() => {
      latest().open();
      latest().receive({ type: 'error', message: 'no task nope' });
      latest().serverClose(4404);
    });
    await waitFor(() => expect(result.current.final?.type).toBe('error'));
    expect(result.current.connection).toBe('closed');
    await new Promise((r) => setTimeout(r, 60));
    expect(FakeWebSocket.instances).toHaveLength(1);

    const second = renderHook(() => useTaskSocket('t2', options));
    const ws = latest();
    second.unmount();
    expect(ws.closedByClient).toBe(true);
    unmount();
  });

  it('caps the log', async () => {
    const { result } = renderHook(() => useTaskSocket('t1', { ...options, maxLogs: 50 }));
    act(() => {
      latest().open();
      for (let i = 0; i < 120; i += 1) latest().receive({ type: 'log', message: `line ${i}` });
    });
    await waitFor(() => expect(result.current.logs).toHaveLength(50));
    expect(result.current.logs[0].message).toBe('line 70');
    expect(result.current.logs[49].message).toBe('line 119');
  });
});
