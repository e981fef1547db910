/**
 * English and Simplified Chinese strings, the language switch, and Ant Design's locale.
 *
 * `I18nProvider` wraps the app (and antd's ConfigProvider with en_US / zh_CN); the choice
 * is remembered in localStorage under `ferry.lang`. `useI18n().t(key, vars)` looks a
 * string up; `{name}` placeholders are filled from `vars`.
 */
import { createContext, createElement, useCallback, useContext, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { ConfigProvider, Segmented } from 'antd';
import type { Locale } from 'antd/es/locale';
import enUS from 'antd/locale/en_US';
import zhCN from 'antd/locale/zh_CN';

export type Lang = 'en' | 'zh';

/** antd's tokens, with secondary and placeholder text dark enough for 4.5:1 on white
 * (WCAG AA; antd's 45 % black is 3.4:1). */
export const THEME_TOKENS = {
  colorPrimary: '#1668dc',
  colorLink: '#0958d9',
  colorError: '#cf1322', // antd's #ff4d4f is 3.3:1 as the text of a danger button
  colorPrimaryHover: '#0958d9', // antd's lighter hover blue is 3.5:1 under white text
  colorTextDescription: 'rgba(0, 0, 0, 0.62)',
  colorTextTertiary: 'rgba(0, 0, 0, 0.62)',
  colorTextPlaceholder: 'rgba(0, 0, 0, 0.55)',
};
export const LANG_STORAGE_KEY = 'ferry.lang';

const en = {
  'app.title': 'Ferry',
  'app.subtitle': 'Packages across the air gap',
  'nav.newTask': 'New task',
  'nav.tasks': 'Tasks',
  'lang.label': 'Language',
  'signin.title': 'Sign in',
  'signin.intro': 'Ferry needs a token to show and run tasks.',
  'signin.token': 'Token',
  'signin.submit': 'Sign in',
  'signin.empty': 'Paste a token first.',
  'signin.refused': 'That token was refused: it is unknown, revoked or expired.',
  'signin.unreachable': 'The server could not be reached.',
  'signin.signedOut': 'You were signed out. Sign in again to go on.',
  'signin.help':
    'An admin makes tokens with `ferry token create --name NAME --role write`. The first start of `ferry serve` printed an admin token and wrote it to the data directory (admin-token).',
  'nav.signOut': 'Sign out',

  'step.upload': 'Upload',
  'step.analyse': 'Analyse',
  'step.download': 'Download & pack',
  'step.upload.desc': 'Manifests and target',
  'step.analyse.desc': 'Dependency tree',
  'step.download.desc': 'Fetch, verify, archive',

  'upload.drag': 'Drag files here, or click to choose',
  'upload.hint': 'Several files at once. Accepted: {types}',
  'upload.files': 'Files to upload',
  'upload.noFiles': 'No files yet',
  'upload.remove': 'Remove',
  'upload.submit': 'Analyse',
  'upload.refused': 'The server refused the upload',
  'upload.where': 'File {file}, line {line}',
  'upload.whereFile': 'File {file}',
  'upload.reason': 'Reason',

  'options.title': 'Target machine',
  'options.ecosystems': 'Ecosystems',
  'options.npm': 'npm packages',
  'options.pypi': 'Python packages',
  'options.python': 'Python version(s)',
  'options.platforms': 'Platform tags',
  'options.platforms.placeholder': 'Pick or type a wheel platform tag',
  'options.node': 'Node.js version',
  'options.os': 'OS',
  'options.cpu': 'CPU',
  'options.libc': 'libc',
  'options.format': 'Archive format',
  'options.limitRate': 'Bandwidth for this task',
  'options.limitRate.none': 'No limit',
  'options.groups': 'Extras / dependency groups',
  'options.groups.placeholder': 'e.g. dev, docs',
  'options.groups.choose': 'Choose from what the files declare',
  'options.groups.none': 'The files declare no extras or groups',
  'upload.checkFailed': '{file} cannot be read',
  'options.allGroups': 'All groups',
  'options.allPlatforms': 'Keep npm optional packages for every platform',
  'options.reset': 'Reset to defaults',
  'options.wheels': 'Wheels or sources',
  'options.wheels.help':
    'Prefer wheels: an older release with a wheel over a newer one that must be built on the target. Wheels only: nothing is built there.',
  'options.wheels.any': 'Newest',
  'options.wheels.prefer': 'Prefer wheels',
  'options.wheels.only': 'Wheels only',
  'options.excludeNewer': 'Resolve as of',
  'options.excludeNewer.help': 'Nothing uploaded after this date: an old project stays as it was.',
  'options.torch': 'PyTorch build',
  'options.torch.help': "PyTorch's packages from the operator's PyTorch index for this backend.",
  'options.torch.none': 'Default',
  'options.registry': 'Sources',
  'options.registry.help': 'A set of indexes and an npm registry the operator configured.',
  'options.registry.default': "The service's own",
  'options.ignoreManifestIndexes': "Ignore the manifests' own index lines",

  'analyse.resolving': 'Resolving dependencies…',
  'analysis.waiting': 'waiting',
  'analysis.resolving': 'resolving',
  'analysis.metadata': 'reading metadata and sizes',
  'analysis.build-environments': 'resolving what sdists need to build',
  'analysis.checks': 'checking engines and peers',
  'analysis.done': 'done',
  'analysis.count': '{current} of {total} packages',
  'analysis.progressOf': '{name} analysis progress',
  'analyse.failed': 'Analysis failed',
  'analyse.fix': 'Fix the manifests',
  'upload.notManifest': 'not a manifest Ferry takes: remove it',
  'tree.needs': 'Built on the target, which needs:',
  'download.progressOf': '{name} download progress',
  'problems.showMore': 'show {count} more',
  'problems.more': 'more',
  'problems.less': 'show less',
  'archive.title': 'Carry it across',
  'archive.file': 'File',
  'archive.check': 'Check the copy on the target',
  'archive.install': 'Install on {system}',
  'archive.expires': 'Deleted from the server',
  'analyse.start': 'Start download',
  'analyse.noTree': 'No dependency tree yet',
  'analyse.npmTitle': 'npm dependencies ({count} packages)',
  'analyse.npmTitle.one': 'npm dependencies (1 package)',
  'analyse.pythonTitle': 'Python dependencies ({count} packages)',
  'analyse.pythonTitle.one': 'Python dependencies (1 package)',
  'analyse.target': 'Target {key}',

  'tree.expandAll': 'Expand all',
  'tree.collapseAll': 'Collapse all',
  'tree.search': 'Search dependencies…',
  'tree.matches': '{count} matches',
  'tree.matches.one': '1 match',
  'tree.deduped': 'deduped',
  'tree.dedupedLink': 'Shown in full elsewhere: go there',
  'tree.matchOf': '{index} of {count} matches',
  'tree.matchOf.one': '1 of 1 match',
  'tree.previous': 'Previous match',
  'tree.next': 'Next match',
  'tree.buildOnly': 'build only',
  'tree.buildFor': 'builds',
  'tree.sdist': 'sdist',
  'tree.empty': 'No packages',

  'stats.npm': 'npm',
  'stats.pypi': 'Python',
  'stats.packages': 'Packages',
  'stats.files': 'Files',
  'stats.size': 'Total size',
  'stats.problems': 'Problems',
  'stats.targets': 'Targets',
  'stats.excluded': 'Left out',
  'stats.leftOutDev': '{count} dev',
  'stats.leftOutPlatform': '{count} for other platforms',
  'stats.includeDev': 'Include dev dependencies',

  'problems.title': 'Problems',
  'problems.none': 'No problems found',
  'problems.goto': 'Show in tree',
  'problems.errors': '{count} errors',
  'problems.errors.one': '1 error',
  'problems.warnings': '{count} warnings',
  'problems.warnings.one': '1 warning',
  'problems.infos': '{count} notes',
  'problems.infos.one': '1 note',

  'download.title': 'Download progress',
  'download.files': 'Files {current} / {total}',
  'download.failedCount': 'failed {count}',
  'download.bytes': '{done} / {total}',
  'download.speed': 'Speed {speed}',
  'download.eta': 'ETA {eta}',
  'download.pause': 'Pause',
  'download.resume': 'Resume',
  'download.cancel': 'Cancel',
  'download.cancelConfirm': 'Cancel this task?',
  'download.retry': 'Retry failed',
  'download.failedList': 'Failed files',
  'download.complete': 'Download complete',
  'download.archive': 'Archive',
  'download.archiveSize': 'Size {size}',
  'download.downloadArchive': 'Download archive',
  'download.cancelled': 'The task was cancelled',
  'download.failed': 'The task failed',
  'download.packing': 'Packing the archive…',
  'download.paused': 'Paused',
  'download.waiting': 'Waiting for the first progress report…',
  'download.rowWaiting': 'waiting',
  'download.cached': '{count} in the store already',
  'download.etaTotal': 'All done in about {eta}',
  'download.newTask': 'Start a new task',

  'log.title': 'Live log',
  'log.empty': 'Nothing logged yet',
  'log.follow': 'Follow the log',
  'log.connected': 'live',
  'log.reconnecting': 'reconnecting…',

  'status.created': 'created',
  'status.resolving': 'resolving',
  'status.resolved': 'resolved',
  'status.downloading': 'downloading',
  'status.paused': 'paused',
  'status.packing': 'packing',
  'status.completed': 'completed',
  'status.failed': 'failed',
  'status.cancelled': 'cancelled',

  'list.title': 'Tasks',
  'list.filter': 'Status',
  'list.all': 'All statuses',
  'list.id': 'Task',
  'list.status': 'Status',
  'list.files': 'Files',
  'list.created': 'Created',
  'list.archive': 'Archive',
  'list.actions': 'Actions',
  'list.open': 'Open',
  'list.delete': 'Delete',
  'list.deleteConfirm': 'Delete this task and its files?',
  'list.deleted': 'Task deleted',
  'list.refresh': 'Refresh',
  'list.project': 'Project',
  'list.target': 'Target',
  'list.packages': 'Packages',
  'list.total': '{count} tasks',
  'list.total.one': '1 task',
  'list.downloadArchive': 'Download {name}, {size}',

  'task.notFound': 'Task not found',
  'task.loadFailed': 'The task could not be loaded',
  'task.id': 'Task {id}',
  'common.yes': 'Yes',
  'common.no': 'No',
  'common.error': 'Error',
} as const;

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  'app.title': 'Ferry',
  'app.subtitle': '跨越网闸的依赖包',
  'nav.newTask': '新建任务',
  'nav.tasks': '任务列表',
  'lang.label': '语言',
  'signin.title': '登录',
  'signin.intro': 'Ferry 需要令牌才能查看和运行任务。',
  'signin.token': '令牌',
  'signin.submit': '登录',
  'signin.empty': '请先粘贴令牌。',
  'signin.refused': '令牌被拒绝：未知、已吊销或已过期。',
  'signin.unreachable': '无法连接服务器。',
  'signin.signedOut': '您已退出登录，请重新登录后继续。',
  'signin.help':
    '管理员可用 `ferry token create --name 名称 --role write` 创建令牌。`ferry serve` 首次启动时打印了管理员令牌，并写入数据目录（admin-token）。',
  'nav.signOut': '退出登录',

  'step.upload': '上传文件',
  'step.analyse': '依赖分析',
  'step.download': '下载打包',
  'step.upload.desc': '清单文件与目标机器',
  'step.analyse.desc': '依赖树',
  'step.download.desc': '下载、校验、打包',

  'upload.drag': '拖拽文件到此处，或点击选择文件',
  'upload.hint': '可同时上传多个文件。支持：{types}',
  'upload.files': '已选择的文件',
  'upload.noFiles': '尚未选择文件',
  'upload.remove': '移除',
  'upload.submit': '开始分析',
  'upload.refused': '服务器拒绝了上传',
  'upload.where': '文件 {file}，第 {line} 行',
  'upload.whereFile': '文件 {file}',
  'upload.reason': '原因',

  'options.title': '目标机器',
  'options.ecosystems': '依赖类型',
  'options.npm': 'NPM 依赖',
  'options.pypi': 'Python 依赖',
  'options.python': 'Python 版本',
  'options.platforms': '平台标签',
  'options.platforms.placeholder': '选择或输入 wheel 平台标签',
  'options.node': 'Node.js 版本',
  'options.os': '操作系统',
  'options.cpu': 'CPU',
  'options.libc': 'libc',
  'options.format': '压缩包格式',
  'options.limitRate': '本任务的带宽',
  'options.limitRate.none': '不限速',
  'options.groups': 'Extras / 依赖组',
  'options.groups.placeholder': '例如 dev, docs',
  'options.groups.choose': '从文件声明的组中选择',
  'options.groups.none': '这些文件没有声明 extras 或依赖组',
  'upload.checkFailed': '{file} 无法读取',
  'options.allGroups': '全部依赖组',
  'options.allPlatforms': '保留所有平台的 npm 可选依赖',
  'options.reset': '恢复默认',
  'options.wheels': '二进制包或源码包',
  'options.wheels.help':
    '优先二进制包：宁选有 wheel 的旧版本，也不选需在目标机编译的新版本。仅二进制包：目标机上不编译任何包。',
  'options.wheels.any': '最新版本',
  'options.wheels.prefer': '优先二进制包',
  'options.wheels.only': '仅二进制包',
  'options.excludeNewer': '按此日期解析',
  'options.excludeNewer.help': '排除此日期之后上传的版本：旧项目保持原样。',
  'options.torch': 'PyTorch 版本',
  'options.torch.help': '从运维配置的 PyTorch 索引获取该后端的 PyTorch 包。',
  'options.torch.none': '默认',
  'options.registry': '软件源',
  'options.registry.help': '运维配置的一组索引与 npm 仓库。',
  'options.registry.default': '服务默认',
  'options.ignoreManifestIndexes': '忽略清单文件中的索引地址',

  'analyse.resolving': '正在解析依赖…',
  'analysis.waiting': '等待中',
  'analysis.resolving': '解析中',
  'analysis.metadata': '读取元数据和大小',
  'analysis.build-environments': '解析源码包构建所需的依赖',
  'analysis.checks': '检查 engines 和 peer 依赖',
  'analysis.done': '完成',
  'analysis.count': '{current} / {total} 个包',
  'analysis.progressOf': '{name} 分析进度',
  'analyse.failed': '依赖分析失败',
  'analyse.fix': '修改清单文件',
  'upload.notManifest': 'Ferry 不接受此文件，请移除',
  'tree.needs': '在目标机器上构建，需要：',
  'download.progressOf': '{name} 下载进度',
  'problems.showMore': '显示其余 {count} 个',
  'problems.more': '展开',
  'problems.less': '收起',
  'archive.title': '带到目标机器',
  'archive.file': '文件',
  'archive.check': '在目标机器上校验副本',
  'archive.install': '在 {system} 上安装',
  'archive.expires': '服务器删除时间',
  'analyse.start': '开始下载',
  'analyse.noTree': '尚无依赖树',
  'analyse.npmTitle': 'NPM 依赖（{count} 个包）',
  'analyse.npmTitle.one': 'NPM 依赖（{count} 个包）',
  'analyse.pythonTitle': 'Python 依赖（{count} 个包）',
  'analyse.pythonTitle.one': 'Python 依赖（{count} 个包）',
  'analyse.target': '目标 {key}',

  'tree.expandAll': '展开全部',
  'tree.collapseAll': '收起全部',
  'tree.search': '搜索依赖…',
  'tree.matches': '{count} 个匹配',
  'tree.matches.one': '{count} 个匹配',
  'tree.deduped': '已去重',
  'tree.dedupedLink': '完整条目在别处：点击前往',
  'tree.matchOf': '第 {index} 个，共 {count} 个匹配',
  'tree.matchOf.one': '第 {index} 个，共 {count} 个匹配',
  'tree.previous': '上一个匹配',
  'tree.next': '下一个匹配',
  'tree.buildOnly': '仅构建',
  'tree.buildFor': '用于构建',
  'tree.sdist': '源码包',
  'tree.empty': '没有依赖包',

  'stats.npm': 'NPM',
  'stats.pypi': 'Python',
  'stats.packages': '包数量',
  'stats.files': '文件数',
  'stats.size': '总大小',
  'stats.problems': '问题',
  'stats.targets': '目标',
  'stats.excluded': '已排除',
  'stats.leftOutDev': '{count} 个开发依赖',
  'stats.leftOutPlatform': '{count} 个其他平台的包',
  'stats.includeDev': '包含开发依赖',

  'problems.title': '问题',
  'problems.none': '未发现问题',
  'problems.goto': '在依赖树中显示',
  'problems.errors': '{count} 个错误',
  'problems.errors.one': '{count} 个错误',
  'problems.warnings': '{count} 个警告',
  'problems.warnings.one': '{count} 个警告',
  'problems.infos': '{count} 条提示',
  'problems.infos.one': '{count} 条提示',

  'download.title': '下载进度',
  'download.files': '已下载 {current} / {total}',
  'download.failedCount': '失败 {count}',
  'download.bytes': '{done} / {total}',
  'download.speed': '速度 {speed}',
  'download.eta': '剩余 {eta}',
  'download.pause': '暂停',
  'download.resume': '继续',
  'download.cancel': '取消',
  'download.cancelConfirm': '确定取消此任务？',
  'download.retry': '重试失败项',
  'download.failedList': '失败列表',
  'download.complete': '下载完成',
  'download.archive': '压缩包',
  'download.archiveSize': '大小 {size}',
  'download.downloadArchive': '下载压缩包',
  'download.cancelled': '任务已取消',
  'download.failed': '任务失败',
  'download.packing': '正在打包…',
  'download.paused': '已暂停',
  'download.waiting': '等待第一次进度报告…',
  'download.rowWaiting': '等待中',
  'download.cached': '{count} 个已在存储中',
  'download.etaTotal': '全部完成约需 {eta}',
  'download.newTask': '新建任务',

  'log.title': '实时日志',
  'log.empty': '暂无日志',
  'log.follow': '跟随最新日志',
  'log.connected': '已连接',
  'log.reconnecting': '重新连接中…',

  'status.created': '已创建',
  'status.resolving': '解析中',
  'status.resolved': '已解析',
  'status.downloading': '下载中',
  'status.paused': '已暂停',
  'status.packing': '打包中',
  'status.completed': '已完成',
  'status.failed': '失败',
  'status.cancelled': '已取消',

  'list.title': '任务列表',
  'list.filter': '状态',
  'list.all': '全部状态',
  'list.id': '任务',
  'list.status': '状态',
  'list.files': '文件',
  'list.created': '创建时间',
  'list.archive': '压缩包',
  'list.actions': '操作',
  'list.open': '打开',
  'list.delete': '删除',
  'list.deleteConfirm': '删除此任务及其文件？',
  'list.deleted': '任务已删除',
  'list.refresh': '刷新',
  'list.project': '项目',
  'list.target': '目标机器',
  'list.packages': '包数量',
  'list.total': '共 {count} 个任务',
  'list.total.one': '共 {count} 个任务',
  'list.downloadArchive': '下载 {name}，{size}',

  'task.notFound': '任务不存在',
  'task.loadFailed': '无法加载任务',
  'task.id': '任务 {id}',
  'common.yes': '是',
  'common.no': '否',
  'common.error': '错误',
};

