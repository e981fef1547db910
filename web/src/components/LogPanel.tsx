/**
 * The live log under the steps. It follows new lines (auto-scroll) until the user scrolls
 * up; scrolling back to the bottom, or the "follow" button, turns following on again.
 * Each line is in the reader's language where the server said it with a code
 * (`serverText`), else in the server's English.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { Badge, Button, Card, Empty } from 'antd';
import { VerticalAlignBottomOutlined } from '@ant-design/icons';
import type { ConnectionState, LogEntry } from '../hooks/useTaskSocket';
import { formatClock } from '../format';
import { messages, useI18n } from '../i18n';
import type { MessageKey } from '../i18n';
import { statusLine, useServerText } from '../serverText';

const NEAR_BOTTOM_PX = 24;

export function LogPanel({
  logs,
  connection,
  height = 220,
}: {
  logs: LogEntry[];
  connection?: ConnectionState;
  height?: number;
}) {
  const { t, lang } = useI18n();
  const said = useServerText();
  const box = useRef<HTMLDivElement | null>(null);
  const [follow, setFollow] = useState(true);
  const followRef = useRef(true);

  const toBottom = () => {
    const el = box.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
  };

  useLayoutEffect(() => {
    if (followRef.current) toBottom();
  }, [logs]);

  useEffect(() => {
    followRef.current = follow;
    if (follow) toBottom();
  }, [follow]);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight <= NEAR_BOTTOM_PX;
    if (atBottom !== followRef.current) {
      followRef.current = atBottom;
      setFollow(atBottom);
    }
  };

  const lineText = (entry: LogEntry): string => {
    if (!entry.status || lang === 'en') return said('event', entry);
    // a status change: the status's own name in this language, and its reason
    const key = `status.${entry.status}`;
    const name = key in messages.en ? t(key as MessageKey) : entry.status;
    const reason = entry.reason ? said('event', { ...entry, message: entry.reason }) : null;
    return statusLine(lang, name, reason);
  };

  const live =
    connection === 'open' ? (
      <Badge status="processing" text={t('log.connected')} />
    ) : connection === 'reconnecting' || connection === 'connecting' ? (
      <Badge status="warning" text={t('log.reconnecting')} />
    ) : null;

  return (
    <Card
      size="small"
      title={t('log.title')}
      className="log-card"
      extra={
        <span className="log-extra">
          {live}
          {!follow && (
            <Button
              size="small"
              type="link"
              icon={<VerticalAlignBottomOutlined />}
              data-testid="log-follow"
              onClick={() => setFollow(true)}
            >
              {t('log.follow')}
            </Button>
          )}
        </span>
      }
    >
      <div
        ref={box}
        className="log-panel"
        data-testid="log-panel"
        // a scrolling region a keyboard can reach and a screen reader can name
        tabIndex={0}
        role="log"
        aria-label={t('log.title')}
        data-following={follow ? 'true' : 'false'}
        style={{ height }}
        onScroll={onScroll}
      >
        {logs.length === 0 ? (
          <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('log.empty')} />
        ) : (
          logs.map((entry) => (
            <div key={entry.id} className={`log-line log-${entry.level}`} data-testid="log-line">
              <span className="log-time">[{formatClock(entry.timestamp)}]</span>{' '}
              {entry.ecosystem && <span className="log-eco">{entry.ecosystem}</span>} {lineText(entry)}
            </div>
          ))
        )}
      </div>
    </Card>
  );
}
