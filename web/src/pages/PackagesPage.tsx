/**
 * The package store: every stored file with its name, version, platform, arch, size,
 * SHA-256, who uploaded it and when, and its description; exact filters, a search, paging
 * and sorting, all done by the server and kept in the URL (`router.ts`). Download with the
 * token; upload (`PackageUpload`) for writers; delete for an admin or the uploader, as
 * `GET /api/tokens/me` tells who is signed in.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { HTMLAttributes } from 'react';
import { Alert, App, Button, Card, Input, Space, Table, Tag, Tooltip, Typography } from 'antd';
import type { TableColumnsType, TableProps } from 'antd';
import type { SortOrder as AntSortOrder } from 'antd/es/table/interface';
import {
  ClearOutlined,
  CloudUploadOutlined,
  DownloadOutlined,
  ReloadOutlined,
  UserOutlined,
} from '@ant-design/icons';
import { ApiError, PACKAGE_SORTS, deletePackage, downloadPackage, listPackages } from '../api/client';
import type { Package, PackageSort } from '../api/client';
import { PackageUpload } from '../components/PackageUpload';
import type { PackageKey } from '../components/PackageUpload';
import { formatBytes, formatDateTime } from '../format';
import { mayDelete, mayUpload, useMe } from '../hooks/useMe';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n';
import { DEFAULT_PACKAGES, PACKAGE_FILTERS, PAGE_SIZES } from '../router';
import type { PackageFilter, PackageQuery } from '../router';
import { useServerText } from '../serverText';
import { ConfirmDelete } from '../components/ConfirmDelete';

export interface PackagesPageProps {
  /** The filters, page and sort, as the URL has them. */
  query: PackageQuery;
  /** New ones: into the URL (a history entry, unless `replace`). */
  onQueryChange: (next: PackageQuery, replace?: boolean) => void;
}

const FIELD_FILTERS = ['name', 'version', 'platform', 'arch'] as const;
const FILTER_LABEL: Record<(typeof FIELD_FILTERS)[number], MessageKey> = {
  name: 'packages.name',
  version: 'packages.version',
  platform: 'packages.platform',
  arch: 'packages.arch',
};
// how much of a SHA-256 tells files apart at a glance (the whole one is copied)
const SHA_SHOWN = 12;

type Drafts = Record<PackageFilter, string>;

function draftsOf(query: PackageQuery): Drafts {
  return { name: query.name ?? '', version: query.version ?? '', platform: query.platform ?? '', arch: query.arch ?? '', q: query.q ?? '' };
}

function antOrder(query: PackageQuery, key: PackageSort): AntSortOrder {
  if (query.sort !== key) return null;
  return query.order === 'asc' ? 'ascend' : 'descend';
}

