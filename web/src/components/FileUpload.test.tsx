import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { App } from 'antd';
import { I18nProvider } from '../i18n';
import type { Lang } from '../i18n';
import { FileUpload, acceptedName } from './FileUpload';

function renderUpload(onCreated = vi.fn(), lang: Lang = 'en') {
  render(
    <I18nProvider initial={lang}>
      <App>
        <FileUpload options={{ npm: true, pypi: true, python_versions: ['3.12'] }} onCreated={onCreated} />
      </App>
    </I18nProvider>,
  );
  return onCreated;
}

function addFiles(...files: File[]) {
  const input = screen.getByTestId('upload-dragger').querySelector('input[type="file"]') as HTMLInputElement;
  expect(input).not.toBeNull();
  expect(input.multiple).toBe(true);
  fireEvent.change(input, { target: { files } });
}

function jsonResponse(status: number, body: unknown, type = 'application/json') {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('FileUpload', () => {
  it('names the accepted types and lists chosen files with remove buttons', async () => {
    renderUpload();
    expect(screen.getByTestId('upload-accepted')).toHaveTextContent('requirements*.txt');
    expect(screen.getByTestId('upload-accepted')).toHaveTextContent('package.json');
    expect(screen.getByTestId('submit-button')).toBeDisabled();
    addFiles(new File(['flask\n'], 'requirements.txt'), new File(['{}'], 'package.json'));
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(2));
    expect(screen.getByTestId('submit-button')).toBeEnabled();
    const first = screen.getAllByTestId('upload-file')[0];
    fireEvent.click(within(first).getByTestId('upload-remove'));
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(1));
    expect(screen.getByTestId('upload-file').getAttribute('data-name')).toBe('package.json');
  });

  it("shows the server's refusal with file, line and reason", async () => {
    const fetchMock = vi.fn(async () =>
      jsonResponse(
        422,
        {
          type: 'urn:ferry:manifest-invalid',
          title: 'requirements.txt:3: not a requirement',
          status: 422,
          code: 'manifest-invalid',
          message: 'requirements.txt:3: not a requirement',
          file: 'requirements.txt',
          line: 3,
          reason: 'not a requirement',
        },
        'application/problem+json',
      ),
    );
    vi.stubGlobal('fetch', fetchMock);
    const onCreated = renderUpload();
    addFiles(new File(['flask\n???\n'], 'requirements.txt'));
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(1));
    fireEvent.click(screen.getByTestId('submit-button'));

    const alert = await screen.findByTestId('upload-error');
    expect(alert).toHaveTextContent('manifest-invalid');
    expect(within(alert).getByTestId('upload-error-message')).toHaveTextContent('requirements.txt:3: not a requirement');
    expect(within(alert).getByTestId('upload-error-where')).toHaveTextContent('File requirements.txt, line 3');
    expect(within(alert).getByTestId('upload-error-reason')).toHaveTextContent('not a requirement');
    expect(onCreated).not.toHaveBeenCalled();

    // what was sent: the files and the options as a JSON string, as multipart
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/tasks');
    expect(init.method).toBe('POST');
    const form = init.body as FormData;
    expect((form.getAll('files') as File[]).map((f) => f.name)).toEqual(['requirements.txt']);
    expect(JSON.parse(String(form.get('options')))).toEqual({ npm: true, pypi: true, python_versions: ['3.12'] });
  });

  it("says the refusal and what to do next in the reader's language", async () => {
    const hint = 'Upload manifests by their own names, e.g. requirements.txt or package.json.';
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        jsonResponse(
          400,
          {
            type: 'urn:ferry:upload-invalid',
            title: "file name 'a:b.txt' is not a plain file name",
            status: 400,
            code: 'upload-invalid',
            message: "file name 'a:b.txt' is not a plain file name",
            params: { name: "'a:b.txt'" },
            hint,
            hint_code: 'upload-plain-name',
            hint_params: {},
          },
          'application/problem+json',
        ),
      ),
    );
    renderUpload(vi.fn(), 'zh');
    addFiles(new File(['flask\n'], 'requirements.txt'));
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(1));
    fireEvent.click(screen.getByTestId('submit-button'));
    const alert = await screen.findByTestId('upload-error');
    expect(alert).toHaveTextContent('upload-invalid'); // the code as it is
    expect(within(alert).getByTestId('upload-error-message')).toHaveTextContent("文件名 'a:b.txt' 不是普通的文件名");
    expect(within(alert).getByTestId('upload-error-hint')).toHaveTextContent(
      '请按清单文件原本的名称上传，例如 requirements.txt 或 package.json。',
    );
  });

  it('shows a hint it has no words for as the server wrote it', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        jsonResponse(
          429,
          { code: 'quota-exceeded', message: 'over', hint: 'Ask for more.', hint_code: 'from-a-newer-server', hint_params: {} },
          'application/problem+json',
        ),
      ),
    );
    renderUpload(vi.fn(), 'zh');
    addFiles(new File(['flask\n'], 'requirements.txt'));
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(1));
    fireEvent.click(screen.getByTestId('submit-button'));
    expect(await screen.findByTestId('upload-error-hint')).toHaveTextContent(/^Ask for more\.$/);
  });

  it('hands the created task on', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => jsonResponse(201, { task_id: 'abc123', status: 'created', files: ['package.json'], created_at: '2025-01-01T00:00:00Z' })),
    );
    const onCreated = renderUpload();
    addFiles(new File(['{}'], 'package.json'));
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(1));
    fireEvent.click(screen.getByTestId('submit-button'));
    await waitFor(() => expect(onCreated).toHaveBeenCalledTimes(1));
    expect(onCreated.mock.calls[0][0].task_id).toBe('abc123');
  });
});

describe('files checked when chosen', () => {
  it('marks a file the server would refuse at once, keeps the others, and waits for its removal', async () => {
    renderUpload();
    addFiles(new File(['flask\n'], 'requirements-dev.txt'), new File(['x'], 'notes.docx'), new File(['{}'], 'package.json'));
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(3));
    const refused = screen.getAllByTestId('upload-file').filter((el) => within(el).queryByTestId('upload-file-refused'));
    expect(refused.map((el) => el.getAttribute('data-name'))).toEqual(['notes.docx']);
    expect(screen.getByTestId('submit-button')).toBeDisabled();
    fireEvent.click(within(refused[0]).getByTestId('upload-remove'));
    await waitFor(() => expect(screen.getAllByTestId('upload-file')).toHaveLength(2));
    expect(screen.getByTestId('submit-button')).toBeEnabled();
  });

  it("follows the server's name rules", () => {
    for (const ok of ['requirements.txt', 'REQUIREMENTS-prod.TXT', 'constraints.txt', 'dev.in', 'Pipfile', 'pipfile.lock', 'pyproject.toml', '.npmrc', 'npm-shrinkwrap.json']) {
      expect(acceptedName(ok), ok).toBe(true);
    }
    for (const bad of ['MANIFEST.in', 'setup.py', 'Package.json', 'notes.txt', 'requirements.pdf']) {
      expect(acceptedName(bad), bad).toBe(false);
    }
  });
});
