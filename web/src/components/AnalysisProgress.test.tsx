import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { I18nProvider } from '../i18n';
import { applyMessages, initialSocketState } from '../hooks/useTaskSocket';
import type { WsMessage } from '../hooks/useTaskSocket';
import { AnalysisProgress, ecosystemsOf } from './AnalysisProgress';

const event = (ecosystem: string, phase: string, current: number | null = null, total: number | null = null) =>
  ({ type: 'analysis', ecosystem, phase, current, total }) as unknown as WsMessage;

describe('AnalysisProgress', () => {
  it('knows the ecosystems from the uploaded names', () => {
    expect(ecosystemsOf(['requirements.txt', 'package.json', '.npmrc'])).toEqual(['pypi', 'npm']);
    expect(ecosystemsOf(['package-lock.json'])).toEqual(['npm']);
    expect(ecosystemsOf(['pyproject.toml', 'poetry.lock'])).toEqual(['pypi']);
  });

  it('folds analysis events into a map, leaving the task phase alone', () => {
    let state = initialSocketState();
    state = applyMessages(state, [event('npm', 'resolving'), event('pypi', 'metadata', 3, 10)], 100, false);
    state = applyMessages(state, [event('pypi', 'metadata', 7, 10)], 100, false);
    expect(state.analysis).toEqual({
      npm: { stage: 'resolving', current: null, total: null },
      pypi: { stage: 'metadata', current: 7, total: 10 },
    });
    expect(state.phase).toBeNull();
    expect(state.progress).toEqual({});
  });

  it('shows each ecosystem with its stage, counts while reading metadata, waiting before a word', () => {
    const first = render(
      <I18nProvider initial="en">
        <AnalysisProgress files={['requirements.txt', 'package.json']} analysis={{}} />
      </I18nProvider>,
    );
    expect(screen.getByTestId('analysis-pypi').getAttribute('data-stage')).toBe('waiting');
    expect(screen.getByTestId('analysis-npm-stage')).toHaveTextContent('waiting');
    first.unmount();
    render(
      <I18nProvider initial="zh">
        <AnalysisProgress
          files={['requirements.txt', 'package.json']}
          analysis={{ pypi: { stage: 'metadata', current: 140, total: 312 }, npm: { stage: 'done', current: null, total: null } }}
        />
      </I18nProvider>,
    );
    expect(screen.getByTestId('analysis-pypi-stage')).toHaveTextContent('读取元数据和大小');
    expect(screen.getByTestId('analysis-pypi-count')).toHaveTextContent('140 / 312 个包');
    expect(screen.getByTestId('analysis-npm').getAttribute('data-stage')).toBe('done');
    expect(screen.queryByTestId('analysis-npm-count')).toBeNull();
  });
});
