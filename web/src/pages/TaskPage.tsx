/**
 * The task page: antd Steps ① upload ② analyse ③ download & pack, the current step's
 * content, and the live log below. The task id lives in the URL (`?task=<id>`), so a
 * reload fetches the task again and the socket's snapshot restores progress and log.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Alert, App, Button, Card, Descriptions, Result, Space, Spin, Steps, Tag, Typography } from 'antd';
import { EditOutlined, LoadingOutlined, PlusOutlined } from '@ant-design/icons';
import { ApiError, createTask, getDependencies, getTask, listRegistries, taskAction } from '../api/client';
import type { Dependencies, RegistryEntry, Task, TaskAction, TaskOptions, TaskStatus } from '../api/client';
import { AnalyseView } from '../components/AnalyseView';
import { AnalysisProgress } from '../components/AnalysisProgress';
import { DownloadPanel } from '../components/DownloadPanel';
import { FileUpload } from '../components/FileUpload';
import { LogPanel } from '../components/LogPanel';
import { ProblemSummary } from '../components/ProblemSummary';
import {
  TargetOptions,
  declaredOnly,
  fromTaskOptions,
  toTaskOptions,
  useTargetOptions,
} from '../components/TargetOptions';
import { rememberUpload, reopenUpload, uploadedFiles } from '../draft';
import { useDeclared } from '../hooks/useDeclared';
import { useTaskSocket } from '../hooks/useTaskSocket';
import { formatDateTime, formatSpeed } from '../format';
import { useI18n } from '../i18n';
import { hintOf, useServerText } from '../serverText';
import { targetLine, targetParts } from '../targetSummary';

const HAS_TREE: TaskStatus[] = ['resolved', 'downloading', 'paused', 'packing', 'completed', 'failed', 'cancelled'];
const ACTIVE: TaskStatus[] = ['created', 'resolving', 'downloading', 'packing'];
const POLL_MS = 4000;

export const STATUS_COLOR: Record<TaskStatus, string> = {
  created: 'default',
  resolving: 'processing',
  resolved: 'cyan',
  downloading: 'processing',
  paused: 'warning',
  packing: 'processing',
  completed: 'success',
  failed: 'error',
  cancelled: 'default',
};

/** The step a task is at. A failed analysis (no tree, or a tree with resolution errors)
 * stays on the analyse step, where the resolver's words belong. */
export function stepOf(status: TaskStatus | null, hasDeps: boolean, errorCode?: string | null): number {
  switch (status) {
    case null:
      return 0;
    case 'created':
    case 'resolving':
    case 'resolved':
      return 1;
    case 'failed':
      return hasDeps && errorCode !== 'resolution-failed' ? 2 : 1;
    default:
      return 2;
  }
}

type Translate = ReturnType<typeof useI18n>['t'];

/** The options a task was made with, as the upload form named them (not raw JSON). */
export function optionItems(options: TaskOptions | null | undefined, t: Translate): [string, string][] {
  if (!options) return [];
  const items: [string, string][] = [];
  const parts = targetParts(options);
  const line = targetLine(parts);
  if (line) items.push([t('options.title'), line]);
  items.push([t('options.format'), options.format ?? 'zip']);
  if (options.all_groups) items.push([t('options.groups'), t('options.allGroups')]);
  else if (options.groups && options.groups.length) items.push([t('options.groups'), options.groups.join(', ')]);
  if (options.only_binary?.length) items.push([t('options.wheels'), t('options.wheels.only')]);
  else if (options.prefer_binary) items.push([t('options.wheels'), t('options.wheels.prefer')]);
  if (options.exclude_newer) items.push([t('options.excludeNewer'), options.exclude_newer]);
  if (options.torch_backend) items.push([t('options.torch'), options.torch_backend]);
  if (options.registry) items.push([t('options.registry'), options.registry]);
  if (options.ignore_manifest_indexes) items.push([t('options.ignoreManifestIndexes'), t('common.yes')]);
  if (options.limit_rate) items.push([t('options.limitRate'), formatSpeed(options.limit_rate)]);
  if (options.all_platforms) items.push([t('options.allPlatforms'), t('common.yes')]);
  return items;
}

