/**
 * Step ② — the analysis: counts and sizes per ecosystem, the problem summary, the npm
 * tree and the Python tree(s) (one tab per target), and the button that starts the
 * download. A problem clicked in the summary selects its node in the right tree.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { App, Button, Card, Col, Row, Space, Tabs, Typography } from 'antd';
import { CloudDownloadOutlined } from '@ant-design/icons';
import type { Dependencies } from '../api/client';
import { formatBytes } from '../format';
import { useI18n } from '../i18n';
import { DependencyTree } from './DependencyTree';
import type { DependencyTreeHandle, TreeSource } from './DependencyTree';
import { ProblemSummary } from './ProblemSummary';
import type { ProblemItem } from './ProblemSummary';
import { StatsCards } from './StatsCards';

export interface AnalyseViewProps {
  deps: Dependencies;
  /** Shown when the task can start downloading. */
  onStart?: () => void;
  /** Make the same task again with the dev dependencies (shown when some were left out). */
  onIncludeDev?: () => void;
  starting?: boolean;
  treeHeight?: number;
}

export function AnalyseView({ deps, onStart, onIncludeDev, starting, treeHeight = 460 }: AnalyseViewProps) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const trees = useRef(new Map<string, DependencyTreeHandle>());
  const pythonTargets = deps.python?.targets ?? [];
  const [pyTab, setPyTab] = useState<string | undefined>(pythonTargets[0]?.target.key);
  const [pendingFocus, setPendingFocus] = useState<{ treeId: string; name: string } | null>(null);

  useEffect(() => {
    if (!pyTab || !pythonTargets.some((tg) => tg.target.key === pyTab)) {
      setPyTab(pythonTargets[0]?.target.key);
    }
  }, [pythonTargets, pyTab]);

  const npmSource = useMemo<TreeSource | null>(
    () => (deps.npm ? { ecosystem: 'npm', doc: deps.npm } : null),
    [deps.npm],
  );
  const pySources = useMemo(
    () =>
      pythonTargets.map((tg) => ({
        key: tg.target.key,
        treeId: `pypi-${tg.target.key}`,
        source: { ecosystem: 'pypi', doc: tg } as TreeSource,
        count: tg.count,
        bytes: tg.total_bytes,
      })),
    [pythonTargets],
  );

  const problems = useMemo<ProblemItem[]>(() => {
    const out: ProblemItem[] = [];
    for (const p of deps.npm?.problems ?? []) out.push({ problem: p, ecosystem: 'npm', treeId: 'npm' });
    const known = new Set(pythonTargets.map((tg) => tg.target.key));
    for (const p of deps.python?.problems ?? []) {
      out.push({
        problem: p,
        ecosystem: 'pypi',
        treeId: p.target && known.has(p.target) ? `pypi-${p.target}` : undefined,
      });
    }
    return out;
  }, [deps, pythonTargets]);

  // focus after the tab holding the tree has rendered
  useEffect(() => {
    if (!pendingFocus) return;
    const handle = trees.current.get(pendingFocus.treeId);
    if (!handle) return;
    if (!handle.focusPackage(pendingFocus.name)) {
      void message.info(`${pendingFocus.name}: ${t('analyse.noTree')}`);
    }
    setPendingFocus(null);
  }, [pendingFocus, pyTab, t, message]);

  const onSelectProblem = (item: ProblemItem) => {
    if (!item.treeId || !item.problem.package) return;
    if (item.treeId.startsWith('pypi-')) setPyTab(item.treeId.slice('pypi-'.length));
    setPendingFocus({ treeId: item.treeId, name: item.problem.package });
  };

  const register = (treeId: string) => (handle: DependencyTreeHandle | null) => {
    if (handle) trees.current.set(treeId, handle);
    else trees.current.delete(treeId);
  };

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }} data-testid="analyse-view">
      <StatsCards deps={deps} onIncludeDev={onIncludeDev} />
      <Card size="small" title={t('problems.title')}>
        <ProblemSummary items={problems} onSelect={onSelectProblem} />
      </Card>
      <Row gutter={[16, 16]}>
        {npmSource && deps.npm && (
          <Col xs={24} xl={pySources.length > 0 ? 12 : 24}>
            <Card
              size="small"
              title={t('analyse.npmTitle', { count: deps.npm.count.toLocaleString('en-US') })}
              extra={<Typography.Text type="secondary">≈ {formatBytes(deps.npm.total_bytes)}</Typography.Text>}
              data-testid="npm-tree-card"
            >
              <DependencyTree ref={register('npm')} id="npm" source={npmSource} height={treeHeight} />
            </Card>
          </Col>
        )}
        {pySources.length > 0 && deps.python && (
          <Col xs={24} xl={npmSource ? 12 : 24}>
            <Card
              size="small"
              title={t('analyse.pythonTitle', { count: deps.python.file_count.toLocaleString('en-US') })}
              extra={<Typography.Text type="secondary">≈ {formatBytes(deps.python.total_bytes)}</Typography.Text>}
              data-testid="pypi-tree-card"
            >
              {pySources.length === 1 ? (
                <DependencyTree
                  ref={register(pySources[0].treeId)}
                  id={pySources[0].treeId}
                  source={pySources[0].source}
                  height={treeHeight}
                />
              ) : (
                <Tabs
                  activeKey={pyTab}
                  onChange={setPyTab}
                  items={pySources.map((s) => ({
                    key: s.key,
                    label: (
                      <span data-testid={`pypi-tab-${s.key}`}>
                        {s.key} ({s.count})
                      </span>
                    ),
                    children: (
                      <DependencyTree ref={register(s.treeId)} id={s.treeId} source={s.source} height={treeHeight} />
                    ),
                  }))}
                />
              )}
            </Card>
          </Col>
        )}
      </Row>
      {onStart && (
        <div className="analyse-actions">
          <Button
            type="primary"
            size="large"
            icon={<CloudDownloadOutlined />}
            loading={starting}
            onClick={onStart}
            data-testid="start-download"
          >
            {t('analyse.start')}
          </Button>
        </div>
      )}
    </Space>
  );
}
