import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import { I18nProvider } from '../i18n';
import { ProblemSummary } from './ProblemSummary';
import { splitList } from './ProblemMessage';

const names = Array.from({ length: 68 }, (_, i) => `pkg-${i}@1.0.0`);
const long = {
  severity: 'info' as const,
  kind: 'optional-platform-excluded',
  message: `68 optional package(s) for other platforms left out: ${names.join(', ')}`,
  package: 'pkg-0',
  target: 'node20-linux-x64-glibc',
  chain: [],
};

describe('problem messages', () => {
  it('collapse a long list of names behind "show N more", and open it in place', () => {
    const onSelect = vi.fn();
    render(
      <I18nProvider initial="en">
        <ProblemSummary items={[{ problem: long, ecosystem: 'npm', treeId: 'npm' }]} onSelect={onSelect} />
      </I18nProvider>,
    );
    const message = screen.getByTestId('problem-message');
    expect(message).toHaveTextContent('left out: pkg-0@1.0.0, pkg-1@1.0.0');
    expect(message).not.toHaveTextContent('pkg-67@1.0.0');
    expect(screen.getByTestId('problem-toggle')).toHaveTextContent('show 63 more');
    fireEvent.click(screen.getByTestId('problem-toggle'));
    expect(screen.getByTestId('problem-message')).toHaveTextContent('pkg-67@1.0.0');
    expect(onSelect).not.toHaveBeenCalled(); // opening the list is not "show in tree"
    expect(screen.getByTestId('problem-toggle')).toHaveTextContent('show less');
  });

  it('are in Chinese when the language is zh, the list still collapsed', () => {
    const yanked = {
      severity: 'warning' as const,
      kind: 'yanked',
      message: 'lib 2.0 is yanked: broken build',
      package: 'lib',
      target: 'cp311-manylinux_2_28_x86_64',
      chain: [],
      params: { package: 'lib', version: '2.0', reason: 'broken build' },
    };
    const listed = { ...long, params: { count: '68', names: names.join(', ') } };
    const unknown = { ...yanked, kind: 'something-new', message: 'a new English text', params: {} };
    render(
      <I18nProvider initial="zh">
        <ProblemSummary
          items={[yanked, listed, unknown].map((problem) => ({ problem, ecosystem: 'npm' as const }))}
        />
      </I18nProvider>,
    );
    const [first, third, second] = screen.getAllByTestId('problem-item'); // warnings first
    expect(first).toHaveTextContent('lib 2.0 已被撤回（yanked）：broken build');
    expect(first).toHaveTextContent('警告'); // the severity's tag; the kind's stays a code
    expect(first).toHaveTextContent('yanked');
    expect(second).toHaveTextContent('已略去 68 个用于其他平台的可选包：pkg-0@1.0.0, pkg-1@1.0.0');
    expect(second).not.toHaveTextContent('pkg-67@1.0.0');
    expect(screen.getByTestId('problem-toggle')).toHaveTextContent('显示其余 63 个');
    expect(third).toHaveTextContent('a new English text'); // a kind the catalog lacks
  });

  it('leave short lists alone', () => {
    expect(splitList('a@1 is deprecated: use b')).toBeNull();
    expect(splitList(`x: ${names.slice(0, 8).join(', ')}`)?.[1]).toHaveLength(8);
    expect(splitList(`某某：${names.slice(0, 8).join(', ')}`)).toEqual(['某某：', names.slice(0, 8)]);
  });
});
