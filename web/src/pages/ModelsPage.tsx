/**
 * The Models page: the model catalog (`GET /api/models`, `/api/datasets`) as a list
 * (models or datasets, searched and paged by the server, kept in the URL by `router.ts`)
 * beside the most downloaded models (`GET /api/model-usage/ranking`), and one model's
 * page: how `huggingface_hub` fetches it from here, and every version with its commit and
 * its files (size, SHA-256 to copy, a download that carries the token).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { HTMLAttributes, MouseEvent } from 'react';
import { Alert, App, Button, Card, Collapse, Empty, Input, Segmented, Table, Tag, Typography } from 'antd';
import type { TableColumnsType, TableProps } from 'antd';
import { ArrowLeftOutlined, DownloadOutlined, ReloadOutlined, TrophyOutlined } from '@ant-design/icons';
import {
  ApiError,
  MODEL_KINDS,
  downloadWithToken,
  getModel,
  listModels,
  modelFileUrl,
  modelRanking,
} from '../api/client';
import type { ModelDocument, ModelFile, ModelKind, ModelUsage } from '../api/client';
import { formatBytes, formatDateTime } from '../format';
import { useI18n } from '../i18n';
import { PAGE_SIZES } from '../router';
import type { ModelsQuery } from '../router';
import { useServerText } from '../serverText';

export interface ModelsPageProps {
  /** Models or datasets, the search, the page and the one open, as the URL has them. */
  query: ModelsQuery;
  /** New ones: into the URL (a history entry, unless `replace`). */
  onQueryChange: (next: ModelsQuery, replace?: boolean) => void;
}

// how much of a SHA-256 or a commit tells them apart at a glance (the whole one is copied)
const SHA_SHOWN = 12;
const RANKING_SHOWN = 10;

