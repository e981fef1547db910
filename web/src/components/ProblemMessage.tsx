/**
 * A problem's text, kept short: a message that lists many names ("74 optional packages
 * for other platforms left out: a, b, c, …") shows the first few and a "show 69 more"
 * switch; any other long message is cut to two lines with "more". Nothing is dropped: the
 * whole text is one click away (and in the JSON). It is in the reader's language when the
 * catalog has the problem's kind (`serverText`), else the server's English.
 */
import { useState } from 'react';
import { Typography } from 'antd';
import { useI18n } from '../i18n';
import { useServerText } from '../serverText';
import type { ServerParams } from '../serverText';

const SHOWN = 5; // names shown before "show N more"
const LIST_MIN = 8; // a list this long is collapsed

/** (lead, items) when the message ends in a long comma-separated list, else null. The
 * lead ends in a colon, an English one or a Chinese full-width one. */
export function splitList(message: string): [string, string[]] | null {
  const colon = /: |：/.exec(message);
  if (!colon) return null;
  const items = message.slice(colon.index + colon[0].length).split(', ');
  if (items.length < LIST_MIN) return null;
  return [message.slice(0, colon.index + 1), items];
}

/** A problem as the server sends it: its kind, its params and its English message. */
export interface ProblemText {
  kind: string;
  message: string;
  params?: ServerParams;
}

export function ProblemMessage({ problem }: { problem: ProblemText }) {
  const { t } = useI18n();
  const said = useServerText();
  const [open, setOpen] = useState(false);
  const message = said('problem', { code: problem.kind, params: problem.params, message: problem.message });
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
      {/* a full-width colon carries its own space */}
      {lead.endsWith('：') ? lead : `${lead} `}
      {open ? items.join(', ') : `${items.slice(0, SHOWN).join(', ')}, …`}{' '}
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
