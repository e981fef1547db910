/**
 * Step ① — the manifests: drag and drop or click, several files, the list with remove
 * buttons, the accepted types named. Submitting POSTs them (with the target options) to
 * /api/tasks; a refusal is shown here with the server's message, file, line and reason.
 */
import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { Alert, Button, Space, Tag, Typography, Upload } from 'antd';
import type { UploadFile } from 'antd';
import type { RcFile } from 'antd/es/upload';
import { DeleteOutlined, FileTextOutlined, InboxOutlined, RocketOutlined } from '@ant-design/icons';
import { ApiError, createTask } from '../api/client';
import type { TaskCreated, TaskError, TaskOptions } from '../api/client';
import { rememberUpload, takePendingUpload } from '../draft';
import { formatBytes } from '../format';
import { useI18n } from '../i18n';
import { severityText, useServerText } from '../serverText';
import type { ServerParams, ServerSaid } from '../serverText';

export const ACCEPTED_TYPES = [
  'requirements*.txt',
  '*.in',
  'pyproject.toml',
  'Pipfile',
  'Pipfile.lock',
  'package.json',
  'package-lock.json',
  'npm-shrinkwrap.json',
  '.npmrc',
];

/** Would the server take a file of this name? Its rules (`tasks/uploads.py`): the
 * Python patterns case-insensitively, npm's names exactly. */
export function acceptedName(name: string): boolean {
  const lower = name.toLowerCase();
  if (['package.json', 'package-lock.json', 'npm-shrinkwrap.json', '.npmrc', 'npmrc'].includes(name)) return true;
  if (['pyproject.toml', 'pipfile', 'pipfile.lock'].includes(lower)) return true;
  if (lower.endsWith('.txt') && (lower.includes('requirements') || lower.includes('constraints'))) return true;
  return lower.endsWith('.in') && lower !== 'manifest.in';
}

export interface FileUploadProps {
  /** The options sent with the files. */
  options: TaskOptions;
  /** Called with the created task. */
  onCreated: (task: TaskCreated) => void;
  /** Rendered between the file list and the submit button (the target options). */
  children?: ReactNode;
  /** Told the chosen files the server would take, whenever they change. */
  onFilesChange?: (files: File[]) => void;
  /** Files found broken when chosen (before submitting), each with file and line. */
  checkErrors?: TaskError[];
}

interface ShownError {
  message: string;
  code?: string;
  params?: ServerParams;
  file?: string;
  line?: number;
  reason?: string;
  /** What to do next: its code and params, and the server's English. */
  hint?: ServerSaid;
  problems?: { severity: string; kind: string; message: string; params?: ServerParams }[];
}

function toShown(err: unknown): ShownError {
  if (err instanceof ApiError) {
    return {
      message: err.message,
      code: err.code,
      params: err.params,
      file: err.file,
      line: err.line,
      reason: err.reason,
      hint: err.hint ? { code: err.hintCode, params: err.hintParams, message: err.hint } : undefined,
      problems: err.problems,
    };
  }
  return { message: err instanceof Error ? err.message : String(err) };
}