function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The command that publishes a directory as a version (the empty list's advice). */
export function importCommand(kind: ModelKind): string {
  return `ferry models import DIR --id org/name --version V${kind === 'datasets' ? ' --dataset' : ''}`;
}

/** What `huggingface_hub` is told to fetch `id` from this server; the token's place is
 * `placeholder`, never a token. */
export function hubSnippet(kind: ModelKind, id: string, origin: string, placeholder: string): string {
  const repoType = kind === 'datasets' ? ", repo_type='dataset'" : '';
  return (
    `HF_ENDPOINT=${origin} HF_TOKEN=${placeholder} python -c ` +
    `"from huggingface_hub import snapshot_download; snapshot_download('${id}'${repoType})"`
  );
}

function defaultVersion(doc: ModelDocument) {
  return doc.versions.find((v) => v.version === doc.default_version) ?? doc.versions[0] ?? null;
}

/** The display name, when it says more than the id's last part. */
function extraName(doc: ModelDocument): string | null {
  const tail = doc.id.split('/').pop();
  return doc.name && doc.name !== doc.id && doc.name !== tail ? doc.name : null;
}

export function ModelsPage({ query, onQueryChange }: ModelsPageProps) {
  if (query.model) {
    return <ModelView kind={query.kind} id={query.model} onBack={() => onQueryChange({ ...query, model: null })} />;
  }
  return <ModelList query={query} onQueryChange={onQueryChange} />;
}

function ModelList({ query, onQueryChange }: ModelsPageProps) {
  const { t } = useI18n();
  const said = useServerText();
  const [models, setModels] = useState<ModelDocument[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [reload, setReload] = useState(0);
  const [draft, setDraft] = useState(query.q ?? '');
  const changeQuery = useRef(onQueryChange);
  changeQuery.current = onQueryChange;
  const { kind, q, page, size } = query;

  useEffect(() => setDraft(q ?? ''), [q]);

  const load = useCallback(
    async (signal: AbortSignal) => {
      setLoading(true);
      try {
        const found = await listModels(kind, { search: q, page, limit: size }, signal);
        const lastPage = Math.max(1, Math.ceil(found.total / size));
        if (page > lastPage) {
          // a page past the end (an old link): the last one there is
          changeQuery.current({ kind, q, page: lastPage, size, model: null }, true);
          return;
        }
        setModels(found.models);
        setTotal(found.total);
        setError(null);
        setLoaded(true);
      } catch (err) {
        if (isAbort(err)) return;
        setError(asError(err));
      } finally {
        if (!signal.aborted) setLoading(false);
      }
    },
    [kind, q, page, size],
  );

  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load, reload]);

  const open = (id: string, to: ModelKind = kind) => onQueryChange({ ...query, kind: to, model: id });

  const onTableChange: TableProps<ModelDocument>['onChange'] = (pagination, _filters, _sorter, extra) => {
    if (extra.action !== 'paginate') return;
    const nextSize = pagination.pageSize ?? size;
    onQueryChange({ ...query, page: nextSize !== size ? 1 : pagination.current ?? 1, size: nextSize });
  };

  const columns: TableColumnsType<ModelDocument> = [
    {
      title: t(`models.column.${kind}`),
      key: 'id',
      render: (_: unknown, row) => {
        const shown = defaultVersion(row);
        const name = extraName(row);
        return (
          <div className="models-id-cell">
            <Button
              type="link"
              className="models-id"
              title={row.id}
              onClick={() => open(row.id)}
              data-testid="models-open"
              aria-label={t('models.open', { name: row.id })}
            >
              {row.id}
            </Button>
            {name && (
              <Typography.Text type="secondary" className="models-name" title={name}>
                {name}
              </Typography.Text>
            )}
            {/* a phone has no room for the other columns: what they say, here */}
            <Typography.Text type="secondary" className="models-narrow-meta" data-testid="models-narrow-meta">
              {[row.task, row.default_version ?? '—', formatBytes(shown?.size_bytes)].filter(Boolean).join(' · ')}
            </Typography.Text>
          </div>
        );
      },
    },
    {
      title: t('models.task'),
      dataIndex: 'task',
      key: 'task',
      responsive: ['md'],
      render: (v: string | null) =>
        v ? (
          <Tag color="blue" className="models-task" data-testid="models-task">
            {v}
          </Tag>
        ) : (
          '—'
        ),
    },
    {
      title: t('models.languages'),
      dataIndex: 'languages',
      key: 'languages',
      responsive: ['lg'],
      render: (v: string[]) =>
        v.length ? (
          <span className="models-languages" data-testid="models-languages">
            {v.map((lang) => (
              <Tag key={lang}>{lang}</Tag>
            ))}
          </span>
        ) : (
          '—'
        ),
    },
    {
      title: t('models.default'),
      dataIndex: 'default_version',
      key: 'default',
      responsive: ['md'],
      render: (v: string | null) => (
        <span className="models-version" data-testid="models-default">
          {v ?? '—'}
        </span>
      ),
    },
    {
      title: t('models.versions'),
      key: 'versions',
      align: 'right',
      responsive: ['lg'],
      render: (_: unknown, row) => <span data-testid="models-versions">{row.versions.length}</span>,
    },
    {
      title: <span title={t('models.sizeTitle')}>{t('models.size')}</span>,
      key: 'size',
      align: 'right',
      responsive: ['md'],
      render: (_: unknown, row) => (
        <span className="package-size" data-testid="models-size">
          {formatBytes(defaultVersion(row)?.size_bytes)}
        </span>
      ),
    },
    {
      title: t('models.updated'),
      dataIndex: 'updated_at',
      key: 'updated',
      responsive: ['xl'],
      render: (v: string) => (
        <span className="import-time" data-testid="models-updated">
          {formatDateTime(v)}
        </span>
      ),
    },
  ];

  const origin = window.location.origin;
  const empty = q ? (
    t('models.noMatch')
  ) : (
    <Empty
      image={Empty.PRESENTED_IMAGE_SIMPLE}
      className="models-empty"
      data-testid="models-empty"
      description={
        <>
          <Typography.Text strong>{t(`models.none.${kind}`)}</Typography.Text>
          <Typography.Paragraph type="secondary" className="models-empty-how">
            {t('models.noneHow')}
          </Typography.Paragraph>
          <Typography.Paragraph code copyable className="models-command" data-testid="models-import-command">
            {importCommand(kind)}
          </Typography.Paragraph>
        </>
      }
    />
  );

  return (
    <div className={`models-page${kind === 'models' ? ' models-page-ranked' : ''}`}>
      <Card
        title={t('models.title')}
        className="package-list-card models-card"
        data-testid="models-list"
        data-kind={kind}
        extra={
          <Button
            icon={<ReloadOutlined />}
            onClick={() => setReload((n) => n + 1)}
            data-testid="models-refresh"
            aria-label={t('list.refresh')}
          >
            <span className="action-label">{t('list.refresh')}</span>
          </Button>
        }
      >
        <Typography.Paragraph type="secondary" className="import-intro">
          {t('models.intro')}
        </Typography.Paragraph>
        <div className="browse-urls">
          <span className="browse-url">
            <Typography.Text type="secondary">{t('models.endpoint')}</Typography.Text>
            <Typography.Text code copyable data-testid="models-endpoint">
              {origin}
            </Typography.Text>
          </span>
        </div>
        <div className="browse-filters" data-testid="models-filters">
          <Segmented<string>
            value={kind}
            aria-label={t('models.kind')}
            data-testid="models-kind"
            options={MODEL_KINDS.map((k) => ({ label: t(`models.kind.${k}`), value: k }))}
            onChange={(value) => {
              const next = MODEL_KINDS.find((k) => k === value) ?? 'models';
              onQueryChange({ ...query, kind: next, page: 1, model: null });
            }}
          />
          <Input.Search
            allowClear
            value={draft}
            placeholder={t('models.search')}
            aria-label={t('models.search')}
            data-testid="models-search"
            className="browse-search"
            maxLength={100}
            onChange={(e) => setDraft(e.target.value)}
            // Enter, the button, and the clear button (at once: there is nothing more to type)
            onSearch={(value) => {
              const next = value.trim() || null;
              if (next !== q) onQueryChange({ ...query, q: next, page: 1 });
            }}
          />
        </div>
        {error && (
          <Alert
            type="error"
            showIcon
            className="package-note"
            message={error instanceof ApiError ? said('error', error) : error.message}
            data-testid="models-error"
          />
        )}
        <Table<ModelDocument>
          rowKey="id"
          size="small"
          loading={loading}
          columns={columns}
          dataSource={models}
          onChange={onTableChange}
          locale={{ emptyText: loaded ? empty : ' ' }}
          onRow={(row) => ({ 'data-testid': 'models-row', 'data-id': row.id }) as HTMLAttributes<HTMLElement>}
          pagination={{
            current: page,
            pageSize: size,
            total,
            showSizeChanger: true,
            pageSizeOptions: [...PAGE_SIZES],
            showTotal: (count) => <span data-testid="models-total">{t(`models.total.${kind}`, { count })}</span>,
          }}
        />
      </Card>
      {kind === 'models' && <Ranking reload={reload} onOpen={(id) => open(id, 'models')} />}
    </div>
  );
}

