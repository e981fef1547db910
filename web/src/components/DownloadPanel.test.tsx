import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import type { Task } from '../api/client';
import { I18nProvider } from '../i18n';
import type { Lang } from '../i18n';
import { DownloadPanel } from './DownloadPanel';

const url = 'http://127.0.0.1:4873/left-pad/-/left-pad-1.3.0.tgz';

// a download that gave up on three files: one said by a code the page knows, one by a
// code it does not (a newer server), one stored before failed files kept a code at all
const failed: Task = {
  task_id: 't1',
  status: 'failed',
  files: ['package.json'],
  options: {},
  progress: {
    npm: {
      state: 'done',
      total: 3,
      completed: 0,
      cached: 0,
      failed: 3,
      failed_packages: [
        {
          name: 'left-pad-1.3.0.tgz',
          error: `${url} answered HTTP 404`,
          code: 'fetch-failed',
          params: { url, status: '404' },
        },
        { name: 'b-1.0.0.tgz', error: 'something new went wrong', code: 'from-a-newer-server', params: { what: 'x' } },
        { name: 'c-1.0.0.tgz', error: 'HTTP 500 from the registry' },
      ],
      bytes_done: 0,
      bytes_total: 1500,
    },
  },
  error: {
    code: 'fetch-failed',
    message: '3 file(s) could not be fetched',
    params: { detail: '3 file(s) could not be fetched' },
    hint: 'Check the network connection and proxy settings, then run again: files already fetched are kept, and unfinished ones resume where they stopped.',
    hint_code: 'retry',
    hint_params: {},
  },
  archive_url: null,
  owner: 'tester',
  archive_size: null,
  created_at: '2025-01-01T12:00:00Z',
  updated_at: '2025-01-01T12:00:01Z',
  started_at: null,
  completed_at: null,
};

function renderPanel(lang: Lang) {
  return render(
    <I18nProvider initial={lang}>
      <DownloadPanel task={failed} status="failed" progress={{}} onAction={() => undefined} />
    </I18nProvider>,
  );
}

const reasons = () => screen.getAllByTestId('failed-item').map((item) => within(item).getByTestId('failed-reason').textContent);

describe('DownloadPanel', () => {
  it("says why each file failed in the reader's language, the URL as it is", () => {
    renderPanel('zh');
    expect(reasons()).toEqual([
      `${url} 返回了 HTTP 404`,
      // an unknown code, or none (a task stored earlier): the server's English
      'something new went wrong',
      'HTTP 500 from the registry',
    ]);
    expect(screen.getByTestId('task-error')).toHaveTextContent('下载失败：3 file(s) could not be fetched');
    expect(screen.getByTestId('task-error-hint')).toHaveTextContent(
      '请检查网络连接和代理设置后重试：已下载的文件会保留，未下载完的文件会从中断处继续。',
    );
  });

  it("shows the server's own words in English", () => {
    renderPanel('en');
    expect(reasons()).toEqual([`${url} answered HTTP 404`, 'something new went wrong', 'HTTP 500 from the registry']);
    expect(screen.getByTestId('task-error-hint')).toHaveTextContent(/^Check the network connection and proxy settings/);
  });
});
