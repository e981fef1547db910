/**
 * The far side's Browse page: what the registries hold, as pip, uv and npm find it here.
 * A list of packages (searched, filtered by ecosystem and paged by the server, kept in the
 * URL by `router.ts`), and one package's page: every version with its files, the import
 * that brought each, and the install command for this server, ready to copy.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { HTMLAttributes } from 'react';
import { Alert, Button, Card, Collapse, Input, Segmented, Table, Tag, Typography } from 'antd';
import type { TableColumnsType, TableProps } from 'antd';
import { ArrowLeftOutlined, FileZipOutlined, ReloadOutlined } from '@ant-design/icons';
import { ApiError, ECOSYSTEMS, getRegistryPackage, listRegistryPackages } from '../api/client';
import type { Ecosystem, RegistryFile, RegistryPackage, RegistryPackageDetail } from '../api/client';
import { formatBytes, formatDateTime } from '../format';
import { useI18n } from '../i18n';
import { PAGE_SIZES } from '../router';
import type { BrowseQuery } from '../router';
import { useServerText } from '../serverText';

export interface BrowsePageProps {
  /** The search, page and package open, as the URL has them. */
  query: BrowseQuery;
  /** New ones: into the URL (a history entry, unless `replace`). */
  onQueryChange: (next: BrowseQuery, replace?: boolean) => void;
}

const ECOSYSTEM_LABEL: Record<Ecosystem, string> = { pypi: 'PyPI', npm: 'npm' };
const ECOSYSTEM_COLOR: Record<Ecosystem, string> = { pypi: 'blue', npm: 'red' };
const SHA_SHOWN = 12;

function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

/** What pip and npm are told, with this server's origin (what the browser sees). */
export function installCommand(ecosystem: Ecosystem, name: string, origin: string): string {
  return ecosystem === 'pypi'
    ? `pip install --index-url ${origin}/simple/ ${name}`
    : `npm install --registry ${origin}/npm/ ${name}`;
}

/** The index URL with the token in it, as pip and uv take it (the token is never shown). */
export function tokenUrl(where: Pick<Location, 'protocol' | 'host'>): string {
  return `${where.protocol}//__token__:TOKEN@${where.host}/simple/`;
}

/** The .npmrc line that gives npm the token for this server's registry. */
export function npmrcLine(where: Pick<Location, 'host'>): string {
  return `//${where.host}/npm/:_authToken=TOKEN`;
}

function EcosystemTag({ ecosystem }: { ecosystem: Ecosystem }) {
  return (
    <Tag color={ECOSYSTEM_COLOR[ecosystem]} className="browse-ecosystem-tag" data-testid="browse-ecosystem-tag">
      {ECOSYSTEM_LABEL[ecosystem]}
    </Tag>
  );
}

export function BrowsePage({ query, onQueryChange }: BrowsePageProps) {
  if (query.ecosystem && query.package) {
    return (
      <PackageView
        ecosystem={query.ecosystem}
        name={query.package}
        onBack={() => onQueryChange({ ...query, package: null })}
      />
    );
  }
  return <PackageList query={query} onQueryChange={onQueryChange} />;
}