export interface TaskPageProps {
  taskId: string | null;
  onOpenTask: (taskId: string) => void;
  onNewTask: () => void;
}

export function TaskPage({ taskId, onOpenTask, onNewTask }: TaskPageProps) {
  const { t } = useI18n();
  const said = useServerText();
  const { message } = App.useApp();
  const [options, setOptions] = useTargetOptions();
  const [task, setTask] = useState<Task | null>(null);
  const [loadError, setLoadError] = useState<ApiError | Error | null>(null);
  const [deps, setDeps] = useState<Dependencies | null>(null);
  const [depsMissing, setDepsMissing] = useState(false);
  const [busy, setBusy] = useState<TaskAction | null>(null);
  const [viewStep, setViewStep] = useState<number | null>(null);
  // the profiles the service offers (none: no selector); an older service has no such route
  const [registries, setRegistries] = useState<RegistryEntry[] | undefined>(undefined);
  useEffect(() => {
    if (taskId) return undefined;
    const abort = new AbortController();
    listRegistries(abort.signal)
      .then((list) => setRegistries(list.registries))
      .catch(() => setRegistries([]));
    return () => abort.abort();
  }, [taskId]);
  const socket = useTaskSocket(taskId);
  const declared = useDeclared();
  const taskIdRef = useRef(taskId);
  taskIdRef.current = taskId;

  const status: TaskStatus | null = taskId ? (socket.status ?? task?.status ?? null) : null;

  const refresh = useCallback(async () => {
    const id = taskIdRef.current;
    if (!id) return;
    try {
      const doc = await getTask(id);
      if (taskIdRef.current === id) {
        setTask(doc);
        setLoadError(null);
      }
    } catch (err) {
      if (taskIdRef.current === id) setLoadError(err as Error);
    }
  }, []);

  // a new task id: start over
  useEffect(() => {
    setTask(null);
    setDeps(null);
    setDepsMissing(false);
    setLoadError(null);
    setViewStep(null);
    if (taskId) void refresh();
  }, [taskId, refresh]);

  // the socket says something changed: fetch the task document again (a little later,
  // so a burst of events costs one request)
  useEffect(() => {
    if (!taskId || socket.revision === 0) return;
    const handle = window.setTimeout(() => void refresh(), 150);
    return () => window.clearTimeout(handle);
  }, [taskId, socket.revision, refresh]);

  // while the task runs, refresh now and then (failed counts, and in case the socket is down)
  useEffect(() => {
    if (!taskId || !status || !ACTIVE.includes(status)) return;
    const handle = window.setInterval(() => void refresh(), POLL_MS);
    return () => window.clearInterval(handle);
  }, [taskId, status, refresh]);

  // the dependency tree, once there is one
  useEffect(() => {
    if (!taskId || !status || !HAS_TREE.includes(status) || deps || depsMissing) return;
    const ctrl = new AbortController();
    getDependencies(taskId, ctrl.signal)
      .then((doc) => {
        if (taskIdRef.current === taskId) setDeps(doc);
      })
      .catch((err: unknown) => {
        if (err instanceof DOMException && err.name === 'AbortError') return;
        if (taskIdRef.current === taskId) setDepsMissing(true);
      });
    return () => ctrl.abort();
  }, [taskId, status, deps, depsMissing]);

  // a status change may bring a tree that was missing (a retried analysis)
  useEffect(() => {
    setDepsMissing(false);
  }, [status]);

  const derivedStep = stepOf(status, deps !== null, task?.error?.code);
  useEffect(() => {
    setViewStep(null);
  }, [derivedStep]);
  const current = viewStep ?? derivedStep;

  const act = async (action: TaskAction) => {
    if (!taskId) return;
    setBusy(action);
    try {
      const doc = await taskAction(taskId, action);
      setTask(doc);
      if (action === 'download') setViewStep(null);
    } catch (err) {
      const e = err as ApiError;
      void message.error(`${e.code ? `${e.code}: ` : ''}${said('error', e)}`);
      void refresh();
    } finally {
      setBusy(null);
    }
  };

  // the same task again with the dev dependencies: at once when this page still has the
  // files, else through the upload form with the files' names to choose again
  const includeDev = async () => {
    if (!task) return;
    const groups = [...new Set([...(task.options?.groups ?? []), 'dev'])];
    const files = uploadedFiles(task.task_id);
    if (!files) {
      setOptions({ ...fromTaskOptions(options, task.options), groups });
      onNewTask();
      return;
    }
    try {
      const created = await createTask(files, { ...task.options, groups, auto_download: false });
      rememberUpload(created.task_id, files);
      onOpenTask(created.task_id);
    } catch (err) {
      const e = err as ApiError;
      void message.error(`${e.code ? `${e.code}: ` : ''}${said('error', e)}`);
    }
  };

  const stepItems = useMemo(
    () => [
      {
        title: <span data-testid="step-upload" data-current={current === 0}>{t('step.upload')}</span>,
        description: t('step.upload.desc'),
      },
      {
        title: <span data-testid="step-analyse" data-current={current === 1}>{t('step.analyse')}</span>,
        description: t('step.analyse.desc'),
        icon: status === 'resolving' || status === 'created' ? <LoadingOutlined /> : undefined,
      },
      {
        title: <span data-testid="step-download" data-current={current === 2}>{t('step.download')}</span>,
        description: t('step.download.desc'),
        icon: status === 'downloading' || status === 'packing' ? <LoadingOutlined /> : undefined,
      },
    ],
    [current, status, t],
  );

  const stepStatus =
    status === 'failed' ? 'error' : status === 'completed' ? 'finish' : status === 'cancelled' ? 'wait' : 'process';

  let content: React.ReactNode = null;
  if (!taskId) {
    content = (
      <FileUpload
        // only groups the files declare are asked for (a remembered one may not be)
        options={toTaskOptions({ ...options, groups: declaredOnly(options.groups, declared.groups) }, registries)}
        onCreated={(created) => onOpenTask(created.task_id)}
        onFilesChange={declared.onFilesChange}
        checkErrors={declared.errors}
      >
        <TargetOptions value={options} onChange={setOptions} registries={registries} declared={declared.groups} />
      </FileUpload>
    );
  } else if (loadError && !task) {
    const notFound = loadError instanceof ApiError && loadError.status === 404;
    content = (
      <Result
        status={notFound ? '404' : 'error'}
        title={notFound ? t('task.notFound') : t('task.loadFailed')}
        subTitle={loadError instanceof ApiError ? said('error', loadError) : loadError.message}
        data-testid="task-load-error"
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={onNewTask}>
            {t('download.newTask')}
          </Button>
        }
      />
    );
  } else if (!task || !status) {
    content = (
      <div className="center-spin">
        <Spin />
      </div>
    );
  } else if (current === 0) {
    content = (
      <Card size="small" data-testid="task-summary">
        <Descriptions size="small" column={1}>
          <Descriptions.Item label={t('list.files')}>
            {task.files.map((f) => (
              <Tag key={f}>{f}</Tag>
            ))}
          </Descriptions.Item>
          <Descriptions.Item label={t('list.created')}>{formatDateTime(task.created_at)}</Descriptions.Item>
          {optionItems(task.options, t).map(([label, value]) => (
            <Descriptions.Item key={label} label={label}>
              {value}
            </Descriptions.Item>
          ))}
        </Descriptions>
        <Button icon={<PlusOutlined />} onClick={onNewTask} data-testid="new-task-button">
          {t('download.newTask')}
        </Button>
      </Card>
    );
  } else if (current === 1) {
    if (status === 'created' || status === 'resolving') {
      content = (
        <Card size="small" title={t('analyse.resolving')} data-testid="analyse-resolving">
          <AnalysisProgress files={task.files} analysis={socket.analysis} />
          <Button
            danger
            className="analysis-cancel"
            onClick={() => void act('cancel')}
            loading={busy === 'cancel'}
            data-testid="cancel-button"
          >
            {t('download.cancel')}
          </Button>
        </Card>
      );
    } else if (deps && status !== 'failed') {
      content = (
        <AnalyseView
          deps={deps}
          onStart={status === 'resolved' ? () => void act('download') : undefined}
          onIncludeDev={() => void includeDev()}
          starting={busy === 'download'}
        />
      );
    } else if (status === 'failed' || depsMissing) {
      const err = task.error;
      const hint = err ? hintOf(err) : null;
      const fix = () => {
        // back to the upload step with this task's files (when this page made it) and target
        reopenUpload(task.task_id);
        setOptions(fromTaskOptions(options, task.options));
        onNewTask();
      };
      content = (
        <Space direction="vertical" style={{ width: '100%' }} data-testid="analyse-failed">
          <Alert
            type="error"
            showIcon
            data-testid="analyse-error"
            message={`${t('analyse.failed')}${err?.code ? ` — ${err.code}` : ''}`}
            description={
              err ? (
                <div>
                  <div data-testid="analyse-error-message">{said('error', err)}</div>
                  {err.file && (
                    <strong data-testid="analyse-error-where">
                      {err.line != null
                        ? t('upload.where', { file: err.file, line: err.line })
                        : t('upload.whereFile', { file: err.file })}
                    </strong>
                  )}
                  {err.reason && (
                    <div>
                      {t('upload.reason')}: {err.reason}
                    </div>
                  )}
                  {hint && (
                    <div className="error-hint" data-testid="analyse-error-hint">
                      {said('hint', hint)}
                    </div>
                  )}
                </div>
              ) : (
                t('analyse.noTree')
              )
            }
          />
          {/* with a tree, the analysis below lists them, each at its package */}
          {!deps && err?.problems && err.problems.length > 0 && (
            <ProblemSummary
              items={err.problems.map((p) => ({
                problem: p,
                ecosystem: p.target && /^(cp|pp|py)\d/.test(p.target) ? 'pypi' : 'npm',
              }))}
            />
          )}
          <Space wrap>
            <Button type="primary" icon={<EditOutlined />} onClick={fix} data-testid="fix-manifests">
              {t('analyse.fix')}
            </Button>
            <Button icon={<PlusOutlined />} onClick={onNewTask}>
              {t('download.newTask')}
            </Button>
          </Space>
          {deps && <AnalyseView deps={deps} />}
        </Space>
      );
    } else {
      content = (
        <div className="center-spin">
          <Spin />
        </div>
      );
    }
  } else {
    content = (
      <DownloadPanel
        task={task}
        status={status}
        progress={socket.progress}
        busy={busy}
        onAction={(a) => void act(a)}
        onNewTask={onNewTask}
        deps={deps}
      />
    );
  }

  const maxStep = taskId ? derivedStep : 0;
  const target = task ? targetLine(targetParts(task.options, deps)) : '';

  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }} data-testid="task-page" data-task-id={taskId ?? undefined}>
      {taskId && task && status && (
        <div className="task-heading">
          <Typography.Title level={4} style={{ margin: 0 }}>
            {t('task.id', { id: taskId.slice(0, 12) })}
          </Typography.Title>
          <Tag color={STATUS_COLOR[status]} data-testid="task-status-tag" data-status={status}>
            {t(`status.${status}`)}
          </Tag>
        </div>
      )}
      {taskId && task && target && (
        <div className="target-header" data-testid="target-header" aria-label={t('options.title')}>
          <Typography.Text type="secondary">{t('options.title')}:</Typography.Text>{' '}
          <Typography.Text strong>{target}</Typography.Text>
        </div>
      )}
      <Steps
        data-testid="steps"
        current={current}
        status={current === derivedStep && taskId ? stepStatus : 'process'}
        items={stepItems.map((item, i) => ({ ...item, disabled: !taskId || i > maxStep }))}
        onChange={(next) => {
          if (taskId && next <= maxStep) setViewStep(next === derivedStep ? null : next);
        }}
      />
      <div className="step-content" data-testid="step-content" data-step={current}>
        {content}
      </div>
      {taskId && <LogPanel logs={socket.logs} connection={socket.connection} />}
    </Space>
  );
}
