/**
 * The shell: header (title, navigation, language switch, sign-out) and the page the URL
 * names; without a token, the sign-in page instead.
 */
import { useEffect, useState } from 'react';
import { App as AntApp, Button, Layout, Space, Typography } from 'antd';
import {
  AppstoreOutlined,
  DatabaseOutlined,
  DeploymentUnitOutlined,
  ImportOutlined,
  LogoutOutlined,
  PlusOutlined,
  SendOutlined,
  UnorderedListOutlined,
} from '@ant-design/icons';
import { clearToken, getToken, onTokenChange, setToken, takeTokenFromLocation } from './api/auth';
import { LanguageSwitch, useI18n } from './i18n';
import { BrowsePage } from './pages/BrowsePage';
import { ImportPage } from './pages/ImportPage';
import { ModelsPage } from './pages/ModelsPage';
import { PackagesPage } from './pages/PackagesPage';
import { SignInPage } from './pages/SignInPage';
import { TaskListPage } from './pages/TaskListPage';
import { TaskPage } from './pages/TaskPage';
import { DEFAULT_BROWSE, DEFAULT_LIST, DEFAULT_MODELS, DEFAULT_PACKAGES, useRoute } from './router';

/** The current token; follows sign-in, sign-out and any 401. */
function useToken(): [string | null, boolean] {
  const [token, setState] = useState<string | null>(() => {
    const fromLink = takeTokenFromLocation();
    if (fromLink) setToken(fromLink);
    return getToken();
  });
  const [signedOut, setSignedOut] = useState(false);
  useEffect(
    () =>
      onTokenChange((next) => {
        setState(next);
        setSignedOut(next === null);
      }),
    [],
  );
  return [token, signedOut];
}

export function App() {
  const { t } = useI18n();
  const [token, signedOut] = useToken();
  const [route, navigate] = useRoute();
  const openTask = (taskId: string) => navigate({ view: 'task', taskId });
  const newTask = () => navigate({ view: 'task', taskId: null });

  return (
    <AntApp>
      <Layout className="app-layout">
        <Layout.Header className="app-header">
          <a
            className="app-brand"
            data-testid="brand"
            href="./"
            onClick={(e) => {
              e.preventDefault();
              newTask();
            }}
          >
            <SendOutlined className="app-logo" aria-hidden />
            <Typography.Title level={4} className="app-title">
              {t('app.title')}
            </Typography.Title>
            <span className="app-subtitle">{t('app.subtitle')}</span>
          </a>
          <Space className="app-nav" wrap>
            {token && (
              <>
                <Button
                  type={route.view === 'task' && !route.taskId ? 'primary' : 'text'}
                  className="nav-button"
                  icon={<PlusOutlined />}
                  onClick={newTask}
                  data-testid="nav-new-task"
                >
                  {t('nav.newTask')}
                </Button>
                <Button
                  type={route.view === 'tasks' ? 'primary' : 'text'}
                  className="nav-button"
                  icon={<UnorderedListOutlined />}
                  onClick={() => navigate({ view: 'tasks', taskId: null })}
                  data-testid="nav-tasks"
                >
                  {t('nav.tasks')}
                </Button>
                <Button
                  type={route.view === 'packages' ? 'primary' : 'text'}
                  className="nav-button"
                  icon={<AppstoreOutlined />}
                  onClick={() => navigate({ view: 'packages', taskId: null })}
                  data-testid="nav-packages"
                >
                  {t('nav.packages')}
                </Button>
                <Button
                  type={route.view === 'import' ? 'primary' : 'text'}
                  className="nav-button"
                  icon={<ImportOutlined />}
                  onClick={() => navigate({ view: 'import', taskId: null })}
                  data-testid="nav-import"
                >
                  {t('nav.import')}
                </Button>
                <Button
                  type={route.view === 'browse' ? 'primary' : 'text'}
                  className="nav-button"
                  icon={<DatabaseOutlined />}
                  onClick={() => navigate({ view: 'browse', taskId: null })}
                  data-testid="nav-browse"
                >
                  {t('nav.browse')}
                </Button>
                <Button
                  type={route.view === 'models' ? 'primary' : 'text'}
                  className="nav-button"
                  icon={<DeploymentUnitOutlined />}
                  onClick={() => navigate({ view: 'models', taskId: null })}
                  data-testid="nav-models"
                >
                  {t('nav.models')}
                </Button>
              </>
            )}
            <LanguageSwitch />
            {token && (
              <Button
                type="text"
                className="nav-button"
                icon={<LogoutOutlined />}
                onClick={clearToken}
                data-testid="nav-sign-out"
                aria-label={t('nav.signOut')}
                title={t('nav.signOut')}
              >
                {/* a phone: the icon alone, so six pages, the language and this keep to two rows */}
                <span className="nav-sign-out-label">{t('nav.signOut')}</span>
              </Button>
            )}
          </Space>
        </Layout.Header>
        <Layout.Content className="app-content">
          {!token ? (
            <SignInPage expired={signedOut} />
          ) : route.view === 'tasks' ? (
            <TaskListPage
              onOpenTask={openTask}
              query={route.list ?? DEFAULT_LIST}
              onQueryChange={(list, replace) => navigate({ view: 'tasks', taskId: null, list }, replace)}
            />
          ) : route.view === 'packages' ? (
            <PackagesPage
              query={route.packages ?? DEFAULT_PACKAGES}
              onQueryChange={(packages, replace) => navigate({ view: 'packages', taskId: null, packages }, replace)}
            />
          ) : route.view === 'import' ? (
            <ImportPage onBrowse={() => navigate({ view: 'browse', taskId: null })} />
          ) : route.view === 'browse' ? (
            <BrowsePage
              query={route.browse ?? DEFAULT_BROWSE}
              onQueryChange={(browse, replace) => navigate({ view: 'browse', taskId: null, browse }, replace)}
            />
          ) : route.view === 'models' ? (
            <ModelsPage
              query={route.models ?? DEFAULT_MODELS}
              onQueryChange={(models, replace) => navigate({ view: 'models', taskId: null, models }, replace)}
            />
          ) : (
            <TaskPage key={route.taskId ?? 'new'} taskId={route.taskId} onOpenTask={openTask} onNewTask={newTask} />
          )}
        </Layout.Content>
      </Layout>
    </AntApp>
  );
}
