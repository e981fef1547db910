/**
 * Every problem found while resolving, worst first. Clicking one with a package asks the
 * page to select that package's node in its tree (and scroll to it).
 */
import { Empty, List, Tag, Typography } from 'antd';
import { AimOutlined } from '@ant-design/icons';
import type { Problem } from '../api/client';
import { useI18n } from '../i18n';
import { SEVERITY_COLOR } from './DependencyTree';
import { ProblemMessage } from './ProblemMessage';
import { severityText } from '../serverText';

export interface ProblemItem {
  problem: Problem;
  ecosystem: 'npm' | 'pypi';
  /** The tree the problem belongs to (`npm`, `pypi-<target>`), when it has one. */
  treeId?: string;
}

const ORDER: Record<Problem['severity'], number> = { error: 0, warning: 1, info: 2 };

export function ProblemSummary({
  items,
  onSelect,
}: {
  items: ProblemItem[];
  onSelect?: (item: ProblemItem) => void;
}) {
  const { t, lang } = useI18n();
  const sorted = [...items].sort((a, b) => ORDER[a.problem.severity] - ORDER[b.problem.severity]);
  if (sorted.length === 0) {
    return (
      <div data-testid="problem-summary">
        <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('problems.none')} />
      </div>
    );
  }
  return (
    <List
      data-testid="problem-summary"
      size="small"
      bordered
      dataSource={sorted}
      style={{ maxHeight: 260, overflow: 'auto' }}
      renderItem={(item) => {
        const { problem } = item;
        const linkable = Boolean(problem.package && item.treeId && onSelect);
        return (
          <List.Item
            data-testid="problem-item"
            data-kind={problem.kind}
            data-package={problem.package ?? undefined}
            className={linkable ? 'problem-item problem-item-link' : 'problem-item'}
            onClick={linkable ? () => onSelect?.(item) : undefined}
            actions={
              linkable
                ? [
                    <Typography.Link key="goto" data-testid="problem-goto">
                      <AimOutlined /> {t('problems.goto')}
                    </Typography.Link>,
                  ]
                : undefined
            }
          >
            <div className="problem-line">
              <Tag color={SEVERITY_COLOR[problem.severity]} data-severity={problem.severity}>
                {severityText(lang, problem.severity)}
              </Tag>
              <Tag>{problem.kind}</Tag>
              <Tag>{item.ecosystem === 'npm' ? 'npm' : 'Python'}</Tag>
              {problem.package && <Typography.Text strong>{problem.package}</Typography.Text>}
              {problem.target && <Typography.Text type="secondary"> [{problem.target}]</Typography.Text>}
              <ProblemMessage problem={problem} />
            </div>
          </List.Item>
        );
      }}
    />
  );
}
