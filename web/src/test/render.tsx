/** What page tests share to show the app: at a URL, in a language, at a screen width. */
import { vi } from 'vitest';
import { render } from '@testing-library/react';
import { App } from '../App';
import { I18nProvider } from '../i18n';
import type { Lang } from '../i18n';

/** antd shows a column by its `responsive` breakpoints, which it reads with matchMedia. */
export function screenWidth(px: number) {
  vi.stubGlobal('matchMedia', (query: string) => {
    const min = /min-width:\s*(\d+)px/.exec(query);
    const max = /max-width:\s*(\d+)px/.exec(query);
    const matches = (!min || px >= Number(min[1])) && (!max || px <= Number(max[1]));
    return {
      matches,
      media: query,
      onchange: null,
      addListener: () => undefined,
      removeListener: () => undefined,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      dispatchEvent: () => false,
    };
  });
}

/** The whole app at `search` (the query string, with its `?`). */
export function renderAt(search: string, lang: Lang = 'en') {
  window.history.replaceState(null, '', `/${search}`);
  return render(
    <I18nProvider initial={lang}>
      <App />
    </I18nProvider>,
  );
}
