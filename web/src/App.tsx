/** The shell: header (title, navigation, language switch) and the page the URL names. */
import { App as AntApp, Button, Layout, Space, Typography } from 'antd';
import { PlusOutlined, SendOutlined, UnorderedListOutlined } from '@ant-design/icons';
import { LanguageSwitch, useI18n } from './i18n';
import { TaskListPage } from './pages/TaskListPage';
import { TaskPage } from './pages/TaskPage';
import { useRoute } from './router';

export function App() {
  const { t } = useI18n();
  const [route, navigate] = useRoute();
  const openTask = (taskId: string) => navigate({ view: 'task', taskId });
  const newTask = () => navigate({ view: 'task', taskId: null });

  return (
    <AntApp>
      <Layout className="app-layout">
        <Layout.Header className="app-header">
          <a
            className="app-brand"
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
          <Space className="app-nav">
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
            <LanguageSwitch />
          </Space>
        </Layout.Header>
        <Layout.Content className="app-content">
          {route.view === 'tasks' ? (
            <TaskListPage onOpenTask={openTask} />
          ) : (
            <TaskPage key={route.taskId ?? 'new'} taskId={route.taskId} onOpenTask={openTask} onNewTask={newTask} />
          )}
        </Layout.Content>
      </Layout>
    </AntApp>
  );
}
