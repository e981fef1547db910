import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, getTask, listTasks, taskAction, toProblem } from './client';

afterEach(() => vi.unstubAllGlobals());

function respond(status: number, body: unknown, type = 'application/json') {
  return vi.fn(async (_input?: RequestInfo | URL, _init?: RequestInit) => new Response(JSON.stringify(body), { status, headers: { 'content-type': type } }));
}

describe('api client', () => {
  it('turns a problem document into an ApiError with code, message, file and line', async () => {
    vi.stubGlobal(
      'fetch',
      respond(409, { type: 'urn:ferry:task-invalid-transition', status: 409, code: 'task-invalid-transition', message: 'task t1 is completed' }, 'application/problem+json'),
    );
    const err = await taskAction('t1', 'pause').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(409);
    expect((err as ApiError).code).toBe('task-invalid-transition');
    expect((err as ApiError).message).toBe('task t1 is completed');

    const withFile = new ApiError(422, { code: 'manifest-invalid', message: 'x', file: 'a.txt', line: 2 });
    expect(withFile.where).toBe('a.txt:2');
  });

  it("reads FastAPI's validation errors and plain-text answers", () => {
    expect(toProblem(422, { detail: [{ loc: ['query', 'size'], msg: 'too big', type: 'x' }] }, '')).toEqual({
      code: 'validation-error',
      message: 'query.size: too big',
    });
    expect(toProblem(502, 'Bad Gateway', 'fallback')).toEqual({ code: 'http-502', message: 'Bad Gateway' });
    expect(toProblem(500, undefined, '500 Internal')).toEqual({ code: 'http-500', message: '500 Internal' });
  });

  it('fills path and query parameters', async () => {
    const fetchMock = respond(200, { tasks: [], total: 0, page: 2, size: 10 });
    vi.stubGlobal('fetch', fetchMock);
    await listTasks({ page: 2, size: 10, status: 'failed' });
    expect(fetchMock.mock.calls[0][0]).toBe('/api/tasks?page=2&size=10&status=failed');
    await getTask('a/b');
    expect(fetchMock.mock.calls[1][0]).toBe('/api/tasks/a%2Fb');
  });

  it('reports an unreachable server as network-error', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    const err = (await getTask('t1').catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('network-error');
    expect(err.status).toBe(0);
  });
});