export function FileUpload({ options, onCreated, children, onFilesChange, checkErrors = [] }: FileUploadProps) {
  const { t, lang } = useI18n();
  const said = useServerText();
  // the files of a task being fixed ("fix the manifests"), else none
  const [files, setFiles] = useState<UploadFile[]>(() =>
    takePendingUpload().map((file, i) => ({
      uid: `kept-${i}-${file.name}`,
      name: file.name,
      size: file.size,
      originFileObj: file as RcFile,
    })),
  );
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<ShownError | null>(null);

  useEffect(() => {
    onFilesChange?.(
      files
        .filter((f) => acceptedName(f.name))
        .map((f) => f.originFileObj)
        .filter((f): f is NonNullable<typeof f> => Boolean(f)) as File[],
    );
  }, [files, onFilesChange]);

  const onChange = (list: UploadFile[]) => {
    // a file chosen again under the same name replaces the earlier one
    const byName = new Map<string, UploadFile>();
    for (const f of list) byName.set(f.name, f);
    setFiles(Array.from(byName.values()));
    setError(null);
  };

  const submit = async () => {
    const chosen = files
      .map((f) => f.originFileObj)
      .filter((f): f is NonNullable<typeof f> => Boolean(f)) as File[];
    if (chosen.length === 0) return;
    setSubmitting(true);
    setError(null);
    try {
      const task = await createTask(chosen, options);
      rememberUpload(task.task_id, chosen);
      onCreated(task);
    } catch (err) {
      setError(toShown(err));
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }} data-testid="file-upload">
      <div data-testid="upload-dragger">
      <Upload.Dragger
        multiple
        fileList={files}
        beforeUpload={() => false}
        onChange={({ fileList }) => onChange(fileList)}
        itemRender={(_node, file, _list, actions) => (
          <div className="upload-file" data-testid="upload-file" data-name={file.name}>
            <FileTextOutlined />
            <span className="upload-file-name">{file.name}</span>
            {!acceptedName(file.name) && (
              // marked at once, the other files kept: the server would refuse this one
              <Tag color="red" data-testid="upload-file-refused">
                {t('upload.notManifest')}
              </Tag>
            )}
            {file.size != null && (
              <Typography.Text type="secondary">{formatBytes(file.size)}</Typography.Text>
            )}
            <Button
              size="small"
              type="text"
              danger
              icon={<DeleteOutlined />}
              aria-label={`${t('upload.remove')} ${file.name}`}
              data-testid="upload-remove"
              onClick={actions.remove}
            />
          </div>
        )}
      >
        <p className="ant-upload-drag-icon">
          <InboxOutlined />
        </p>
        <p className="ant-upload-text">{t('upload.drag')}</p>
        <p className="ant-upload-hint" data-testid="upload-accepted">
          {t('upload.hint', { types: ACCEPTED_TYPES.join(', ') })}
        </p>
      </Upload.Dragger>
      </div>
      {files.length === 0 && (
        <Typography.Text type="secondary" data-testid="upload-empty">
          {t('upload.noFiles')}
        </Typography.Text>
      )}

      {checkErrors.map((e, i) => (
        // a broken manifest, named when chosen; the form and the other files are kept
        <Alert
          key={`${e.file}-${i}`}
          type="warning"
          showIcon
          data-testid="upload-check-error"
          message={
            e.file && e.line != null
              ? t('upload.where', { file: e.file, line: e.line })
              : t('upload.checkFailed', { file: e.file ?? '' })
          }
          description={e.reason ?? said('error', e)}
        />
      ))}

      {children}

      {error && (
        <Alert
          type="error"
          showIcon
          closable
          onClose={() => setError(null)}
          data-testid="upload-error"
          message={
            <span>
              {t('upload.refused')}
              {error.code ? <Typography.Text code>{error.code}</Typography.Text> : null}
            </span>
          }
          description={
            <div>
              <div data-testid="upload-error-message">{said('error', error)}</div>
              {error.file && (
                <div data-testid="upload-error-where">
                  <strong>
                    {error.line != null
                      ? t('upload.where', { file: error.file, line: error.line })
                      : t('upload.whereFile', { file: error.file })}
                  </strong>
                </div>
              )}
              {error.reason && (
                <div data-testid="upload-error-reason">
                  {t('upload.reason')}: {error.reason}
                </div>
              )}
              {error.hint && (
                <div className="error-hint" data-testid="upload-error-hint">
                  {said('hint', error.hint)}
                </div>
              )}
              {error.problems && error.problems.length > 0 && (
                <ul className="error-problems">
                  {error.problems.map((p, i) => (
                    <li key={i}>
                      [{severityText(lang, p.severity)}] {p.kind}:{' '}
                      {said('problem', { code: p.kind, params: p.params, message: p.message })}
                    </li>
                  ))}
                </ul>
              )}
            </div>
          }
        />
      )}

      <Button
        type="primary"
        size="large"
        icon={<RocketOutlined />}
        loading={submitting}
        disabled={files.length === 0 || files.some((f) => !acceptedName(f.name))}
        onClick={submit}
        data-testid="submit-button"
      >
        {t('upload.submit')}
      </Button>
    </Space>
  );
}
