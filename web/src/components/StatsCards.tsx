/** Counts and total sizes per ecosystem (and problems by severity). */
import { Button, Card, Col, Popover, Row, Statistic, Tag, Typography } from 'antd';
import type { Dependencies, NpmDeps, Problem } from '../api/client';
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

/** "79 dev · 74 other platforms", each opening its list; and the one click that asks for
 * the dev dependencies too (a front end cannot be built offline without its tools). */
function LeftOut({ npm, onIncludeDev }: { npm: NpmDeps; onIncludeDev?: () => void }) {
  const { t } = useI18n();
  const excluded = npm.excluded ?? [];
  const groups = [
    { reason: 'dev', label: t('stats.leftOutDev', { count: excluded.filter((e) => e.reason === 'dev').length }) },
    { reason: 'platform', label: t('stats.leftOutPlatform', { count: excluded.filter((e) => e.reason === 'platform').length }) },
  ];
  return (
    <div data-testid="left-out">
      <Typography.Text type="secondary">{t('stats.excluded')}</Typography.Text>
      <div className="left-out-counts">
        {groups.map(({ reason, label }, i) => {
          const names = excluded.filter((e) => e.reason === reason).map((e) => `${e.name}@${e.version}`);
          return (
            <span key={reason}>
              {i > 0 && ' · '}
              {names.length > 0 ? (
                <Popover
                  trigger="click"
                  content={<div className="left-out-list" data-testid={`left-out-list-${reason}`}>{names.join(', ')}</div>}
                >
                  <Typography.Link data-testid={`left-out-${reason}`}>{label}</Typography.Link>
                </Popover>
              ) : (
                <span data-testid={`left-out-${reason}`}>{label}</span>
              )}
            </span>
          );
        })}
      </div>
      {onIncludeDev && excluded.some((e) => e.reason === 'dev') && (
        <Button size="small" onClick={onIncludeDev} data-testid="include-dev">
          {t('stats.includeDev')}
        </Button>
      )}
    </div>
  );
}

export function StatsCards({ deps, onIncludeDev }: { deps: Dependencies; onIncludeDev?: () => void }) {
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
                <LeftOut npm={npm} onIncludeDev={onIncludeDev} />
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