export function PackagesPage({ query, onQueryChange }: PackagesPageProps) {
  const { t } = useI18n();
  const said = useServerText();
  const { message } = App.useApp();
  const me = useMe();
  const [packages, setPackages] = useState<Package[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [reload, setReload] = useState(0);
  const [drafts, setDrafts] = useState<Drafts>(() => draftsOf(query));
  const [uploading, setUploading] = useState(false);
  const [highlight, setHighlight] = useState<string | null>(null);
  // packages whose signed link is being fetched (the browser then shows the download)
  const [downloads, setDownloads] = useState<Set<string>>(() => new Set());
  // the latest callback, without making every new one (App passes an arrow) a reload
  const changeQuery = useRef(onQueryChange);
  changeQuery.current = onQueryChange;
  const { name, version, platform, arch, q, page, size, sort, order } = query;

  // back/forward (or "show the stored one") bring other filters: the inputs follow
  useEffect(() => setDrafts(draftsOf(query)), [query]);

  const load = useCallback(
    async (signal: AbortSignal) => {
      setLoading(true);
      try {
        const doc = await listPackages({ name, version, platform, arch, q, page, size, sort, order }, signal);
        const lastPage = Math.max(1, Math.ceil(doc.total / size));
        if (page > lastPage) {
          // a page past the end (an old link, or after deletes): the last one there is
          changeQuery.current({ name, version, platform, arch, q, page: lastPage, size, sort, order }, true);
          return;
        }
        setPackages(doc.packages);
        setTotal(doc.total);
        setError(null);
      } catch (err) {
        if (err instanceof DOMException && err.name === 'AbortError') return;
        setError(err instanceof Error ? err : new Error(String(err)));
      } finally {
        if (!signal.aborted) setLoading(false);
      }
    },
    [name, version, platform, arch, q, page, size, sort, order],
  );

  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load, reload]);

  // the server's refusal in the reader's language (its code and params): a toast after
  // the code, the list's own alert without
  const problemText = (err: unknown, withCode = true): string => {
    if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
    return `${withCode && err.code ? `${err.code}: ` : ''}${said('error', err)}`;
  };

  const commit = (filter: PackageFilter, raw: string) => {
    const value = raw.trim() || null;
    if (value === query[filter]) return;
    onQueryChange({ ...query, [filter]: value, page: 1 });
  };

  const clearFilters = () => {
    onQueryChange({ ...DEFAULT_PACKAGES, size, sort, order });
  };

  const showExisting = (found: PackageKey) => {
    setUploading(false);
    setHighlight(found.id);
    const { name: n, version: v, platform: p, arch: a } = found;
    onQueryChange({ ...DEFAULT_PACKAGES, name: n, version: v, platform: p, arch: a, size });
  };

  const remove = async (pkg: Package) => {
    try {
      await deletePackage(pkg.id);
      void message.success(t('packages.deleted'));
      if (packages.length === 1 && page > 1) onQueryChange({ ...query, page: page - 1 }, true);
      else setReload((n) => n + 1);
    } catch (err) {
      void message.error(problemText(err));
    }
  };

  const download = async (pkg: Package) => {
    setDownloads((d) => new Set(d).add(pkg.id));
    try {
      await downloadPackage(pkg.id);
    } catch (err) {
      void message.error(problemText(err));
    } finally {
      setDownloads((d) => {
        const rest = new Set(d);
        rest.delete(pkg.id);
        return rest;
      });
    }
  };

  const onTableChange: TableProps<Package>['onChange'] = (pagination, _filters, sorter, extra) => {
    if (extra.action === 'sort') {
      const chosen = Array.isArray(sorter) ? sorter[0] : sorter;
      const key = PACKAGE_SORTS.find((s) => s === chosen?.columnKey);
      // a third click takes the sort off: back to the newest first
      const next = key && chosen?.order ? { sort: key, order: chosen.order === 'ascend' ? ('asc' as const) : ('desc' as const) } : { sort: DEFAULT_PACKAGES.sort, order: DEFAULT_PACKAGES.order };
      onQueryChange({ ...query, ...next, page: 1 });
    } else if (extra.action === 'paginate') {
      const nextSize = pagination.pageSize ?? size;
      onQueryChange({ ...query, page: nextSize !== size ? 1 : pagination.current ?? 1, size: nextSize });
    }
  };

  const filtered = PACKAGE_FILTERS.some((f) => query[f]);

  const columns: TableColumnsType<Package> = [
    {
      title: t('packages.name'),
      key: 'name',
      sorter: true,
      sortOrder: antOrder(query, 'name'),
      sortDirections: ['ascend', 'descend'],
      render: (_: unknown, row) => (
        <div className="package-name-cell">
          <Typography.Text strong className="package-name" title={row.name} data-testid="package-name">
            {row.name}
          </Typography.Text>
          <Typography.Text type="secondary" className="package-filename" title={row.filename}>
            {row.filename}
          </Typography.Text>
          {/* a phone has no room for the other columns: what tells versions apart, here */}
          <Typography.Text type="secondary" className="package-narrow-meta" data-testid="package-narrow-meta">
            {`${row.version} · ${row.platform}/${row.arch} · ${formatBytes(row.size)}`}
          </Typography.Text>
        </div>
      ),
    },
    {
      title: t('packages.version'),
      dataIndex: 'version',
      key: 'version',
      sorter: true,
      sortOrder: antOrder(query, 'version'),
      sortDirections: ['ascend', 'descend'],
      responsive: ['md'],
      render: (v: string) => (
        <span className="package-version" data-testid="package-version">
          {v}
        </span>
      ),
    },
    {
      title: t('packages.platform'),
      dataIndex: 'platform',
      key: 'platform',
      responsive: ['md'],
      render: (v: string) => <Tag data-testid="package-platform">{v}</Tag>,
    },
    {
      title: t('packages.arch'),
      dataIndex: 'arch',
      key: 'arch',
      responsive: ['md'],
      render: (v: string) => <Tag data-testid="package-arch">{v}</Tag>,
    },
    {
      title: t('packages.size'),
      dataIndex: 'size',
      key: 'size',
      align: 'right',
      responsive: ['md'],
      className: 'package-size',
      render: (v: number) => <span data-testid="package-size">{formatBytes(v)}</span>,
    },
    {
      title: t('packages.sha256'),
      dataIndex: 'sha256',
      key: 'sha256',
      responsive: ['lg'],
      render: (v: string) => (
        <Typography.Text code copyable={{ text: v }} title={v} className="package-sha" data-testid="package-sha256" data-sha256={v}>
          {v.slice(0, SHA_SHOWN)}
        </Typography.Text>
      ),
    },
    {
      title: t('packages.uploaded'),
      key: 'created',
      sorter: true,
      sortOrder: antOrder(query, 'created'),
      sortDirections: ['descend', 'ascend'],
      responsive: ['lg'],
      render: (_: unknown, row) => (
        <div className="package-uploaded" data-testid="package-uploaded">
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
      title: t('packages.description'),
      dataIndex: 'description',
      key: 'description',
      responsive: ['xl'],
      render: (v: string) =>
        v ? (
          <Typography.Paragraph className="package-description" ellipsis={{ rows: 2, tooltip: v }} data-testid="package-description">
            {v}
          </Typography.Paragraph>
        ) : (
          '—'
        ),
    },
    {
      title: t('packages.actions'),
      key: 'actions',
      render: (_: unknown, row) => {
        const busy = downloads.has(row.id);
        return (
          <Space size={6} className="package-actions">
            <Button
              size="small"
              icon={<DownloadOutlined />}
              loading={busy}
              onClick={() => void download(row)}
              data-testid="package-download"
              aria-label={t('packages.downloadName', { name: row.filename, size: formatBytes(row.size) })}
            >
              <span className="action-label">{t('packages.download')}</span>
            </Button>
            {mayDelete(me, row) && (
              <ConfirmDelete
                question={t('packages.deleteConfirm', { name: row.name, version: row.version, platform: row.platform, arch: row.arch })}
                label={t('packages.delete')}
                testId="package-delete"
                onConfirm={() => remove(row)}
              />
            )}
          </Space>
        );
      },
    },
  ];

  return (
    <Card
      title={t('packages.title')}
      className="package-list-card"
      data-testid="package-list"
      extra={
        <Space wrap className="package-list-extra">
          {me && (
            <Tooltip title={t('packages.youTitle', { owner: me.owner, role: t(`role.${me.role}`) })}>
              <Tag icon={<UserOutlined />} data-testid="package-me" data-role={me.role} className="package-me">
                {t('packages.you', { owner: me.owner, role: t(`role.${me.role}`) })}
              </Tag>
            </Tooltip>
          )}
          {mayUpload(me) && (
            <Button type="primary" icon={<CloudUploadOutlined />} onClick={() => setUploading(true)} data-testid="package-upload-open">
              {t('packages.upload')}
            </Button>
          )}
          <Button
            icon={<ReloadOutlined />}
            onClick={() => setReload((n) => n + 1)}
            data-testid="package-list-refresh"
            aria-label={t('list.refresh')}
          >
            <span className="action-label">{t('list.refresh')}</span>
          </Button>
        </Space>
      }
    >
      {me?.role === 'read' && (
        <Alert type="info" showIcon message={t('packages.readOnly')} data-testid="package-read-only" className="package-note" />
      )}
      <div className="package-filters" data-testid="package-filters">
        {FIELD_FILTERS.map((field) => (
          <Input
            key={field}
            allowClear
            value={drafts[field]}
            placeholder={t(FILTER_LABEL[field])}
            aria-label={t('packages.filterBy', { field: t(FILTER_LABEL[field]).toLowerCase() })}
            title={t('packages.filterBy', { field: t(FILTER_LABEL[field]).toLowerCase() })}
            data-testid={`package-filter-${field}`}
            maxLength={100}
            onChange={(e) => {
              setDrafts((d) => ({ ...d, [field]: e.target.value }));
              // the clear button: at once, there is nothing more to type
              if (e.type !== 'change') commit(field, '');
            }}
            onPressEnter={() => commit(field, drafts[field])}
            onBlur={() => commit(field, drafts[field])}
          />
        ))}
        <Input.Search
          allowClear
          value={drafts.q}
          placeholder={t('packages.search')}
          aria-label={t('packages.search')}
          data-testid="package-search"
          className="package-search"
          maxLength={100}
          onChange={(e) => setDrafts((d) => ({ ...d, q: e.target.value }))}
          onSearch={(value) => commit('q', value)}
        />
        {filtered && (
          <Button icon={<ClearOutlined />} onClick={clearFilters} data-testid="package-filters-clear">
            {t('packages.clearFilters')}
          </Button>
        )}
      </div>
      {error && (
        <Alert type="error" showIcon message={problemText(error, false)} data-testid="package-list-error" className="package-note" />
      )}
      <Table<Package>
        rowKey="id"
        size="small"
        loading={loading}
        columns={columns}
        dataSource={packages}
        onChange={onTableChange}
        rowClassName={(row) => (row.id === highlight ? 'package-row-highlight' : '')}
        locale={{ emptyText: filtered ? t('packages.noMatch') : t('packages.none') }}
        onRow={(row) =>
          ({
            'data-testid': 'package-row',
            'data-package-id': row.id,
            'data-name': row.name,
          }) as HTMLAttributes<HTMLElement>
        }
        pagination={{
          current: page,
          pageSize: size,
          total,
          showSizeChanger: true,
          pageSizeOptions: [...PAGE_SIZES],
          showTotal: (count) => <span data-testid="package-total">{t('packages.total', { count })}</span>,
        }}
      />
      <PackageUpload
        open={uploading}
        onClose={() => setUploading(false)}
        onUploaded={(pkg) => {
          setHighlight(pkg.id);
          setReload((n) => n + 1);
        }}
        onShowExisting={showExisting}
      />
    </Card>
  );
}