function PackageList({ query, onQueryChange }: BrowsePageProps) {
  const { t } = useI18n();
  const said = useServerText();
  const [packages, setPackages] = useState<RegistryPackage[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [reload, setReload] = useState(0);
  const [draft, setDraft] = useState(query.q ?? '');
  const changeQuery = useRef(onQueryChange);
  changeQuery.current = onQueryChange;
  const { ecosystem, q, page, size } = query;

  useEffect(() => setDraft(q ?? ''), [q]);

  const load = useCallback(
    async (signal: AbortSignal) => {
      setLoading(true);
      try {
        const doc = await listRegistryPackages({ ecosystem, q, page, per_page: size }, signal);
        const lastPage = Math.max(1, Math.ceil(doc.total / size));
        if (page > lastPage) {
          changeQuery.current({ ecosystem, q, page: lastPage, size, package: null }, true);
          return;
        }
        setPackages(doc.packages);
        setTotal(doc.total);
        setError(null);
      } catch (err) {
        if (isAbort(err)) return;
        setError(err instanceof Error ? err : new Error(String(err)));
      } finally {
        if (!signal.aborted) setLoading(false);
      }
    },
    [ecosystem, q, page, size],
  );

  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load, reload]);

  const open = (row: RegistryPackage) => onQueryChange({ ...query, ecosystem: row.ecosystem, package: row.name });

  const onTableChange: TableProps<RegistryPackage>['onChange'] = (pagination, _filters, _sorter, extra) => {
    if (extra.action !== 'paginate') return;
    const nextSize = pagination.pageSize ?? size;
    onQueryChange({ ...query, page: nextSize !== size ? 1 : pagination.current ?? 1, size: nextSize });
  };

  const columns: TableColumnsType<RegistryPackage> = [
    {
      title: t('browse.name'),
      key: 'name',
      render: (_: unknown, row) => (
        <div className="browse-name-cell">
          <Button
            type="link"
            className="browse-name"
            title={row.name}
            onClick={() => open(row)}
            data-testid="browse-open"
            aria-label={t('browse.open', { name: row.name })}
          >
            {row.name}
          </Button>
          {/* a phone has no room for the other columns: what they say, here */}
          <Typography.Text type="secondary" className="browse-narrow-meta" data-testid="browse-narrow-meta">
            <EcosystemTag ecosystem={row.ecosystem} />
            {[row.latest_version ?? '—', t('browse.versionCount', { count: row.version_count }), formatBytes(row.total_size)].join(' · ')}
          </Typography.Text>
        </div>
      ),
    },
    {
      title: t('browse.ecosystem'),
      key: 'ecosystem',
      responsive: ['md'],
      render: (_: unknown, row) => <EcosystemTag ecosystem={row.ecosystem} />,
    },
    {
      title: t('browse.latest'),
      dataIndex: 'latest_version',
      key: 'latest',
      responsive: ['md'],
      render: (v: string | null) => (
        <span className="browse-version" data-testid="browse-latest">
          {v ?? '—'}
        </span>
      ),
    },
    {
      title: t('browse.versions'),
      dataIndex: 'version_count',
      key: 'versions',
      align: 'right',
      responsive: ['md'],
      render: (v: number) => <span data-testid="browse-versions">{v}</span>,
    },
    {
      title: t('browse.files'),
      dataIndex: 'file_count',
      key: 'files',
      align: 'right',
      responsive: ['lg'],
      render: (v: number) => <span data-testid="browse-files">{v}</span>,
    },
    {
      title: t('browse.size'),
      dataIndex: 'total_size',
      key: 'size',
      align: 'right',
      responsive: ['md'],
      render: (v: number) => (
        <span className="package-size" data-testid="browse-size">
          {formatBytes(v)}
        </span>
      ),
    },
  ];

  const filtered = Boolean(ecosystem || q);
  const origin = window.location.origin;

  return (
    <Card
      title={t('browse.title')}
      className="package-list-card browse-card"
      data-testid="browse-list"
      extra={
        <Button icon={<ReloadOutlined />} onClick={() => setReload((n) => n + 1)} data-testid="browse-refresh" aria-label={t('list.refresh')}>
          <span className="action-label">{t('list.refresh')}</span>
        </Button>
      }
    >
      <Typography.Paragraph type="secondary" className="import-intro">
        {t('browse.intro')}
      </Typography.Paragraph>
      <div className="browse-urls" data-testid="browse-urls">
        <span className="browse-url">
          <Typography.Text type="secondary">{t('browse.indexUrl')}</Typography.Text>
          <Typography.Text code copyable data-testid="browse-index-url">{`${origin}/simple/`}</Typography.Text>
        </span>
        <span className="browse-url">
          <Typography.Text type="secondary">{t('browse.registryUrl')}</Typography.Text>
          <Typography.Text code copyable data-testid="browse-registry-url">{`${origin}/npm/`}</Typography.Text>
        </span>
      </div>
      <div className="browse-filters" data-testid="browse-filters">
        <Segmented<string>
          value={ecosystem ?? 'all'}
          aria-label={t('browse.ecosystem')}
          data-testid="browse-ecosystem"
          options={[
            { label: t('browse.all'), value: 'all' },
            ...ECOSYSTEMS.map((e) => ({ label: ECOSYSTEM_LABEL[e], value: e })),
          ]}
          onChange={(value) => {
            const next = ECOSYSTEMS.find((e) => e === value) ?? null;
            onQueryChange({ ...query, ecosystem: next, page: 1, package: null });
          }}
        />
        <Input.Search
          allowClear
          value={draft}
          placeholder={t('browse.search')}
          aria-label={t('browse.search')}
          data-testid="browse-search"
          className="browse-search"
          maxLength={100}
          onChange={(e) => {
            setDraft(e.target.value);
            // the clear button: at once, there is nothing more to type
            if (e.type !== 'change' && q) onQueryChange({ ...query, q: null, page: 1 });
          }}
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
          data-testid="browse-error"
        />
      )}
      <Table<RegistryPackage>
        rowKey={(row) => `${row.ecosystem}:${row.name}`}
        size="small"
        loading={loading}
        columns={columns}
        dataSource={packages}
        onChange={onTableChange}
        locale={{ emptyText: filtered ? t('browse.noMatch') : t('browse.none') }}
        onRow={(row) =>
          ({ 'data-testid': 'browse-row', 'data-name': row.name, 'data-ecosystem': row.ecosystem }) as HTMLAttributes<HTMLElement>
        }
        pagination={{
          current: page,
          pageSize: size,
          total,
          showSizeChanger: true,
          pageSizeOptions: [...PAGE_SIZES],
          showTotal: (count) => <span data-testid="browse-total">{t('browse.total', { count })}</span>,
        }}
      />
    </Card>
  );
}

