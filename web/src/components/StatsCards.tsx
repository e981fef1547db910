/** Counts and total sizes per ecosystem (and problems by severity). */
import { Card, Col, Row, Statistic, Tag } from 'antd';
import type { Dependencies, Problem } from '../api/client';
import { formatBytes } from '../format';
import { useI18n } from '../i18n';

function severityCounts(problems: Problem[]) {
  const counts = { error: 0, warning: 0, info: 0 };
  for (const p of problems) counts[p.severity] += 1;
  return counts;
}

function ProblemTags({ problems }: { problems: Problem[] }) {
  const { t } = useI18n();
  const c = severityCounts(problems);
  return (
    <span>
      {c.error > 0 && <Tag color="red">{t('problems.errors', { count: c.error })}</Tag>}
      {c.warning > 0 && <Tag color="orange">{t('problems.warnings', { count: c.warning })}</Tag>}
      {c.info > 0 && <Tag color="blue">{t('problems.infos', { count: c.info })}</Tag>}
      {c.error + c.warning + c.info === 0 && <Tag color="green">{t('problems.none')}</Tag>}
    </span>
  );
}

export function StatsCards({ deps }: { deps: Dependencies }) {
  const { t } = useI18n();
  const npm = deps.npm;
  const python = deps.python;
  return (
    <Row gutter={[16, 16]} data-testid="stats-cards">
      {npm && (
        <Col xs={24} md={12}>
          <Card size="small" title={t('stats.npm')} data-testid="stats-npm" extra={<ProblemTags problems={npm.problems ?? []} />}>
            <Row gutter={16}>
              <Col span={8}>
                <Statistic title={t('stats.packages')} value={npm.count} data-testid="stats-npm-count" />
              </Col>
              <Col span={8}>
                <Statistic title={t('stats.size')} value={formatBytes(npm.total_bytes)} data-testid="stats-npm-size" />
              </Col>
              <Col span={8}>
                <Statistic title={t('stats.excluded')} value={npm.excluded?.length ?? 0} />
              </Col>
            </Row>
          </Card>
        </Col>
      )}
      {python && (
        <Col xs={24} md={12}>
          <Card size="small" title={t('stats.pypi')} data-testid="stats-pypi" extra={<ProblemTags problems={python.problems ?? []} />}>
            <Row gutter={16}>
              <Col span={8}>
                <Statistic title={t('stats.files')} value={python.file_count} data-testid="stats-pypi-count" />
              </Col>
              <Col span={8}>
                <Statistic title={t('stats.size')} value={formatBytes(python.total_bytes)} data-testid="stats-pypi-size" />
              </Col>
              <Col span={8}>
                <Statistic title={t('stats.targets')} value={python.targets.length} />
              </Col>
            </Row>
            {python.targets.length > 1 && (
              <div className="stats-targets">
                {python.targets.map((tg) => (
                  <Tag key={tg.target.key}>
                    {tg.target.key}: {tg.count} · {formatBytes(tg.total_bytes)}
                  </Tag>
                ))}
              </div>
            )}
          </Card>
        </Col>
      )}
    </Row>
  );
}
