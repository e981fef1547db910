/**
 * Step ② while the analysis runs: one row per ecosystem with the stage it is in
 * (resolving, reading metadata n of N, build environments, checks, done), from the
 * server's `analysis` events; an ecosystem the uploaded files imply but not yet heard
 * of is "waiting". Replaces a bare spinner, so a long analysis shows that it moves.
 */
import { Progress, Space, Tag, Typography } from 'antd';
import { CheckCircleOutlined, LoadingOutlined } from '@ant-design/icons';
import type { SocketAnalysis } from '../hooks/useTaskSocket';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n';

const ECO_LABEL: Record<string, string> = { pypi: 'Python', npm: 'npm' };
const STAGE_KEYS: Record<string, MessageKey> = {
  waiting: 'analysis.waiting',
  resolving: 'analysis.resolving',
  metadata: 'analysis.metadata',
  'build-environments': 'analysis.build-environments',
  checks: 'analysis.checks',
  done: 'analysis.done',
};
const NPM_FILES = new Set(['package.json', 'package-lock.json', 'npm-shrinkwrap.json', '.npmrc']);

/** The ecosystems a set of uploaded file names implies. */
export function ecosystemsOf(files: string[]): string[] {
  const out = new Set<string>();
  for (const f of files) out.add(NPM_FILES.has(f.split('/').pop() ?? f) ? 'npm' : 'pypi');
  return ['pypi', 'npm'].filter((e) => out.has(e));
}

export interface AnalysisProgressProps {
  files: string[];
  analysis: Record<string, SocketAnalysis>;
}

export function AnalysisProgress({ files, analysis }: AnalysisProgressProps) {
  const { t } = useI18n();
  const ecos = Array.from(new Set([...ecosystemsOf(files), ...Object.keys(analysis)]));
  return (
    <Space direction="vertical" style={{ width: '100%' }} data-testid="analysis-progress">
      {ecos.map((eco) => {
        const a = analysis[eco];
        const stage = a?.stage ?? 'waiting';
        const counted = stage === 'metadata' && a?.total ? a : null;
        return (
          <div key={eco} className="eco-progress" data-testid={`analysis-${eco}`} data-stage={stage}>
            <Space size="small">
              {stage === 'done' ? <CheckCircleOutlined className="text-success" /> : <LoadingOutlined />}
              <Typography.Text strong>{ECO_LABEL[eco] ?? eco}</Typography.Text>
              <Tag data-testid={`analysis-${eco}-stage`}>{STAGE_KEYS[stage] ? t(STAGE_KEYS[stage]) : stage}</Tag>
              {counted && (
                <Typography.Text type="secondary" data-testid={`analysis-${eco}-count`}>
                  {t('analysis.count', { current: counted.current ?? 0, total: counted.total ?? 0 })}
                </Typography.Text>
              )}
            </Space>
            {counted && (
              <Progress
                percent={Math.floor(((counted.current ?? 0) / (counted.total ?? 1)) * 100)}
                size="small"
                status="active"
                aria-label={t('analysis.progressOf', { name: ECO_LABEL[eco] ?? eco })}
              />
            )}
          </div>
        );
      })}
    </Space>
  );
}
