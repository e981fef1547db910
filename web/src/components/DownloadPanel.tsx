/**
 * Step ③ — per-ecosystem progress (counts, bytes, speed, ETA from the WebSocket), pause /
 * resume / cancel by status, the failed files (each with why, in the reader's language)
 * with a Retry button when the task failed, and, once complete, the archive's size and a
 * Download button.
 *
 * Every ecosystem the analysis found has its row from the start ("waiting", with the
 * analysis's totals), files already in the store count as done, and the whole download
 * has one ETA: what is left of every row at the speed of the one fetching.
 */
import { Alert, Button, Card, List, Popconfirm, Progress, Result, Space, Tag, Typography } from 'antd';
import {
  CloseCircleOutlined,
  DownloadOutlined,
  PauseCircleOutlined,
  PlayCircleOutlined,
  PlusOutlined,
  RedoOutlined,
} from '@ant-design/icons';
import type { Dependencies, EcosystemProgress, FailedPackage, Task, TaskAction, TaskStatus } from '../api/client';
import { downloadArchive } from '../api/client';
import type { SocketProgress } from '../hooks/useTaskSocket';
import { formatBytes, formatCount, formatEta, formatSpeed } from '../format';
import { useI18n } from '../i18n';
import { hintOf, useServerText } from '../serverText';
import { ArchiveCard } from './ArchiveCard';

export interface DownloadPanelProps {
  task: Task;
  /** The live status (the socket's when it has one). */
  status: TaskStatus;
  progress: Record<string, SocketProgress>;
  onAction: (action: TaskAction) => void;
  /** The action being sent, to show its button loading. */
  busy?: TaskAction | null;
  onNewTask?: () => void;
  /** The analysis, for the target's operating systems in the install commands. */
  deps?: Dependencies | null;
}

const ECO_ORDER = ['pypi', 'npm'];
const ECO_LABEL: Record<string, string> = { pypi: 'Python', npm: 'npm', all: '' };

type RowState = 'waiting' | 'fetching' | 'done';

interface Row {
  eco: string;
  state: RowState;
  current: number;
  cached: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  speed: number | null;
  eta: number | null;
  failed: number;
  failedPackages: FailedPackage[];
}

/** What the analysis says each ecosystem will fetch: the rows before any report. */
export function plannedRows(deps: Dependencies | null | undefined): Record<string, { files: number; bytes: number }> {
  const out: Record<string, { files: number; bytes: number }> = {};
  if (deps?.python) out.pypi = { files: deps.python.file_count ?? 0, bytes: deps.python.total_bytes ?? 0 };
  if (deps?.npm) out.npm = { files: deps.npm.count ?? 0, bytes: deps.npm.total_bytes ?? 0 };
  return out;
}

