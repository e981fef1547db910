/**
 * A problem's text, kept short: a message that lists many names ("74 optional packages
 * for other platforms left out: a, b, c, …") shows the first few and a "show 69 more"
 * switch; any other long message is cut to two lines with "more". Nothing is dropped: the
 * whole text is one click away (and in the JSON).
 */
import { useState } from 'react';
import { Typography } from 'antd';
import { useI18n } from '../i18n';

const SHOWN = 5; // names shown before "show N more"
const LIST_MIN = 8; // a list this long is collapsed

/** (lead, items) when the message ends in a long comma-separated list, else null. */
export function splitList(message: string): [string, string[]] | null {
  const cut = message.indexOf(': ');
  if (cut < 0) return null;
  const items = message.slice(cut + 2).split(', ');
  if (items.length < LIST_MIN) return null;
  return [message.slice(0, cut + 1), items];
}

export function ProblemMessage({ message }: { message: string }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const list = splitList(message);
  if (!list) {
    return (
      <Typography.Paragraph
        className="problem-message"
        ellipsis={{ rows: 2, expandable: 'collapsible', symbol: (expanded: boolean) => (expanded ? t('problems.less') : t('problems.more')) }}
        style={{ marginBottom: 0 }}
      >
        {message}
      </Typography.Paragraph>
    );
  }
  const [lead, items] = list;
  const hidden = items.length - SHOWN;
  return (
    <div className="problem-message" data-testid="problem-message" data-collapsed={!open}>
      {lead} {open ? items.join(', ') : `${items.slice(0, SHOWN).join(', ')}, …`}{' '}
      <Typography.Link
        data-testid="problem-toggle"
        onClick={(e) => {
          e.stopPropagation(); // the item itself selects its package in the tree
          setOpen(!open);
        }}
      >
        {open ? t('problems.less') : t('problems.showMore', { count: hidden })}
      </Typography.Link>
    </div>
  );
}
