/**
 * The far side's Import page: a bundle from this computer goes up with real progress
 * (XMLHttpRequest, as the package store's upload), then the server checks every file and
 * stores it before it answers, which the page says; then what it added, or the server's
 * refusal in the reader's language. An admin also sees the bundles already on the
 * server's disk (the operator's `import_dir`) and imports one where it lies. The history
 * of imports is below, newest first.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { HTMLAttributes, ReactNode } from 'react';
import { Alert, App, Button, Card, Progress, Space, Table, Typography, Upload } from 'antd';
import type { TableColumnsType } from 'antd';
import {
  CloudServerOutlined,
  CloudUploadOutlined,
  DatabaseOutlined,
  FileZipOutlined,
  ImportOutlined,
  InboxOutlined,
  ReloadOutlined,
  UserOutlined,
} from '@ant-design/icons';
import { ApiError, availableBundles, importFromServer, listImports, uploadBundle } from '../api/client';
import type { AvailableBundle, AvailableBundles, ImportDocument, Transferred } from '../api/client';
import { formatBytes, formatDateTime, formatSpeed } from '../format';
import { mayUpload, useMe } from '../hooks/useMe';
import { useI18n } from '../i18n';
import { useServerText } from '../serverText';

export interface ImportPageProps {
  /** "Browse the registries" after an import. */
  onBrowse: () => void;
}

// the server's rule for an uploaded bundle's name (routes/imports.py)
const FORMATS = ['.zip', '.tar.gz', '.tar.zst'] as const;
const NAME_MAX = 201;
// how much of a SHA-256 tells bundles apart at a glance (the whole one is copied)
const SHA_SHOWN = 12;

/**
 * The name an upload is recorded under: the file's own, with what the server would
 * refuse in a name (spaces, brackets, a browser's "bundle (1).zip") made a dash; null
 * when the name ends in no bundle format.
 */
export function bundleUploadName(filename: string): string | null {
  const ending = FORMATS.find((f) => filename.toLowerCase().endsWith(f) && filename.length > f.length);
  if (!ending) return null;
  const stem = filename
    .slice(0, filename.length - ending.length)
    .replace(/[^A-Za-z0-9._+-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^A-Za-z0-9]+/, '');
  const kept = (stem || 'bundle').slice(0, NAME_MAX - ending.length);
  return `${kept}${ending}`;
}

type Phase = 'idle' | 'sending' | 'storing' | 'done' | 'failed';
type Source = 'upload' | 'server';

function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