/** The ten models fetched most often, each a link to its page. */
function Ranking({ reload, onOpen }: { reload: number; onOpen: (id: string) => void }) {
  const { t } = useI18n();
  const said = useServerText();
  const [rows, setRows] = useState<ModelUsage[] | null>(null);
  const [error, setError] = useState<Error | null>(null);

  useEffect(() => {
    const ctrl = new AbortController();
    modelRanking(RANKING_SHOWN, ctrl.signal).then(
      (found) => {
        setRows(found.slice(0, RANKING_SHOWN));
        setError(null);
      },
      (err: unknown) => {
        if (!isAbort(err)) setError(asError(err));
      },
    );
    return () => ctrl.abort();
  }, [reload]);

  return (
    <Card
      size="small"
      className="models-ranking"
      data-testid="models-ranking"
      loading={rows === null && !error}
      title={
        <span className="models-ranking-title">
          <TrophyOutlined aria-hidden /> {t('models.ranking')}
        </span>
      }
    >
      <Typography.Paragraph type="secondary" className="models-ranking-note">
        {t('models.rankingNote')}
      </Typography.Paragraph>
      {error && (
        <Alert type="warning" showIcon message={error instanceof ApiError ? said('error', error) : error.message} />
      )}
      {rows && rows.length === 0 && (
        <Typography.Text type="secondary" data-testid="models-ranking-none">
          {t('models.rankingNone')}
        </Typography.Text>
      )}
      {rows && rows.length > 0 && (
        <ol className="models-ranking-list">
          {rows.map((row) => (
            <li key={row.model_id} className="models-ranking-row" data-testid="models-ranking-row" data-id={row.model_id}>
              <span className="models-rank" aria-hidden>
                {row.rank}
              </span>
              <Button
                type="link"
                className="models-ranking-name"
                title={row.model_id}
                onClick={() => onOpen(row.model_id)}
                aria-label={t('models.open', { name: row.model_id })}
              >
                {row.model_id}
              </Button>
              <Typography.Text type="secondary" className="models-ranking-count" data-testid="models-ranking-count">
                {t('models.downloads', { count: row.request_count })}
              </Typography.Text>
            </li>
          ))}
        </ol>
      )}
    </Card>
  );
}