export const messages: Record<Lang, Record<MessageKey, string>> = { en, zh };
export const antdLocales: Record<Lang, Locale> = { en: enUS, zh: zhCN };

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

export function translate(
  lang: Lang,
  key: MessageKey,
  vars?: Record<string, string | number>,
): string {
  // English plurals: a key's ".one" form when the count is 1 ("1 package", not "1 packages")
  const singular = vars?.count === 1 ? (`${key}.one` as MessageKey) : null;
  const chosen = singular && singular in messages[lang] ? singular : key;
  const text = messages[lang][chosen] ?? messages.en[chosen] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) =>
    name in vars ? String(vars[name]) : m,
  );
}

function storedLang(): Lang {
  try {
    const saved = window.localStorage.getItem(LANG_STORAGE_KEY);
    if (saved === 'en' || saved === 'zh') return saved;
  } catch {
    // storage blocked: fall through to the browser's language
  }
  const nav = typeof navigator !== 'undefined' ? navigator.language : 'en';
  return nav && nav.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

interface I18nValue {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: Translate;
}

const I18nContext = createContext<I18nValue>({
  lang: 'en',
  setLang: () => undefined,
  t: (key, vars) => translate('en', key, vars),
});

export function I18nProvider({ children, initial }: { children?: ReactNode; initial?: Lang }) {
  const [lang, setLangState] = useState<Lang>(() => initial ?? storedLang());
  const setLang = useCallback((next: Lang) => {
    setLangState(next);
    try {
      window.localStorage.setItem(LANG_STORAGE_KEY, next);
    } catch {
      // not remembered: still switched for this visit
    }
    document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  }, []);
  const value = useMemo<I18nValue>(
    () => ({ lang, setLang, t: (key, vars) => translate(lang, key, vars) }),
    [lang, setLang],
  );
  return createElement(
    I18nContext.Provider,
    { value },
    createElement(
      ConfigProvider,
      { locale: antdLocales[lang], theme: { token: THEME_TOKENS } },
      children,
    ),
  );
}

export function useI18n(): I18nValue {
  return useContext(I18nContext);
}

/** The header's switch: English / 中文. */
export function LanguageSwitch() {
  const { lang, setLang, t } = useI18n();
  return createElement(Segmented<Lang>, {
    'aria-label': t('lang.label'),
    'data-testid': 'lang-switch',
    size: 'small',
    value: lang,
    onChange: (value: Lang) => setLang(value),
    options: [
      { label: 'English', value: 'en' },
      { label: '中文', value: 'zh' },
    ],
  } as Parameters<typeof Segmented<Lang>>[0]);
}