export function ImportPage({ onBrowse }: ImportPageProps) {
  const { t } = useI18n();
  const said = useServerText();
  const { message } = App.useApp();
  const me = useMe();
  const [imports, setImports] = useState<ImportDocument[]>([]);
  const [historyLoading, setHistoryLoading] = useState(false);
  const [historyError, setHistoryError] = useState<Error | null>(null);
  const [reload, setReload] = useState(0);
  const [server, setServer] = useState<AvailableBundles | null>(null);
  const [serverLoading, setServerLoading] = useState(false);
  const [serverError, setServerError] = useState<Error | null>(null);
  const [serverReload, setServerReload] = useState(0);
  const [file, setFile] = useState<File | null>(null);
  const [phase, setPhase] = useState<Phase>('idle');
  const [source, setSource] = useState<Source>('upload');
  const [bundle, setBundle] = useState('');
  const [sent, setSent] = useState<Transferred>({ loaded: 0, total: null });
  const [result, setResult] = useState<ImportDocument | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const running = useRef<AbortController | null>(null);
  const startedAt = useRef(0);
  const busy = phase === 'sending' || phase === 'storing';
  const admin = me === null || me?.role === 'admin';

  useEffect(() => {
    const ctrl = new AbortController();
    setHistoryLoading(true);
    listImports(ctrl.signal).then(
      (doc) => {
        // newest first: the one just imported on top
        setImports([...doc.imports].reverse());
        setHistoryError(null);
        setHistoryLoading(false);
      },
      (err: unknown) => {
        if (isAbort(err)) return;
        setHistoryError(err instanceof Error ? err : new Error(String(err)));
        setHistoryLoading(false);
      },
    );
    return () => ctrl.abort();
  }, [reload]);

  useEffect(() => {
    if (!admin) return undefined;
    const ctrl = new AbortController();
    setServerLoading(true);
    availableBundles(ctrl.signal).then(
      (doc) => {
        setServer(doc);
        setServerError(null);
        setServerLoading(false);
      },
      (err: unknown) => {
        if (isAbort(err)) return;
        setServerError(err instanceof Error ? err : new Error(String(err)));
        setServerLoading(false);
      },
    );
    return () => ctrl.abort();
  }, [admin, serverReload]);

  // abandon an upload under way when the page goes, without a word about it
  const gone = useRef(false);
  useEffect(() => {
    gone.current = false;
    return () => {
      gone.current = true;
      running.current?.abort();
    };
  }, []);

  const problemText = useCallback(
    (err: unknown): string => (err instanceof ApiError ? said('error', err) : err instanceof Error ? err.message : String(err)),
    [said],
  );

  const finish = (doc: ImportDocument) => {
    setResult(doc);
    setPhase('done');
    setReload((n) => n + 1);
  };

  const fail = (err: unknown) => {
    if (gone.current) return;
    if (isAbort(err)) {
      setPhase('idle');
      void message.info(t('import.cancelled'));
      return;
    }
    setError(err instanceof Error ? err : new Error(String(err)));
    setPhase('failed');
  };

  const begin = (from: Source, name: string) => {
    setSource(from);
    setBundle(name);
    setResult(null);
    setError(null);
  };

  const upload = async () => {
    if (!file) return;
    const name = bundleUploadName(file.name);
    if (!name) return;
    const ctrl = new AbortController();
    running.current = ctrl;
    begin('upload', name);
    setSent({ loaded: 0, total: file.size });
    setPhase('sending');
    startedAt.current = performance.now();
    try {
      const doc = await uploadBundle(
        file,
        name,
        (progress) => {
          setSent(progress);
          // every byte sent: the server still checks and stores it before it answers
          if (progress.total !== null && progress.loaded >= progress.total) setPhase('storing');
        },
        ctrl.signal,
      );
      finish(doc);
      setFile(null);
    } catch (err) {
      fail(err);
    } finally {
      running.current = null;
    }
  };

  const fromServer = async (name: string) => {
    const ctrl = new AbortController();
    running.current = ctrl;
    begin('server', name);
    setPhase('storing');
    try {
      finish(await importFromServer(name, ctrl.signal));
    } catch (err) {
      fail(err);
    } finally {
      running.current = null;
    }
  };

  const wrongType = file !== null && bundleUploadName(file.name) === null;
  const percent = phase === 'storing' ? 100 : sent.total ? Math.floor((sent.loaded / sent.total) * 100) : 0;
  const seconds = (performance.now() - startedAt.current) / 1000;
  const speed = phase === 'sending' && seconds > 0.5 ? ` · ${formatSpeed(sent.loaded / seconds)}` : '';

  /** Where an import stands, in the card it was started from. */
  const status = (from: Source): ReactNode => {
    if (source !== from || phase === 'idle') return null;
    if (busy) {
      return (
        <div className="import-progress" data-testid="import-progress" data-phase={phase} data-percent={percent}>
          {from === 'upload' && <Progress percent={percent} status="active" aria-label={t('import.progress')} />}
          <Typography.Text type="secondary" data-testid="import-progress-text">
            {phase === 'sending'
              ? `${t('import.sending', { sent: formatBytes(sent.loaded), total: formatBytes(sent.total) })}${speed}`
              : from === 'server'
                ? t('import.storingServer', { name: bundle })
                : t('import.storing')}
          </Typography.Text>
        </div>
      );
    }
    if (phase === 'done' && result) {
      const held = result.file_count - result.new_count;
      return (
        <Alert
          className="import-result"
          type={result.repeated ? 'info' : 'success'}
          showIcon
          data-testid="import-result"
          data-import-id={result.id}
          data-repeated={String(result.repeated)}
          message={result.repeated ? t('import.repeated', { name: result.filename }) : t('import.done', { name: result.filename })}
          description={
            <Space direction="vertical" size={4} className="import-result-body">
              <span data-testid="import-result-summary">
                {t('import.summary', { count: result.file_count, fresh: result.new_count, held })}
              </span>
              <span className="import-sha-line">
                <Typography.Text type="secondary">{t('packages.sha256')}</Typography.Text>{' '}
                <Typography.Text code copyable className="import-sha" data-testid="import-result-sha256">
                  {result.archive_sha256}
                </Typography.Text>
              </span>
              <Button size="small" icon={<DatabaseOutlined />} onClick={onBrowse} data-testid="import-browse">
                {t('import.browse')}
              </Button>
            </Space>
          }
        />
      );
    }
    if (phase === 'failed' && error) {
      const apiError = error instanceof ApiError ? error : null;
      const hint = apiError?.hint ? said('hint', { code: apiError.hintCode, params: apiError.hintParams, message: apiError.hint }) : null;
      return (
        <Alert
          className="import-result"
          type="error"
          showIcon
          data-testid="import-error"
          data-code={apiError?.code}
          message={
            <span>
              {t('import.refused')}{' '}
              {apiError?.code ? (
                <Typography.Text code className="import-error-code">
                  {apiError.code}
                </Typography.Text>
              ) : null}
            </span>
          }
          description={
            <Space direction="vertical" size={4}>
              <div className="import-error-message" data-testid="import-error-message">
                {problemText(error)}
              </div>
              {hint && (
                <div className="error-hint" data-testid="import-error-hint">
                  {hint}
                </div>
              )}
            </Space>
          }
        />
      );
    }
    return null;
  };

  const historyColumns: TableColumnsType<ImportDocument> = [
    {
      title: t('import.history.bundle'),
      key: 'bundle',
      render: (_: unknown, row) => (
        <div className="import-bundle-cell">
          <Typography.Text strong className="import-bundle-name" title={row.filename} data-testid="import-row-name">
            <FileZipOutlined aria-hidden /> {row.filename}
          </Typography.Text>
          <Typography.Text type="secondary" className="import-bundle-sha" title={row.archive_sha256}>
            sha256 {row.archive_sha256.slice(0, SHA_SHOWN)}
          </Typography.Text>
          {/* a phone has no room for the other columns: what they say, here */}
          <Typography.Text type="secondary" className="import-narrow-meta" data-testid="import-narrow-meta">
            {`${formatDateTime(row.created_at)} · ${filesValue(row)}`}
          </Typography.Text>
        </div>
      ),
    },
    {
      title: t('import.history.when'),
      key: 'when',
      responsive: ['md'],
      render: (_: unknown, row) => (
        <div className="package-uploaded" data-testid="import-row-when">
          <span className="package-owner">
            <UserOutlined aria-hidden /> {row.owner}
          </span>
          <Typography.Text type="secondary" className="package-time">
            {formatDateTime(row.created_at)}
          </Typography.Text>
        </div>
      ),
    },
    {
      title: t('import.history.files'),
      key: 'files',
      responsive: ['md'],
      render: (_: unknown, row) => (
        <span className="import-files" data-testid="import-row-files">
          {filesValue(row)}
        </span>
      ),
    },
    {
      title: t('import.history.size'),
      dataIndex: 'archive_size',
      key: 'size',
      align: 'right',
      responsive: ['md'],
      render: (v: number) => <span className="package-size">{formatBytes(v)}</span>,
    },
  ];

  function filesValue(row: ImportDocument): string {
    return row.new_count === 0
      ? t('import.history.repeatedNone', { files: row.file_count })
      : t('import.history.filesValue', { files: row.file_count, fresh: row.new_count });
  }

  const serverColumns: TableColumnsType<AvailableBundle> = [
    {
      title: t('import.server.name'),
      key: 'name',
      render: (_: unknown, row) => (
        <div className="import-bundle-cell">
          <Typography.Text strong className="import-bundle-name" title={row.name} data-testid="available-name">
            <FileZipOutlined aria-hidden /> {row.name}
          </Typography.Text>
          <Typography.Text type="secondary" className="import-narrow-meta">
            {`${formatBytes(row.size)} · ${formatDateTime(row.modified_at)}`}
          </Typography.Text>
        </div>
      ),
    },
    {
      title: t('import.history.size'),
      dataIndex: 'size',
      key: 'size',
      align: 'right',
      responsive: ['md'],
      render: (v: number) => <span className="package-size">{formatBytes(v)}</span>,
    },
    {
      title: t('import.server.modified'),
      dataIndex: 'modified_at',
      key: 'modified',
      responsive: ['md'],
      render: (v: string) => <span className="import-time">{formatDateTime(v)}</span>,
    },
    {
      title: '',
      key: 'actions',
      align: 'right',
      render: (_: unknown, row) => (
        <Button
          size="small"
          type="primary"
          ghost
          icon={<ImportOutlined />}
          loading={busy && source === 'server' && bundle === row.name}
          disabled={busy}
          onClick={() => void fromServer(row.name)}
          data-testid="available-import"
          aria-label={t('import.server.importName', { name: row.name })}
        >
          {t('import.server.import')}
        </Button>
      ),
    },
  ];

  return (
    <Space direction="vertical" size={16} className="import-page" data-testid="import-page">
      <Card title={t('import.title')} className="import-card" data-testid="import-card">
        <Typography.Paragraph type="secondary" className="import-intro">
          {t('import.intro')}
        </Typography.Paragraph>
        {me?.role === 'read' ? (
          <Alert type="info" showIcon message={t('import.readOnly')} data-testid="import-read-only" />
        ) : (
          <>
            <div data-testid="import-dragger">
              <Upload.Dragger
                multiple={false}
                showUploadList={false}
                disabled={busy}
                beforeUpload={(chosen) => {
                  setFile(chosen);
                  if (phase !== 'sending' && phase !== 'storing') setPhase('idle');
                  return false;
                }}
                className="import-dragger"
              >
                <p className="ant-upload-drag-icon">
                  <InboxOutlined />
                </p>
                <p className="ant-upload-text">{t('import.drag')}</p>
                <p className="ant-upload-hint">{t('import.dragHint')}</p>
              </Upload.Dragger>
            </div>
            {file && (
              <div className="import-chosen" data-testid="import-chosen">
                <Typography.Text className="import-chosen-name" title={file.name}>
                  <FileZipOutlined aria-hidden /> {t('import.chosen', { name: file.name, size: formatBytes(file.size) })}
                </Typography.Text>
                <Space size={8}>
                  {busy && source === 'upload' && (
                    <Button onClick={() => running.current?.abort()} data-testid="import-cancel">
                      {t('import.cancel')}
                    </Button>
                  )}
                  {mayUpload(me) && (
                    <Button
                      type="primary"
                      icon={<CloudUploadOutlined />}
                      loading={busy && source === 'upload'}
                      disabled={wrongType || (busy && source !== 'upload')}
                      onClick={() => void upload()}
                      data-testid="import-submit"
                    >
                      {t('import.submit')}
                    </Button>
                  )}
                </Space>
              </div>
            )}
            {wrongType && file && (
              <Alert type="warning" showIcon className="import-result" message={t('import.wrongType', { name: file.name })} data-testid="import-wrong-type" />
            )}
            {status('upload')}
          </>
        )}
      </Card>

      {admin && (
        <Card
          title={
            <span>
              <CloudServerOutlined aria-hidden /> {t('import.server.title')}
            </span>
          }
          className="import-card"
          data-testid="import-server"
          data-enabled={server ? String(server.enabled) : undefined}
          extra={
            <Button
              icon={<ReloadOutlined />}
              onClick={() => setServerReload((n) => n + 1)}
              data-testid="import-server-refresh"
              aria-label={t('list.refresh')}
            >
              <span className="action-label">{t('list.refresh')}</span>
            </Button>
          }
        >
          {serverError ? (
            <Alert type="error" showIcon message={problemText(serverError)} data-testid="import-server-error" />
          ) : server && !server.enabled ? (
            <Alert type="info" showIcon message={t('import.server.off')} data-testid="import-server-off" />
          ) : (
            <>
              <Typography.Paragraph type="secondary" className="import-intro">
                {t('import.server.intro')}
              </Typography.Paragraph>
              <Table<AvailableBundle>
                rowKey="name"
                size="small"
                loading={serverLoading}
                columns={serverColumns}
                dataSource={server?.bundles ?? []}
                pagination={false}
                locale={{ emptyText: t('import.server.none') }}
                onRow={(row) => ({ 'data-testid': 'available-row', 'data-name': row.name }) as HTMLAttributes<HTMLElement>}
              />
              {status('server')}
            </>
          )}
        </Card>
      )}

      <Card
        title={t('import.history.title')}
        className="import-card"
        data-testid="import-history"
        extra={
          <Button icon={<ReloadOutlined />} onClick={() => setReload((n) => n + 1)} data-testid="import-history-refresh" aria-label={t('list.refresh')}>
            <span className="action-label">{t('list.refresh')}</span>
          </Button>
        }
      >
        {historyError && <Alert type="error" showIcon className="package-note" message={problemText(historyError)} data-testid="import-history-error" />}
        <Table<ImportDocument>
          rowKey="id"
          size="small"
          loading={historyLoading}
          columns={historyColumns}
          dataSource={imports}
          rowClassName={(row) => (row.id === result?.id ? 'package-row-highlight' : '')}
          locale={{ emptyText: t('import.history.none') }}
          onRow={(row) =>
            ({ 'data-testid': 'import-row', 'data-import-id': row.id, 'data-name': row.filename }) as HTMLAttributes<HTMLElement>
          }
          pagination={{
            pageSize: 20,
            showSizeChanger: false,
            showTotal: (count) => <span data-testid="import-total">{t('import.history.total', { count })}</span>,
          }}
        />
      </Card>
    </Space>
  );
}
