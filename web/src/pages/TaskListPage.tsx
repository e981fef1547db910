/**
 * Earlier tasks, told apart: the project's name (or the first file's), the target, the
 * package count, the status, when, and the archive as a download link; the total; a
 * status filter and paging kept in the URL (`router.ts`); delete, and open each one again.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { HTMLAttributes, MouseEvent } from 'react';
import { Alert, App, Button, Card, Select, Space, Table, Tag, Typography } from 'antd';
import type { TableColumnsType } from 'antd';
import { DownloadOutlined, FolderOpenOutlined, ReloadOutlined } from '@ant-design/icons';
import { ApiError, TASK_STATUSES, deleteTask, downloadArchive, listTasks } from '../api/client';
import type { Task, TaskStatus } from '../api/client';
import { formatBytes, formatCount, formatDateTime } from '../format';
import { useI18n } from '../i18n';
import { PAGE_SIZES } from '../router';
import type { ListQuery } from '../router';
import { useServerText } from '../serverText';
import { uploadedTarget } from '../targetSummary';
import { STATUS_COLOR } from './TaskPage';
import { ConfirmDelete } from '../components/ConfirmDelete';

// A signed archive link lasts minutes (archive_link_ttl): a list shown longer than this
// asks for a fresh one at the click instead of following a stale one.
const LINK_FRESH_MS = 60_000;

export interface TaskListPageProps {
  onOpenTask: (taskId: string) => void;
  /** The filter and page, as the URL has them. */
  query: ListQuery;
  /** A new filter or page: into the URL (a history entry, unless `replace`). */
  onQueryChange: (next: ListQuery, replace?: boolean) => void;
}

function plainClick(e: MouseEvent): boolean {
  return !(e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.button !== 0);
}

/** What the list calls a task: the name its manifests declare, else its first file. */
export function taskLabel(task: Task): { text: string; declared: boolean } {
  if (task.project_name) return { text: task.project_name, declared: true };
  return { text: task.files?.[0] ?? task.task_id.slice(0, 8), declared: false };
}

