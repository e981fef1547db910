import { describe, expect, it } from 'vitest';
import codes from './serverCodes.json';
import { SERVER_TEXTS, hintOf, serverText, statusLine, templateNames } from './serverText';
import type { ServerTextKind } from './serverText';
import { applyMessages, initialSocketState } from './hooks/useTaskSocket';
import type { WsMessage } from './hooks/useTaskSocket';

const KINDS: ServerTextKind[] = ['problem', 'error', 'event', 'hint'];
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

  it("words an error's hint by its hint code, with its params as they are", () => {
    expect(
      serverText('zh', 'hint', 'retry', {}, 'Check the network connection and proxy settings, then run again: ...'),
    ).toBe('请检查网络连接和代理设置后重试：已下载的文件会保留，未下载完的文件会从中断处继续。');
    expect(serverText('zh', 'hint', 'choose-one', { choices: '3.10, 3.11, 3.12' }, 'Choose one of 3.10, 3.11, 3.12.')).toBe(
      '请从以下选项中选择：3.10, 3.11, 3.12。',
    );
    // a variant picked by its condition
    expect(serverText('zh', 'hint', 'tls', { env: 'no' }, 'english')).toBe(
      '如果所在网络使用自己的证书颁发机构（CA），请让 Ferry 使用它的 CA 证书包（cert 设置）。',
    );
    expect(serverText('zh', 'hint', 'token-name', { what: 'owner' }, 'english')).toMatch(/^所有者由 1-100 个/);
  });

  it('keeps the English of a hint it cannot word', () => {
    const english = 'Do something only a newer server knows.';
    expect(serverText('zh', 'hint', 'from-a-newer-server', {}, english)).toBe(english); // unknown code
    expect(serverText('zh', 'hint', undefined, undefined, english)).toBe(english); // an older server
    expect(serverText('zh', 'hint', 'choose-one', {}, english)).toBe(english); // a param missing
    expect(serverText('zh', 'hint', 'tls', { env: 'yes' }, english)).toBe(english); // no variant fits
    expect(serverText('en', 'hint', 'retry', {}, english)).toBe(english);
    // an error's hint is not looked up among the error codes, nor an error among the hints
    expect(serverText('zh', 'hint', 'fetch-failed', { url: 'u', status: '404' }, english)).toBe(english);
    expect(serverText('zh', 'error', 'retry', {}, english)).toBe(english);
  });

  it("takes a hint from a task's error or a problem document", () => {
    expect(hintOf({ hint: 'Try again later.', hint_code: 'quota-hourly', hint_params: {} })).toEqual({
      code: 'quota-hourly',
      params: {},
      message: 'Try again later.',
    });
    expect(hintOf({ hint: null })).toBeNull();
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