function PackageView({ ecosystem, name, onBack }: { ecosystem: Ecosystem; name: string; onBack: () => void }) {
  const { t } = useI18n();
  const said = useServerText();
  const [doc, setDoc] = useState<RegistryPackageDetail | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    const ctrl = new AbortController();
    setLoading(true);
    setDoc(null);
    getRegistryPackage(ecosystem, name, ctrl.signal).then(
      (found) => {
        setDoc(found);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (isAbort(err)) return;
        setError(err instanceof Error ? err : new Error(String(err)));
        setLoading(false);
      },
    );
    return () => ctrl.abort();
  }, [ecosystem, name]);

  const origin = window.location.origin;
  const back = (
    <Button icon={<ArrowLeftOutlined />} onClick={onBack} data-testid="browse-back" aria-label={t('browse.back')}>
      <span className="action-label">{t('browse.back')}</span>
    </Button>
  );

  const fileColumns: TableColumnsType<RegistryFile> = [
    {
      title: t('browse.file'),
      key: 'file',
      render: (_: unknown, row) => (
        <div className="browse-file-cell">
          <Typography.Text className="browse-filename" title={row.filename} data-testid="browse-filename">
            {row.filename}
          </Typography.Text>
          <span className="browse-file-tags">
            {row.yanked !== null && (
              <Tag color="orange" data-testid="browse-yanked" title={row.yanked || undefined}>
                {row.yanked ? t('browse.yankedReason', { reason: row.yanked }) : t('browse.yanked')}
              </Tag>
            )}
            {row.requires_python && <Tag className="browse-requires">{t('browse.requiresPython', { spec: row.requires_python })}</Tag>}
          </span>
          <Typography.Text type="secondary" className="browse-narrow-meta">
            {`${formatBytes(row.size)} · ${row.import_filename}`}
          </Typography.Text>
        </div>
      ),
    },
    {
      title: t('browse.size'),
      dataIndex: 'size',
      key: 'size',
      align: 'right',
      responsive: ['md'],
      render: (v: number) => <span className="package-size">{formatBytes(v)}</span>,
    },
    {
      title: t('packages.sha256'),
      dataIndex: 'sha256',
      key: 'sha256',
      responsive: ['lg'],
      render: (v: string) => (
        <Typography.Text code copyable={{ text: v }} title={v} className="package-sha" data-testid="browse-sha256" data-sha256={v}>
          {v.slice(0, SHA_SHOWN)}
        </Typography.Text>
      ),
    },
    {
      title: t('browse.published'),
      dataIndex: 'upload_time',
      key: 'published',
      responsive: ['xl'],
      render: (v: string | null) => <span className="import-time">{formatDateTime(v)}</span>,
    },
    {
      title: t('browse.imported'),
      key: 'imported',
      responsive: ['md'],
      render: (_: unknown, row) => (
        <div className="package-uploaded" data-testid="browse-imported">
          <span className="browse-import-name" title={row.import_filename}>
            <FileZipOutlined aria-hidden /> {row.import_filename}
          </span>
          <Typography.Text type="secondary" className="package-time">
            {formatDateTime(row.imported_at)}
          </Typography.Text>
        </div>
      ),
    },
  ];

  if (loading || !doc) {
    return (
      <Card title={name} className="package-list-card browse-card" data-testid="browse-package" loading={loading} extra={back}>
        {error && (
          <Alert
            type={error instanceof ApiError && error.status === 404 ? 'warning' : 'error'}
            showIcon
            data-testid="browse-package-error"
            message={error instanceof ApiError && error.status === 404 ? t('browse.notFound') : t('common.error')}
            description={error instanceof ApiError ? said('error', error) : error.message}
          />
        )}
      </Card>
    );
  }

  const command = installCommand(ecosystem, doc.name, origin);
  return (
    <Card
      title={
        <span className="browse-package-title">
          <span className="browse-package-name" title={doc.name} data-testid="browse-package-name">
            {doc.name}
          </span>
          <EcosystemTag ecosystem={ecosystem} />
        </span>
      }
      className="package-list-card browse-card"
      data-testid="browse-package"
      data-ecosystem={ecosystem}
      extra={back}
    >
      <Typography.Paragraph className="browse-stats" data-testid="browse-stats">
        {doc.latest_version && (
          <Tag color="green" data-testid="browse-package-latest">
            {t('browse.latestTag')} {doc.latest_version}
          </Tag>
        )}
        {[
          t('browse.versionCount', { count: doc.version_count }),
          t('browse.fileCount', { count: doc.file_count }),
          formatBytes(doc.total_size),
        ].join(' · ')}
      </Typography.Paragraph>

      <div className="browse-install" data-testid="browse-install">
        <Typography.Text strong>{t('browse.install')}</Typography.Text>
        <Typography.Paragraph code copyable className="browse-command" data-testid="browse-install-command">
          {command}
        </Typography.Paragraph>
        <Typography.Paragraph type="secondary" className="browse-token-note">
          {ecosystem === 'pypi' ? t('browse.tokenPypi', { url: tokenUrl(window.location) }) : t('browse.tokenNpm', { line: npmrcLine(window.location) })}
        </Typography.Paragraph>
      </div>

      <Collapse
        className="browse-versions"
        data-testid="browse-versions"
        defaultActiveKey={doc.versions.length ? [doc.versions[0].version] : []}
        items={doc.versions.map((v) => {
          const bytes = v.files.reduce((sum, f) => sum + f.size, 0);
          return {
            key: v.version,
            label: (
              <span className="browse-version-label" data-testid="browse-version" data-version={v.version}>
                <Typography.Text strong>{v.version}</Typography.Text>
                {v.version === doc.latest_version && <Tag color="green">{t('browse.latestTag')}</Tag>}
                {v.files.every((f) => f.yanked !== null) && <Tag color="orange">{t('browse.yanked')}</Tag>}
                <Typography.Text type="secondary" className="browse-version-meta">
                  {`${t('browse.fileCount', { count: v.files.length })} · ${formatBytes(bytes)}`}
                </Typography.Text>
              </span>
            ),
            children: (
              <Table<RegistryFile>
                rowKey="filename"
                size="small"
                columns={fileColumns}
                dataSource={v.files}
                pagination={false}
                onRow={(row) => ({ 'data-testid': 'browse-file', 'data-filename': row.filename }) as HTMLAttributes<HTMLElement>}
              />
            ),
          };
        })}
      />
    </Card>
  );
}