export function TaskListPage({ onOpenTask, query, onQueryChange }: TaskListPageProps) {
  const { t } = useI18n();
  const said = useServerText();
  const { message } = App.useApp();
  const { status, page, size } = query;
  const [tasks, setTasks] = useState<Task[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [reload, setReload] = useState(0);
  const loadedAt = useRef(0);
  // the latest callback, without making every new one (App passes an arrow) a reload
  const changeQuery = useRef(onQueryChange);
  changeQuery.current = onQueryChange;

  const load = useCallback(
    async (signal: AbortSignal) => {
      setLoading(true);
      try {
        const doc = await listTasks({ page, size, status: status ?? null }, signal);
        const count = doc.total ?? 0;
        const lastPage = Math.max(1, Math.ceil(count / size));
        if (page > lastPage) {
          // a page past the end (from an old link, or after deletes): the last one there is
          changeQuery.current({ status, page: lastPage, size }, true);
          return;
        }
        setTasks(doc.tasks ?? []);
        setTotal(count);
        loadedAt.current = Date.now();
        setError(null);
      } catch (err) {
        if (err instanceof DOMException && err.name === 'AbortError') return;
        setError(err instanceof Error ? err : new Error(String(err)));
      } finally {
        if (!signal.aborted) setLoading(false);
      }
    },
    [page, size, status],
  );

  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load, reload]);

  // the server's refusal in the reader's language (its code and params), as the task page
  // says it: a toast after the code, the list's own alert without
  const problemText = (err: unknown, withCode = true): string => {
    if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
    return `${withCode && err.code ? `${err.code}: ` : ''}${said('error', err)}`;
  };

  const remove = async (taskId: string) => {
    try {
      await deleteTask(taskId);
      void message.success(t('list.deleted'));
      if (tasks.length === 1 && page > 1) onQueryChange({ status, page: page - 1, size }, true);
      else setReload((n) => n + 1);
    } catch (err) {
      void message.error(problemText(err));
    }
  };

  const download = (e: MouseEvent, taskId: string) => {
    if (!plainClick(e) || Date.now() - loadedAt.current < LINK_FRESH_MS) return;
    e.preventDefault();
    downloadArchive(taskId).catch((err: unknown) => message.error(problemText(err)));
  };

  const columns: TableColumnsType<Task> = [
    {
      title: t('list.project'),
      key: 'project',
      render: (_: unknown, row) => {
        const label = taskLabel(row);
        return (
          <div className="task-project">
            <Typography.Link
              href={`?task=${encodeURIComponent(row.task_id)}`}
              data-testid="task-link"
              // the whole name (the cell may cut it) and every file uploaded
              title={label.declared ? `${label.text} (${(row.files ?? []).join(', ')})` : (row.files ?? []).join(', ')}
              onClick={(e) => {
                if (!plainClick(e)) return;
                e.preventDefault();
                onOpenTask(row.task_id);
              }}
            >
              <span
                className={label.declared ? 'task-project-name' : 'task-project-name task-project-file'}
                data-testid="task-project"
                data-declared={label.declared}
              >
                {label.text}
              </span>
            </Typography.Link>
            {/* 8 characters tell apart two tasks of the same project; whole, never a letter a line */}
            <Typography.Text type="secondary" code className="task-id">
              {row.task_id.slice(0, 8)}
            </Typography.Text>
          </div>
        );
      },
    },
    {
      title: t('list.target'),
      key: 'target',
      // a phone shows the project, status and actions; the rest from wider screens up
      responsive: ['lg'],
      render: (_: unknown, row) => {
        const parts = uploadedTarget(row.options, row.files ?? []);
        const lines = [parts.python, parts.node].filter((p): p is string => Boolean(p));
        if (lines.length === 0) return '—';
        return (
          <div className="task-target" data-testid="task-target">
            {lines.map((line) => (
              <div key={line}>{line}</div>
            ))}
          </div>
        );
      },
    },
    {
      title: t('list.packages'),
      dataIndex: 'package_count',
      key: 'package_count',
      align: 'right',
      responsive: ['md'],
      render: (v: number | null | undefined) => <span data-testid="task-packages">{formatCount(v)}</span>,
    },
    {
      title: t('list.status'),
      dataIndex: 'status',
      key: 'status',
      render: (s: TaskStatus) => (
        <Tag color={STATUS_COLOR[s]} data-testid="task-row-status">
          {t(`status.${s}`)}
        </Tag>
      ),
    },
    {
      title: t('list.created'),
      dataIndex: 'created_at',
      key: 'created_at',
      responsive: ['md'],
      className: 'task-created',
      render: (v: string) => formatDateTime(v),
    },
    {
      title: t('list.archive'),
      dataIndex: 'archive_size',
      key: 'archive_size',
      align: 'right',
      responsive: ['md'],
      render: (v: number | null | undefined, row) =>
        row.status === 'completed' && row.archive_url && v != null ? (
          <a
            href={row.archive_url}
            download={row.archive_name ?? ''}
            className="task-archive"
            data-testid="task-archive-link"
            aria-label={t('list.downloadArchive', { name: row.archive_name ?? '', size: formatBytes(v) })}
            onClick={(e) => download(e, row.task_id)}
          >
            <DownloadOutlined aria-hidden /> {formatBytes(v)}
          </a>
        ) : (
          '—'
        ),
    },
    {
      title: t('list.actions'),
      key: 'actions',
      render: (_: unknown, row) => (
        <Space>
          <Button
            size="small"
            icon={<FolderOpenOutlined />}
            onClick={() => onOpenTask(row.task_id)}
            data-testid="task-open"
            aria-label={t('list.open')}
          >
            <span className="action-label">{t('list.open')}</span>
          </Button>
          <ConfirmDelete
            question={t('list.deleteConfirm')}
            label={t('list.delete')}
            testId="task-delete"
            onConfirm={() => remove(row.task_id)}
          />
        </Space>
      ),
    },
  ];

  return (
    <Card
      title={t('list.title')}
      className="task-list-card"
      data-testid="task-list"
      extra={
        <Space>
          <Select<TaskStatus | 'all'>
            data-testid="status-filter"
            aria-label={t('list.status')}
            style={{ width: 150 }}
            value={status ?? 'all'}
            onChange={(v) => onQueryChange({ status: v === 'all' ? null : v, page: 1, size })}
            options={[
              { value: 'all', label: t('list.all') },
              ...TASK_STATUSES.map((s) => ({ value: s, label: t(`status.${s}`) })),
            ]}
          />
          <Button icon={<ReloadOutlined />} onClick={() => setReload((n) => n + 1)} data-testid="task-list-refresh">
            {t('list.refresh')}
          </Button>
        </Space>
      }
    >
      {error && (
        <Alert type="error" showIcon message={problemText(error, false)} data-testid="task-list-error" style={{ marginBottom: 12 }} />
      )}
      <Table<Task>
        rowKey="task_id"
        size="small"
        loading={loading}
        columns={columns}
        dataSource={tasks}
        onRow={(row) =>
          ({ 'data-testid': 'task-row', 'data-task-id': row.task_id, 'data-status': row.status }) as HTMLAttributes<HTMLElement>
        }
        pagination={{
          current: page,
          pageSize: size,
          total,
          showSizeChanger: true,
          pageSizeOptions: [...PAGE_SIZES],
          showTotal: (count) => (
            <span data-testid="task-total">{t('list.total', { count })}</span>
          ),
          onChange: (p, s) => onQueryChange({ status, page: s !== size ? 1 : p, size: s }),
        }}
      />
    </Card>
  );
}
