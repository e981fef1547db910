/** A small danger button that deletes only after a yes in its popover: the task list's
 * and the package list's rows delete this way. */
import { Button, Popconfirm } from 'antd';
import { DeleteOutlined } from '@ant-design/icons';
import { useI18n } from '../i18n';

export function ConfirmDelete({
  question,
  label,
  testId,
  onConfirm,
}: {
  question: string;
  label: string;
  /** the button's; the popover's yes is `${testId}-confirm` */
  testId: string;
  onConfirm: () => void;
}) {
  const { t } = useI18n();
  return (
    <Popconfirm
      title={question}
      okText={t('common.yes')}
      cancelText={t('common.no')}
      okButtonProps={{ danger: true, 'data-testid': `${testId}-confirm` }}
      onConfirm={onConfirm}
    >
      <Button size="small" danger icon={<DeleteOutlined />} data-testid={testId} aria-label={label}>
        <span className="action-label">{label}</span>
      </Button>
    </Popconfirm>
  );
}
