import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import { I18nProvider } from '../i18n';
import type { LogEntry } from '../hooks/useTaskSocket';
import { LogPanel } from './LogPanel';

const lines = (n: number): LogEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    timestamp: '2025-01-01T12:00:00Z',
    message: `fetched pkg-${i}`,
    level: 'success' as const,
    ecosystem: 'pypi',
    package_name: null,
    phase: null,
  }));

/** jsdom has no layout: give the panel a 200px box whose content is 20px a line. */
function fakeLayout(el: HTMLElement) {
  let top = 0;
  Object.defineProperty(el, 'clientHeight', { configurable: true, get: () => 200 });
  Object.defineProperty(el, 'scrollHeight', { configurable: true, get: () => el.querySelectorAll('[data-testid="log-line"]').length * 20 });
  Object.defineProperty(el, 'scrollTop', {
    configurable: true,
    get: () => top,
    set: (v: number) => {
      top = Math.max(0, Math.min(v, el.scrollHeight - 200));
    },
  });
}

function ui(logs: LogEntry[]) {
  return (
    <I18nProvider initial="en">
      <LogPanel logs={logs} connection="open" />
    </I18nProvider>
  );
}

describe('LogPanel', () => {
  it('follows new lines until the user scrolls up, and again after "follow"', () => {
    const view = render(ui(lines(20)));
    const panel = screen.getByTestId('log-panel');
    fakeLayout(panel);
    view.rerender(ui(lines(30)));
    expect(panel.scrollTop).toBe(30 * 20 - 200); // at the bottom
    expect(panel.getAttribute('data-following')).toBe('true');

    // the user scrolls up: new lines no longer move the view
    panel.scrollTop = 100;
    fireEvent.scroll(panel);
    expect(panel.getAttribute('data-following')).toBe('false');
    view.rerender(ui(lines(40)));
    expect(panel.scrollTop).toBe(100);

    // "follow" jumps to the bottom and follows again
    fireEvent.click(screen.getByTestId('log-follow'));
    expect(panel.scrollTop).toBe(40 * 20 - 200);
    view.rerender(ui(lines(50)));
    expect(panel.scrollTop).toBe(50 * 20 - 200);
  });

  it("shows Ferry's lines in Chinese when the language is zh, others as the server wrote them", () => {
    const at = { timestamp: '2025-01-01T12:00:00Z', ecosystem: 'pypi', package_name: null, phase: null };
    const logs: LogEntry[] = [
      { ...at, id: 1, message: 'fetched a.whl', level: 'success', code: 'file-fetched', params: { name: 'a.whl' } },
      {
        ...at,
        id: 2,
        message: 'failed b.whl: HTTP 404 from the index',
        level: 'error',
        code: 'file-failed',
        params: { name: 'b.whl', reason: 'HTTP 404 from the index' },
      },
      {
        ...at,
        id: 3,
        ecosystem: null,
        message: 'status: resolving (analysis started)',
        level: 'info',
        code: 'analysis-started',
        params: {},
        status: 'resolving',
        reason: 'analysis started',
      },
      { ...at, id: 4, message: 'a line from an older server', level: 'info' },
    ];
    render(
      <I18nProvider initial="zh">
        <LogPanel logs={logs} connection="open" />
      </I18nProvider>,
    );
    const lines = screen.getAllByTestId('log-line');
    expect(lines[0]).toHaveTextContent('已下载 a.whl');
    expect(lines[1]).toHaveTextContent('下载失败 b.whl：HTTP 404 from the index');
    expect(lines[2]).toHaveTextContent('状态：解析中（开始分析）');
    expect(lines[3]).toHaveTextContent('a line from an older server');
  });
});