function ModelView({ kind, id, onBack }: { kind: ModelKind; id: string; onBack: () => void }) {
  const { t } = useI18n();
  const said = useServerText();
  const { message } = App.useApp();
  const [doc, setDoc] = useState<ModelDocument | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  // files being fetched with the token: their percent, or null while the size is unknown
  const [downloads, setDownloads] = useState<Map<string, number | null>>(() => new Map());

  useEffect(() => {
    const ctrl = new AbortController();
    setLoading(true);
    setDoc(null);
    getModel(kind, id, ctrl.signal).then(
      (found) => {
        setDoc(found);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (isAbort(err)) return;
        setError(asError(err));
        setLoading(false);
      },
    );
    return () => ctrl.abort();
  }, [kind, id]);

  const back = (
    <Button icon={<ArrowLeftOutlined />} onClick={onBack} data-testid="models-back" aria-label={t(`models.back.${kind}`)}>
      <span className="action-label">{t(`models.back.${kind}`)}</span>
    </Button>
  );

  if (loading || !doc) {
    const missing = error instanceof ApiError && error.status === 404;
    return (
      <Card title={id} className="package-list-card models-card" data-testid="models-detail" loading={loading} extra={back}>
        {error && (
          <Alert
            type={missing ? 'warning' : 'error'}
            showIcon
            data-testid="models-detail-error"
            message={missing ? t(`models.notFound.${kind}`) : t('common.error')}
            description={error instanceof ApiError ? said('error', error) : error.message}
          />
        )}
      </Card>
    );
  }

  const setProgress = (key: string, percent: number | null | undefined) =>
    setDownloads((d) => {
      const next = new Map(d);
      if (percent === undefined) next.delete(key);
      else next.set(key, percent);
      return next;
    });

  const download = async (version: string, file: ModelFile) => {
    const key = `${version}/${file.path}`;
    if (downloads.has(key)) return;
    setProgress(key, null);
    try {
      const url = modelFileUrl(kind, doc.id, version, file.path);
      await downloadWithToken(url, file.path.split('/').pop() ?? file.path, ({ loaded, total }) =>
        setProgress(key, total ? Math.floor((loaded / total) * 100) : null),
      );
    } catch (err) {
      void message.error(err instanceof ApiError ? `${err.code}: ${said('error', err)}` : asError(err).message);
    } finally {
      setProgress(key, undefined);
    }
  };

  const fileColumns = (version: string): TableColumnsType<ModelFile> => [
    {
      title: t('models.file'),
      key: 'path',
      render: (_: unknown, row) => (
        <div className="browse-file-cell">
          <Typography.Text className="models-path" title={row.path} data-testid="models-file-path">
            {row.path}
          </Typography.Text>
          <Typography.Text type="secondary" className="models-narrow-meta">
            {formatBytes(row.size_bytes)} ·{' '}
            <Typography.Text code copyable={{ text: row.sha256 }} title={row.sha256} className="package-sha">
              {row.sha256.slice(0, SHA_SHOWN)}
            </Typography.Text>
          </Typography.Text>
        </div>
      ),
    },
    {
      title: t('models.size'),
      dataIndex: 'size_bytes',
      key: 'size',
      align: 'right',
      responsive: ['md'],
      render: (v: number) => (
        <span className="package-size" data-testid="models-file-size">
          {formatBytes(v)}
        </span>
      ),
    },
    {
      title: t('models.sha256'),
      dataIndex: 'sha256',
      key: 'sha256',
      responsive: ['md'],
      render: (v: string) => (
        <Typography.Text code copyable={{ text: v }} title={v} className="package-sha" data-testid="models-file-sha256" data-sha256={v}>
          {v.slice(0, SHA_SHOWN)}
        </Typography.Text>
      ),
    },
    {
      title: <span className="action-label">{t('models.download')}</span>,
      key: 'download',
      align: 'right',
      render: (_: unknown, row) => {
        const key = `${version}/${row.path}`;
        const busy = downloads.has(key);
        const percent = downloads.get(key);
        return (
          <Button
            size="small"
            icon={<DownloadOutlined />}
            href={modelFileUrl(kind, doc.id, version, row.path)}
            loading={busy}
            onClick={(e: MouseEvent) => {
              // a plain link cannot carry the token: fetched with it instead
              e.preventDefault();
              void download(version, row);
            }}
            data-testid="models-file-download"
            aria-label={t('models.downloadName', { name: row.path, size: formatBytes(row.size_bytes) })}
          >
            <span className="action-label">{busy && percent != null ? `${percent}%` : t('models.download')}</span>
          </Button>
        );
      },
    },
  ];

  const shown = defaultVersion(doc);
  const name = extraName(doc);
  const placeholder = t('models.tokenPlaceholder');
  return (
    <Card
      title={
        <span className="browse-package-title">
          <span className="browse-package-name" title={doc.id} data-testid="models-detail-id">
            {doc.id}
          </span>
          {kind === 'datasets' && <Tag color="purple">{t('models.datasetTag')}</Tag>}
        </span>
      }
      className="package-list-card models-card"
      data-testid="models-detail"
      data-kind={kind}
      extra={back}
    >
      {name && (
        <Typography.Paragraph strong className="models-detail-name" data-testid="models-detail-name">
          {name}
        </Typography.Paragraph>
      )}
      <Typography.Paragraph className="browse-stats models-stats" data-testid="models-stats">
        {doc.default_version && (
          <Tag color="green" data-testid="models-detail-default">
            {t('models.defaultTag')} {doc.default_version}
          </Tag>
        )}
        {doc.task && (
          <Tag color="blue" data-testid="models-detail-task">
            {doc.task}
          </Tag>
        )}
        {doc.languages.map((lang) => (
          <Tag key={lang}>{lang}</Tag>
        ))}
        <span className="models-stats-text">
          {[
            t('models.versionCount', { count: doc.versions.length }),
            formatBytes(shown?.size_bytes),
            `${t('models.updated')} ${formatDateTime(doc.updated_at)}`,
          ].join(' · ')}
        </span>
      </Typography.Paragraph>

      <div className="browse-install" data-testid="models-hub">
        <Typography.Text strong>{t('models.hub')}</Typography.Text>
        <Typography.Paragraph code copyable className="browse-command" data-testid="models-hub-snippet">
          {hubSnippet(kind, doc.id, window.location.origin, placeholder)}
        </Typography.Paragraph>
        <Typography.Paragraph type="secondary" className="browse-token-note">
          {t('models.hubNote', { placeholder })}
        </Typography.Paragraph>
      </div>

      <Collapse
        className="browse-versions"
        data-testid="models-versions"
        defaultActiveKey={shown ? [shown.version] : []}
        items={doc.versions.map((v) => ({
          key: v.version,
          label: (
            <span className="browse-version-label" data-testid="models-version" data-version={v.version}>
              <Typography.Text strong>{v.version}</Typography.Text>
              {v.version === doc.default_version && <Tag color="green">{t('models.defaultTag')}</Tag>}
              <Typography.Text type="secondary" className="browse-version-meta">
                {[
                  t('models.fileCount', { count: v.files.length }),
                  formatBytes(v.size_bytes),
                  t('models.published', { when: formatDateTime(v.updated_at) }),
                  `${t('models.commit')} ${v.commit.slice(0, SHA_SHOWN)}`,
                ].join(' · ')}
              </Typography.Text>
            </span>
          ),
          children: (
            <>
              <div className="models-commit" data-testid="models-commit" data-commit={v.commit}>
                <Typography.Text type="secondary">{t('models.commit')}</Typography.Text>
                <Typography.Text code copyable={{ text: v.commit }} className="models-commit-hash">
                  {v.commit}
                </Typography.Text>
              </div>
              <Table<ModelFile>
                rowKey="path"
                size="small"
                columns={fileColumns(v.version)}
                dataSource={v.files}
                pagination={false}
                onRow={(row) => ({ 'data-testid': 'models-file', 'data-path': row.path }) as HTMLAttributes<HTMLElement>}
              />
            </>
          ),
        }))}
      />
    </Card>
  );
}
