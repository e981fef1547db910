/**
 * Sign-in: the user pastes a token (`ferry token create`, or the admin token `ferry serve`
 * printed at its first start). It is checked against the server before it is kept; a
 * wrong one is told so, plainly, and nothing is stored.
 */
import { useState } from 'react';
import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { LockOutlined } from '@ant-design/icons';
import { ApiError, checkToken } from '../api/client';
import { setToken } from '../api/auth';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n';
import { useServerText } from '../serverText';
import type { ServerSaid } from '../serverText';

export function SignInPage({ expired = false }: { expired?: boolean }) {
  const { t } = useI18n();
  const said = useServerText();
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  // a message key, or the server's own words: translated when shown, so a language
  // switch after a refusal shows the refusal in the new language
  const [error, setError] = useState<{ key: MessageKey } | { server: ServerSaid } | null>(null);

  const submit = async () => {
    const token = value.trim();
    if (!token) {
      setError({ key: 'signin.empty' });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (await checkToken(token)) {
        setToken(token);
      } else {
        setError({ key: 'signin.refused' });
      }
    } catch (err) {
      setError(err instanceof ApiError ? { server: err } : { key: 'signin.unreachable' });
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="signin-page">
      <Card className="signin-card" data-testid="signin">
        <Typography.Title level={3}>
          <LockOutlined aria-hidden /> {t('signin.title')}
        </Typography.Title>
        <Typography.Paragraph type="secondary">{t('signin.intro')}</Typography.Paragraph>
        {expired && !error && (
          <Alert type="info" showIcon className="signin-alert" message={t('signin.signedOut')} />
        )}
        {error && (
          <Alert
            type="error"
            showIcon
            className="signin-alert"
            message={'key' in error ? t(error.key) : said('error', error.server)}
            data-testid="signin-error"
          />
        )}
        <Form layout="vertical" onFinish={() => void submit()}>
          <Form.Item label={t('signin.token')} htmlFor="signin-token">
            <Input.Password
              id="signin-token"
              autoFocus
              autoComplete="off"
              placeholder="ferry_…"
              value={value}
              onChange={(e) => setValue(e.target.value)}
              data-testid="signin-token"
            />
          </Form.Item>
          <Button type="primary" htmlType="submit" loading={busy} block data-testid="signin-submit">
            {t('signin.submit')}
          </Button>
        </Form>
        <Typography.Paragraph type="secondary" className="signin-help">
          {t('signin.help')}
        </Typography.Paragraph>
      </Card>
    </div>
  );
}
