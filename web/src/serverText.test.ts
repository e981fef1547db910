import { describe, expect, it } from 'vitest';
import codes from './serverCodes.json';
import { SERVER_TEXTS, serverText, statusLine, templateNames } from './serverText';
import type { ServerTextKind } from './serverText';
import { applyMessages, initialSocketState } from './hooks/useTaskSocket';
import type { WsMessage } from './hooks/useTaskSocket';

const KINDS: ServerTextKind[] = ['problem', 'error', 'event'];
const listed = codes as Record<ServerTextKind, Record<string, { en: string; params: string[] }[]>>;

/** `{name=value}` conditions of a template, as "name=value" strings, sorted. */
const conditions = (template: string) =>
  [...template.matchAll(/\{(\w+)=([\w.-]+)\}/g)].map((m) => `${m[1]}=${m[2]}`).sort();

describe('the catalog of server texts', () => {
  it.each(KINDS)('has English and Chinese for every %s code the server can send', (kind) => {
    const missing = Object.keys(listed[kind]).filter((code) => !SERVER_TEXTS[kind][code]);
    expect(missing, `no ${kind} texts in serverText.ts`).toEqual([]);
    for (const [code, templates] of Object.entries(listed[kind])) {
      const ours = SERVER_TEXTS[kind][code];
      expect(ours.map((x) => x.en), `${kind} ${code}: the server's English templates, in order`).toEqual(
        templates.map((x) => x.en),
      );
      templates.forEach((listedTemplate, i) => {
        const { en, zh } = ours[i];
        expect(templateNames(en), `${code} en #${i}`).toEqual(listedTemplate.params);
        expect(templateNames(zh), `${code} zh #${i}: ${zh}`).toEqual(listedTemplate.params);
        expect(conditions(zh), `${code} zh #${i}`).toEqual(conditions(en));
        expect(zh, `${code} #${i} is not translated`).not.toEqual(en);
      });
    }
  });

  it.each(KINDS)('has no %s code the server no longer sends', (kind) => {
    expect(Object.keys(SERVER_TEXTS[kind]).filter((code) => !listed[kind][code])).toEqual([]);
  });
});

describe('serverText', () => {
  const yanked = { package: 'lib', version: '2.0', reason: 'broken build' };

  it('fills the Chinese template of the code', () => {
    expect(serverText('zh', 'problem', 'yanked', yanked, 'lib 2.0 is yanked: broken build')).toBe(
      'lib 2.0 已被撤回（yanked）：broken build',
    );
    // the template with exactly the parameters given
    const { reason: _dropped, ...bare } = yanked;
    expect(serverText('zh', 'problem', 'yanked', bare, 'lib 2.0 is yanked')).toBe('lib 2.0 已被撤回（yanked）');
    expect(serverText('zh', 'event', 'file-fetched', { name: 'a.whl' }, 'fetched a.whl')).toBe('已下载 a.whl');
  });

  it('picks a variant by its condition, which shows nothing', () => {
    const params = { package: 'a', version: '1', refused: 'wheel' };
    expect(serverText('zh', 'problem', 'no-file-for-target', params, 'english')).toBe(
      'a 1 没有源码包，而 wheel 已被拒绝（--no-binary）',
    );
    expect(serverText('zh', 'problem', 'no-file-for-target', { ...params, refused: 'other' }, 'english')).toBe(
      'english',
    );
  });

  it("shows the resolver's own words verbatim inside the translated frame", () => {
    const output = 'Because nope was not found in the package registry, ...';
    expect(serverText('zh', 'problem', 'not-found', { output }, output)).toBe(`找不到所需的包：${output}`);
  });

  it("falls back to the server's message", () => {
    const message = 'lib 2.0 is yanked: broken build';
    expect(serverText('en', 'problem', 'yanked', yanked, message)).toBe(message);
    expect(serverText('zh', 'problem', 'no-such-kind', yanked, message)).toBe(message); // unknown code
    expect(serverText('zh', 'problem', 'yanked', { package: 'lib' }, message)).toBe(message); // a param missing
    expect(serverText('zh', 'problem', 'yanked', { ...yanked, extra: 'x' }, message)).toBe(message);
    expect(serverText('zh', 'problem', 'yanked', undefined, message)).toBe(message); // an older server
    expect(serverText('zh', 'error', 'ferry-error', null, 'the task ran past its time limit')).toBe(
      'the task ran past its time limit',
    );
    expect(serverText('zh', 'problem', 'constructor', {}, message)).toBe(message);
    expect(serverText('zh', 'event', null, {}, 'hello')).toBe('hello');
  });

  it('finds an error event by its error code', () => {
    const params = { file: 'requirements.txt', line: '2', reason: 'not a requirement' };
    expect(serverText('zh', 'event', 'manifest-invalid', params, 'x')).toBe(
      '清单文件 requirements.txt 第 2 行有误：not a requirement',
    );
    expect(serverText('zh', 'error', 'ferry-error', { limit: 'time' }, 'x')).toBe('任务超出了时间限制');
  });

  it('frames a status change', () => {
    expect(statusLine('zh', '解析中', '开始分析')).toBe('状态：解析中（开始分析）');
    expect(statusLine('zh', '已创建', null)).toBe('状态：已创建');
    expect(statusLine('en', 'resolving', 'analysis started')).toBe('status: resolving (analysis started)');
  });

  it('keeps the code and params of each log line the socket gets', () => {
    const base = { phase: null, current: null, total: null, bytes_done: null, bytes_total: null, speed: null, eta: null, package_name: null, ecosystem: null, timestamp: '2025-01-01T00:00:00Z' };
    const batch = [
      { ...base, type: 'log', status: null, message: 'fetched a.whl', code: 'file-fetched', params: { name: 'a.whl' } },
      { ...base, type: 'status', status: 'resolving', message: 'analysis started', code: 'analysis-started', params: {} },
      { ...base, type: 'log', status: null, message: 'failed b.whl: HTTP 404', code: 'file-failed', params: { name: 'b.whl', reason: 'HTTP 404' } },
    ] as WsMessage[];
    const { logs } = applyMessages(initialSocketState(), batch, 100, false);
    expect(logs.map((l) => [l.code, l.params, l.level])).toEqual([
      ['file-fetched', { name: 'a.whl' }, 'success'],
      ['analysis-started', {}, 'info'],
      ['file-failed', { name: 'b.whl', reason: 'HTTP 404' }, 'error'],
    ]);
    expect(logs[1]).toMatchObject({ status: 'resolving', reason: 'analysis started' });
  });
});
