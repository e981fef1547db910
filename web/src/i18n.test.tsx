import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { DatePicker, Empty } from 'antd';
import { I18nProvider, LANG_STORAGE_KEY, LanguageSwitch, messages, translate, useI18n } from './i18n';

function Probe() {
  const { t, lang } = useI18n();
  return (
    <div>
      <span data-testid="lang">{lang}</span>
      <span data-testid="step">{t('step.analyse')}</span>
      <span data-testid="start">{t('analyse.start')}</span>
      <Empty />
    </div>
  );
}

function renderApp() {
  return render(
    <I18nProvider>
      <LanguageSwitch />
      <Probe />
    </I18nProvider>,
  );
}

describe('i18n', () => {
  it('has every English key in Chinese', () => {
    for (const key of Object.keys(messages.en) as (keyof typeof messages.en)[]) {
      expect(messages.zh[key], key).toBeTruthy();
    }
    expect(translate('zh', 'analyse.npmTitle', { count: 12 })).toBe('NPM 依赖（12 个包）');
    expect(translate('en', 'download.files', { current: 3, total: 9 })).toBe('Files 3 / 9');
  });

  it('switches to Simplified Chinese with antd zh_CN, and remembers it', () => {
    const first = renderApp();
    expect(screen.getByTestId('lang')).toHaveTextContent('en');
    expect(screen.getByTestId('step')).toHaveTextContent('Analyse');
    expect(document.querySelector('.ant-empty-description')).toHaveTextContent('No data'); // antd en_US

    fireEvent.click(within(screen.getByTestId('lang-switch')).getByText('中文'));
    expect(screen.getByTestId('lang')).toHaveTextContent('zh');
    expect(screen.getByTestId('step')).toHaveTextContent('依赖分析');
    expect(screen.getByTestId('start')).toHaveTextContent('开始下载');
    expect(document.querySelector('.ant-empty-description')).toHaveTextContent('暂无数据'); // antd zh_CN
    expect(window.localStorage.getItem(LANG_STORAGE_KEY)).toBe('zh');
    expect(document.documentElement.lang).toBe('zh-CN');
    first.unmount();

    // the next visit opens in Chinese
    renderApp();
    expect(screen.getByTestId('step')).toHaveTextContent('依赖分析');
    fireEvent.click(within(screen.getByTestId('lang-switch')).getByText('English'));
    expect(screen.getByTestId('step')).toHaveTextContent('Analyse');
    expect(window.localStorage.getItem(LANG_STORAGE_KEY)).toBe('en');
  });

  it('gives antd components the Chinese locale', () => {
    render(
      <I18nProvider initial="zh">
        <DatePicker open getPopupContainer={(node) => node.parentElement ?? document.body} />
      </I18nProvider>,
    );
    expect(screen.getByText('今天')).toBeInTheDocument();
  });
});

describe('plurals', () => {
  it('says "1 package", "1 match", "2 matches", in English; Chinese has one form', () => {
    expect(translate('en', 'analyse.npmTitle', { count: 1 })).toBe('npm dependencies (1 package)');
    expect(translate('en', 'analyse.npmTitle', { count: 3 })).toBe('npm dependencies (3 packages)');
    expect(translate('en', 'tree.matches', { count: 1 })).toBe('1 match');
    expect(translate('en', 'tree.matches', { count: 2 })).toBe('2 matches');
    expect(translate('zh', 'problems.errors', { count: 1 })).toBe(
      messages.zh['problems.errors'].replace('{count}', '1'),
    );
  });
});
