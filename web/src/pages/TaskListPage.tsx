/** Earlier tasks: status filter, paging, delete, and a link to open each one again. */
import { useCallback, useEffect, useState } from 'react';
import type { HTMLAttributes } from 'react';
import { Alert, App, Button, Card, Popconfirm, Select, Space, Table, Tag, Typography } from 'antd';
import type { TableColumnsType } from 'antd';
import { DeleteOutlined, FolderOpenOutlined, ReloadOutlined } from '@ant-design/icons';
import { TASK_STATUSES, deleteTask, listTasks } from '../api/client';
import type { Task, TaskStatus } from '../api/client';
import { formatBytes, formatDateTime } from '../format';
import { useI18n } from '../i18n';
import { STATUS_COLOR } from './TaskPage';

export interface TaskListPageProps {
  onOpenTask: (taskId: string) => void;
  pageSize?: number;
}

export function TaskListPage({ onOpenTask, pageSize = 20 }: TaskListPageProps) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const [status, setStatus] = useState<TaskStatus | undefined>(undefined);
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(pageSize);
  const [tasks, setTasks] = useState<Task[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  const load = useCallback(
    async (signal: AbortSignal) => {
      setLoading(true);
      try {
        const doc = await listTasks({ page, size, status: status ?? null }, signal);
        setTasks(doc.tasks ?? []);
        setTotal(doc.total ?? 0);
        setError(null);
      } catch (err) {
        if (err instanceof DOMException && err.name === 'AbortError') return;
        setError(err instanceof Error ? err.message : String(err));
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

  const remove = async (taskId: string) => {
    try {
      await deleteTask(taskId);
      void message.success(t('list.deleted'));
      if (tasks.length === 1 && page > 1) setPage(page - 1);
      else setReload((n) => n + 1);
    } catch (err) {
      void message.error(err instanceof Error ? err.message : String(err));
    }
  };

  const columns: TableColumnsType<Task> = [
    {
      title: t('list.id'),
      dataIndex: 'task_id',
      key: 'task_id',
      render: (id: string) => (
        <Typography.Link
          href={`?task=${encodeURIComponent(id)}`}
          data-testid="task-link"
          onClick={(e) => {
            if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
            e.preventDefault();
            onOpenTask(id);
          }}
        >
          {/* 8 characters tell tasks apart on a phone; whole, never a letter a line */}
          <Typography.Text code className="task-id">
            {id.slice(0, 8)}
          </Typography.Text>
        </Typography.Link>
      ),
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
      title: t('list.files'),
      dataIndex: 'files',
      key: 'files',
      // a phone shows the id, status and actions; the rest from tablet width up
      responsive: ['md'],
      render: (files: string[]) => (
        <Space size={[4, 4]} wrap>
          {(files ?? []).map((f) => (
            <Tag key={f}>{f}</Tag>
          ))}
        </Space>
      ),
    },
    {
      title: t('list.created'),
      dataIndex: 'created_at',
      key: 'created_at',
      // a phone shows the id, status and actions; the rest from tablet width up
      responsive: ['md'],
      render: (v: string) => formatDateTime(v),
    },
    {
      title: t('list.archive'),
      dataIndex: 'archive_size',
      key: 'archive_size',
      // a phone shows the id, status and actions; the rest from tablet width up
      responsive: ['md'],
      render: (v: number | null | undefined, row) =>
        row.status === 'completed' && v != null ? formatBytes(v) : '—',
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
          <Popconfirm
            title={t('list.deleteConfirm')}
            okText={t('common.yes')}
            cancelText={t('common.no')}
            okButtonProps={{ danger: true, 'data-testid': 'task-delete-confirm' }}
            onConfirm={() => remove(row.task_id)}
          >
            <Button size="small" danger icon={<DeleteOutlined />} data-testid="task-delete" aria-label={t('list.delete')}>
              <span className="action-label">{t('list.delete')}</span>
            </Button>
          </Popconfirm>
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
            onChange={(v) => {
              setStatus(v === 'all' ? undefined : v);
              setPage(1);
            }}
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
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
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
          pageSizeOptions: [10, 20, 50, 100],
          onChange: (p, s) => {
            setPage(s !== size ? 1 : p);
            setSize(s);
          },
        }}
      />
    </Card>
  );
}