export function rows(
  task: Task,
  live: Record<string, SocketProgress>,
  deps?: Dependencies | null,
): Row[] {
  // keyed by ecosystem: a key that is not there reads as undefined
  const stored: Partial<Record<string, EcosystemProgress>> = task.progress;
  const plan = plannedRows(deps);
  const ecos = Array.from(new Set([...Object.keys(plan), ...Object.keys(stored), ...Object.keys(live)]));
  ecos.sort((a, b) => {
    const ia = ECO_ORDER.indexOf(a);
    const ib = ECO_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return ecos.map((eco) => {
    const s = stored[eco];
    const l = live[eco];
    const p = plan[eco];
    if (!s && !l) {
      // nothing reported yet: the analysis's numbers, waiting
      return {
        eco,
        state: 'waiting',
        current: 0,
        cached: 0,
        total: p?.files ?? 0,
        bytesDone: 0,
        bytesTotal: p?.bytes ?? 0,
        speed: null,
        eta: null,
        failed: 0,
        failedPackages: [],
      };
    }
    const storedCurrent = s ? (s.completed ?? 0) + (s.failed ?? 0) : 0;
    const liveWaiting = l ? l.phase === 'waiting' : true;
    // the live event is the newer word, except that a stored row may have moved on
    const state: RowState =
      s?.state === 'done' ? 'done' : liveWaiting && (s?.state ?? 'waiting') === 'waiting' ? 'waiting' : 'fetching';
    return {
      eco,
      state,
      current: Math.max(l?.current ?? 0, storedCurrent),
      cached: s?.cached ?? 0,
      // once the engine has started, its totals replace the analysis's estimate
      total: l && !liveWaiting ? l.total : Math.max(l?.total ?? 0, s?.total ?? 0),
      bytesDone: Math.max(l?.bytes_done ?? 0, s?.bytes_done ?? 0),
      bytesTotal: l && !liveWaiting ? l.bytes_total : Math.max(l?.bytes_total ?? 0, s?.bytes_total ?? 0),
      speed: l?.speed ?? null,
      eta: l?.eta ?? null,
      failed: s?.failed ?? 0,
      failedPackages: s?.failed_packages ?? [],
    };
  });
}

/** Seconds until every row is done, at the speed of the rows fetching now; null unknown. */
export function overallEta(list: Row[]): number | null {
  // a row whose files are all in has stopped: its last speed says nothing about the rest
  const moving = (r: Row) => r.state === 'fetching' && !(r.total > 0 && r.current >= r.total);
  const speed = list.reduce((sum, r) => sum + (moving(r) && r.speed ? r.speed : 0), 0);
  if (speed <= 0) return null;
  const left = list.reduce((sum, r) => sum + Math.max(0, r.bytesTotal - r.bytesDone), 0);
  return left / speed;
}

function percent(row: Row, status: TaskStatus): number {
  if (status === 'completed') return 100;
  let p = 0;
  if (row.bytesTotal > 0 && row.bytesTotal >= row.bytesDone) p = (row.bytesDone / row.bytesTotal) * 100;
  else if (row.total > 0) p = (row.current / row.total) * 100;
  return Math.min(100, Math.max(0, Math.floor(p * 10) / 10));
}

export function DownloadPanel({ task, status, progress, onAction, busy, onNewTask, deps }: DownloadPanelProps) {
  const { t } = useI18n();
  const said = useServerText();
  const list = rows(task, progress, deps);
  const eta = overallEta(list);
  const failedPackages = list.flatMap((r) => r.failedPackages.map((f) => ({ ...f, eco: r.eco })));
  const hint = task.error ? hintOf(task.error) : null;
  const active = status === 'downloading' || status === 'packing';
  const cancellable = ['created', 'resolving', 'resolved', 'downloading', 'paused', 'packing'].includes(status);

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }} data-testid="download-panel" data-status={status}>
      <Card size="small" title={t('download.title')} extra={<Tag data-testid="task-status">{t(`status.${status}`)}</Tag>}>
        {list.length === 0 && (
          <Typography.Text type="secondary">{t('download.waiting')}</Typography.Text>
        )}
        {list.map((row) => {
          const pct = percent(row, status);
          const progressStatus =
            status === 'failed' && row.failed > 0
              ? 'exception'
              : status === 'completed' || (row.total > 0 && row.current >= row.total && row.failed === 0)
                ? 'success'
                : active
                  ? 'active'
                  : 'normal';
          return (
            <div
              key={row.eco}
              className="eco-progress"
              data-testid={`progress-${row.eco}`}
              data-percent={pct}
              data-state={status === 'completed' ? 'done' : row.state}
            >
              <Space size="small">
                <Typography.Text strong>{ECO_LABEL[row.eco] ?? row.eco}</Typography.Text>
                {row.state === 'waiting' && active && (
                  <Tag data-testid={`progress-${row.eco}-waiting`}>{t('download.rowWaiting')}</Tag>
                )}
              </Space>
              <Progress percent={pct} status={progressStatus} aria-label={t('download.progressOf', { name: ECO_LABEL[row.eco] || row.eco })} />
              <Space size="large" wrap className="eco-progress-numbers">
                <span data-testid={`progress-${row.eco}-files`}>
                  {t('download.files', { current: formatCount(row.current), total: formatCount(row.total) })}
                </span>
                {row.cached > 0 && (
                  <span data-testid={`progress-${row.eco}-cached`}>{t('download.cached', { count: formatCount(row.cached) })}</span>
                )}
                <span data-testid={`progress-${row.eco}-failed`} className={row.failed > 0 ? 'text-error' : undefined}>
                  {t('download.failedCount', { count: row.failed })}
                </span>
                <span data-testid={`progress-${row.eco}-bytes`}>
                  {row.bytesTotal >= row.bytesDone && row.bytesTotal > 0
                    ? t('download.bytes', { done: formatBytes(row.bytesDone), total: formatBytes(row.bytesTotal) })
                    : formatBytes(row.bytesDone)}
                </span>
                {active && row.state === 'fetching' && !(row.total > 0 && row.current >= row.total) && (
                  <>
                    <span data-testid={`progress-${row.eco}-speed`}>{t('download.speed', { speed: formatSpeed(row.speed) })}</span>
                    <span data-testid={`progress-${row.eco}-eta`}>{t('download.eta', { eta: formatEta(row.eta) })}</span>
                  </>
                )}
              </Space>
            </div>
          );
        })}
        {status === 'downloading' && list.length > 1 && eta !== null && (
          <Typography.Paragraph type="secondary" data-testid="progress-eta-total">
            {t('download.etaTotal', { eta: formatEta(eta) })}
          </Typography.Paragraph>
        )}
        {status === 'packing' && <Typography.Text type="secondary">{t('download.packing')}</Typography.Text>}
        <Space className="download-actions" wrap>
          {status === 'downloading' && (
            <Button icon={<PauseCircleOutlined />} loading={busy === 'pause'} onClick={() => onAction('pause')} data-testid="pause-button">
              {t('download.pause')}
            </Button>
          )}
          {status === 'paused' && (
            <Button
              type="primary"
              icon={<PlayCircleOutlined />}
              loading={busy === 'resume'}
              onClick={() => onAction('resume')}
              data-testid="resume-button"
            >
              {t('download.resume')}
            </Button>
          )}
          {cancellable && (
            <Popconfirm
              title={t('download.cancelConfirm')}
              okText={t('common.yes')}
              cancelText={t('common.no')}
              okButtonProps={{ danger: true, 'data-testid': 'cancel-confirm' }}
              onConfirm={() => onAction('cancel')}
            >
              <Button danger icon={<CloseCircleOutlined />} loading={busy === 'cancel'} data-testid="cancel-button">
                {t('download.cancel')}
              </Button>
            </Popconfirm>
          )}
        </Space>
      </Card>

      {status === 'failed' && (
        <Card size="small" title={t('download.failed')} data-testid="failed-card">
          {task.error && (
            <Alert
              type="error"
              showIcon
              data-testid="task-error"
              message={task.error.code}
              description={
                <div>
                  <span>
                    {said('error', task.error)}
                    {task.error.file && (
                      <strong>
                        {' '}
                        ({task.error.file}
                        {task.error.line != null ? `:${task.error.line}` : ''})
                      </strong>
                    )}
                  </span>
                  {hint && (
                    <div className="error-hint" data-testid="task-error-hint">
                      {said('hint', hint)}
                    </div>
                  )}
                </div>
              }
              style={{ marginBottom: 12 }}
            />
          )}
          {failedPackages.length > 0 && (
            <List
              size="small"
              header={<strong>{t('download.failedList')}</strong>}
              bordered
              data-testid="failed-list"
              dataSource={failedPackages}
              renderItem={(f) => (
                <List.Item data-testid="failed-item" data-name={f.name}>
                  <Tag>{ECO_LABEL[f.eco] || f.eco}</Tag>
                  <Typography.Text strong>{f.name}</Typography.Text>:{' '}
                  <span data-testid="failed-reason">{said('error', { code: f.code, params: f.params, message: f.error })}</span>
                </List.Item>
              )}
              style={{ marginBottom: 12 }}
            />
          )}
          <Button
            type="primary"
            icon={<RedoOutlined />}
            loading={busy === 'retry'}
            onClick={() => onAction('retry')}
            data-testid="retry-button"
          >
            {t('download.retry')}
          </Button>
        </Card>
      )}

      {status === 'completed' && (
        // antd's Result does not pass data-* attributes to the DOM: a wrapper carries it
        <div data-testid="download-complete">
        <Result
          status="success"
          title={t('download.complete')}
          subTitle={
            <span data-testid="archive-size">
              {t('download.archive')} · {t('download.archiveSize', { size: formatBytes(task.archive_size) })}
            </span>
          }
          extra={[
            <Button
              key="download"
              type="primary"
              size="large"
              icon={<DownloadOutlined />}
              href={task.archive_url ?? undefined}
              onClick={(e) => {
                // a signed link lasts minutes: ask for a fresh one when the page is older
                e.preventDefault();
                void downloadArchive(task.task_id);
              }}
              download
              data-testid="download-button"
            >
              {t('download.downloadArchive')}
            </Button>,
            onNewTask ? (
              <Button key="new" icon={<PlusOutlined />} onClick={onNewTask}>
                {t('download.newTask')}
              </Button>
            ) : null,
          ]}
        />
        <ArchiveCard task={task} deps={deps} />
        </div>
      )}

      {status === 'cancelled' && (
        <div data-testid="task-cancelled">
          <Result
            status="warning"
            title={t('download.cancelled')}
            extra={
              onNewTask ? (
                <Button icon={<PlusOutlined />} onClick={onNewTask}>
                  {t('download.newTask')}
                </Button>
              ) : null
            }
          />
        </div>
      )}
    </Space>
  );
}
