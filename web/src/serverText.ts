/**
 * What the server writes for a person — problems, errors, log lines — in the reader's
 * language.
 *
 * The server stays language-neutral: it sends its English `message` and, beside it, a
 * stable code (a problem's `kind`, an error's or an event's `code`) and the `params` the
 * message was made of (`ferry.texts` on the server). This catalog has, for each code, the
 * same templates in English and Chinese. `{name}` is a parameter, shown as it is (a
 * package name, a URL, the resolver's own words, which are never translated);
 * `{name=value}` shows nothing and picks the template when that parameter has that value.
 * The first template whose names are exactly the given parameters is the one, as on the
 * server.
 *
 * `serverText` gives the Chinese text only when it can fill it completely; otherwise (an
 * unknown code, a parameter missing, an older server that sends no params) it gives the
 * server's own message, so a reader never sees a half-filled template.
 *
 * `serverCodes.json` (written from the server's side by `scripts/server_codes.py`) lists
 * every code with its English templates; a test fails when this catalog lacks one or
 * takes other parameters.
 */
import { useCallback } from 'react';
import { useI18n } from './i18n';
import type { Lang } from './i18n';

export type ServerTextKind = 'problem' | 'error' | 'event';
export type ServerParams = Record<string, string> | null | undefined;
export interface ServerTemplate {
  en: string;
  zh: string;
}
type Catalog = Record<string, ServerTemplate[]>;

const t = (en: string, zh: string): ServerTemplate => ({ en, zh });

// --- problems: a problem's `kind` -------------------------------------------------------

const RESOLVER = (zh: string) => [t('{output}', zh)];
const BUILD_REQUIREMENTS = [
  t(
    'the build requirements of {sdist} ({requirements}) cannot be resolved for Python {python} ({implementation}) on {platform}: {output}',
    '{sdist} 的构建依赖（{requirements}）无法为 Python {python}（{implementation}，{platform}）解析：{output}',
  ),
  t(
    'the build requirements of the project ({requirements}) cannot be resolved for Python {python} ({implementation}) on {platform}: {output}',
    '项目自身的构建依赖（{requirements}）无法为 Python {python}（{implementation}，{platform}）解析：{output}',
  ),
];
const SDIST_EN =
  '{package} {version} has no wheel for Python {python} ({implementation}) on {platform}; its sdist is bundled and will be built on the target';
const SDIST_ZH =
  '{package} {version} 没有适用于 Python {python}（{implementation}，{platform}）的 wheel；已打包其源码包，将在目标机器上构建';
const NEEDS_COMPILING_EN = (why: string) =>
  `{package}@{version} is a native addon ({tool}) and ${why}: it will be compiled on the target, which needs {needs}; install scripts run only with FERRY_NPM_SCRIPTS=1`;
const NEEDS_COMPILING_ZH = (why: string) =>
  `{package}@{version} 是原生插件（{tool}），${why}，将在目标机器上编译，需要 {needs}；只有设置 FERRY_NPM_SCRIPTS=1 时才会运行安装脚本`;
const PEER_LEAD_EN = '{package}@{version} needs peer {peer}@{spec}';
const PEER_LEAD_ZH = '{package}@{version} 需要对等依赖（peer）{peer}@{spec}';

const problem: Catalog = {
  'index-unreachable': [
    t(
      "the index {index} (from {origin}) cannot be reached: {cause}. Check the URL and this machine's network or proxy; an index written in a manifest can be left out with --ignore-manifest-indexes",
      '无法连接索引 {index}（配置来自 {origin}）：{cause}。请检查该地址以及本机的网络或代理设置；清单文件里写的索引可以用 --ignore-manifest-indexes 忽略',
    ),
  ],
  'not-found': RESOLVER('找不到所需的包：{output}'),
  unsatisfiable: RESOLVER('依赖无法同时满足：{output}'),
  'resolver-error': RESOLVER('解析器出错：{output}'),
  conflict: RESOLVER('依赖版本冲突：{output}'),
  'build-requirements-not-found': BUILD_REQUIREMENTS,
  'build-requirements-unsatisfiable': BUILD_REQUIREMENTS,
  'build-requirements-resolver-error': BUILD_REQUIREMENTS,
  'hash-not-pinned': [
    t(
      '{file} (sha256 {sha256}) matches none of the hashes pinned for {package}',
      '{file}（sha256 {sha256}）与 {package} 固定的哈希值都不匹配',
    ),
  ],
  yanked: [
    t('{package} {version} is yanked: {reason}', '{package} {version} 已被撤回（yanked）：{reason}'),
    t('{package} {version} is yanked', '{package} {version} 已被撤回（yanked）'),
  ],
  'no-file-for-target': [
    t(
      '{refused=sdist}{package} {version} has no wheel for the target and sdists are refused (--only-binary)',
      '{refused=sdist}{package} {version} 没有适用于目标机器的 wheel，而源码包已被拒绝（--only-binary）',
    ),
    t(
      '{refused=wheel}{package} {version} has no sdist and wheels are refused (--no-binary)',
      '{refused=wheel}{package} {version} 没有源码包，而 wheel 已被拒绝（--no-binary）',
    ),
    t(
      '{package} {version} has neither a wheel for {platform} nor an sdist',
      '{package} {version} 既没有适用于 {platform} 的 wheel，也没有源码包',
    ),
  ],
  'prefer-binary': [
    t(
      '{package} {version} (a wheel for {platform}) chosen over {previous}, which has only an sdist (--prefer-binary)',
      '选用了 {package} {version}（有适用于 {platform} 的 wheel），而不是只有源码包的 {previous}（--prefer-binary）',
    ),
  ],
  'no-wheel-for-target': [
    t(
      `${SDIST_EN} (build requirements: {build_requires}); the target will likely need {needs}`,
      `${SDIST_ZH}（构建依赖：{build_requires}）；目标机器可能需要 {needs}`,
    ),
    t(`${SDIST_EN} (build requirements: {build_requires})`, `${SDIST_ZH}（构建依赖：{build_requires}）`),
    t(
      `${SDIST_EN} (build requirements: none); the target will likely need {needs}`,
      `${SDIST_ZH}（无构建依赖）；目标机器可能需要 {needs}`,
    ),
    t(`${SDIST_EN} (build requirements: none)`, `${SDIST_ZH}（无构建依赖）`),
  ],
  'no-package-json': [t('no package.json and no lock to resolve', '没有 package.json，也没有可解析的锁文件')],
  'registry-unreadable': [
    t('could not read {url}: {cause}', '无法读取 {url}：{cause}'),
    t('{url} answered HTTP {status}', '{url} 返回了 HTTP {status}'),
  ],
  deprecated: [t('{package}@{version} is deprecated: {reason}', '{package}@{version} 已弃用：{reason}')],
  'no-tarball': [
    t(
      '{package}@{version}: the registry gives no tarball URL or integrity',
      '{package}@{version}：仓库没有给出 tarball 地址或完整性校验值',
    ),
  ],
  'weak-integrity': [
    t(
      '{package}@{version} is only verified by sha1 (an old lock entry)',
      '{package}@{version} 只有 sha1 校验（旧锁文件中的条目）',
    ),
  ],
  'engines-mismatch': [
    t(
      '{package}@{version} wants node {wanted}; the target runs Node {node}',
      '{package}@{version} 要求 Node {wanted}，而目标机器运行 Node {node}',
    ),
    t(
      '{engine_strict=true}{package}@{version} wants node {wanted}; the target runs Node {node} (engine-strict: npm ci will refuse it)',
      '{engine_strict=true}{package}@{version} 要求 Node {wanted}，而目标机器运行 Node {node}（engine-strict：npm ci 会拒绝安装）',
    ),
  ],
  'npmrc-ignored': [
    t(
      '{file}:{line}: {key} = {value} left out (--ignore-manifest-indexes)',
      '{file}:{line}：{key} = {value} 已忽略（--ignore-manifest-indexes）',
    ),
    t(
      '{why=variable}{file}:{line}: {key} names an environment variable, which Ferry does not expand; left out',
      '{why=variable}{file}:{line}：{key} 引用了环境变量，Ferry 不展开环境变量，已忽略',
    ),
    t(
      '{why=setting}{file}:{line}: {key} is not an install setting Ferry carries; left out',
      '{why=setting}{file}:{line}：{key} 不是 Ferry 会带上的安装设置，已忽略',
    ),
  ],
  'npmrc-credentials': [
    t(
      '{file} lines {lines} hold credentials: Ferry never uses them and leaves them out of the bundle',
      '{file} 第 {lines} 行含有凭据：Ferry 从不使用，也不会放进打包文件',
    ),
  ],
  'peer-missing': [
    t(
      `${PEER_LEAD_EN}, which nothing installs (legacy-peer-deps leaves peers to the project); add it to package.json's dependencies`,
      `${PEER_LEAD_ZH}，但没有任何包会安装它（legacy-peer-deps 把对等依赖交给项目自己）；请把它加入 package.json 的 dependencies`,
    ),
  ],
  'peer-conflict': [
    t(`${PEER_LEAD_EN}; the tree has {peer}@{found}`, `${PEER_LEAD_ZH}，而依赖树中是 {peer}@{found}`),
  ],
  'platform-mismatch': [
    t(
      '{package}@{version} requires os {wants_os}, cpu {wants_cpu}, libc {wants_libc}; the target is Node {node} on {os}-{cpu} ({libc})',
      '{package}@{version} 要求操作系统 {wants_os}、CPU {wants_cpu}、libc {wants_libc}；目标机器是 {os}-{cpu}（{libc}）上的 Node {node}',
    ),
    t(
      '{package}@{version} requires os {wants_os}, cpu {wants_cpu}, libc {wants_libc}; the target is Node {node} on {os}-{cpu}',
      '{package}@{version} 要求操作系统 {wants_os}、CPU {wants_cpu}、libc {wants_libc}；目标机器是 {os}-{cpu} 上的 Node {node}',
    ),
  ],
  'optional-platform-excluded': [
    t(
      '{count} optional package(s) for other platforms left out: {names}',
      '已略去 {count} 个用于其他平台的可选包：{names}',
    ),
  ],
  'install-script': [
    t(
      '{package}@{version} has an install script; it does not run in the offline install unless the target allows scripts (FERRY_NPM_SCRIPTS=1)',
      '{package}@{version} 带有安装脚本；离线安装时不会运行，除非目标机器允许运行脚本（FERRY_NPM_SCRIPTS=1）',
    ),
  ],
  'needs-compiling': [
    t(NEEDS_COMPILING_EN('{reason}'), NEEDS_COMPILING_ZH('原因：{reason}')),
    t(
      NEEDS_COMPILING_EN('its prebuilt binary for {target} could not be fetched from {url} ({cause})'),
      NEEDS_COMPILING_ZH('适用于 {target} 的预编译二进制无法从 {url} 下载（{cause}）'),
    ),
    t(
      NEEDS_COMPILING_EN('its prebuilt binary from {url} is unusable: {error}'),
      NEEDS_COMPILING_ZH('从 {url} 下载的预编译二进制不可用（{error}）'),
    ),
  ],
  'prebuilt-binary': [
    t(
      '{package}@{version} carries its binary for {target} in its own tarball ({tool}): nothing to build or fetch',
      '{package}@{version} 的 tarball 自带适用于 {target} 的二进制（{tool}）：无需构建或下载',
    ),
    t(
      '{package}@{version}: the {tool} binary for {target} is in the bundle (from {url}); the offline install places it in {dest}',
      '{package}@{version}：适用于 {target} 的 {tool} 二进制已放入打包文件（来自 {url}）；离线安装时会放到 {dest}',
    ),
    t(
      '{package}@{version}: the {tool} binary for {target} is in the bundle (from {url}); the offline install places it in the package folder',
      '{package}@{version}：适用于 {target} 的 {tool} 二进制已放入打包文件（来自 {url}）；离线安装时会放到包目录中',
    ),
  ],
};

// --- errors: an error's `code` (answers, a task's error, error events) ----------------

/** The last resort of every error code: Ferry's English words inside a Chinese frame. */
const detail = (zh: string) => t('{detail}', `${zh}：{detail}`);
const manifest = (zh: [string, string, string], frame: string) => [
  t('{file}: {reason}', zh[0]),
  t('{file}:{line}: {reason}', zh[1]),
  t('{file}:{line}:{column}: {reason}', zh[2]),
  detail(frame),
];

const error: Catalog = {
  'ferry-error': [
    t("the task failed unexpectedly; the server's log has the details", '任务意外失败；详情见服务器日志'),
    t('{limit=time}the task ran past its time limit', '{limit=time}任务超出了时间限制'),
    t(
      "the bundle needs {size} bytes, over the task's {limit}-byte limit",
      '打包需要 {size} 字节，超出了任务 {limit} 字节的上限',
    ),
    t(
      "the archive is {archive_size} bytes, over the task's {limit}-byte limit",
      '压缩包有 {archive_size} 字节，超出了任务 {limit} 字节的上限',
    ),
    detail('出错'),
  ],
  'usage-invalid': [
    t(
      'torch_backend: this service has no PyTorch index (`torch_index` setting)',
      'torch_backend：此服务没有配置 PyTorch 索引（`torch_index` 设置）',
    ),
    detail('请求无效'),
  ],
  'target-invalid': [detail('目标机器设置无效')],
  'upload-invalid': [
    t('no files uploaded', '没有上传任何文件'),
    t('{uploaded=twice}{name} uploaded twice', '{uploaded=twice}{name} 上传了两次'),
    t('file name {name}… is {size} bytes; at most {limit}', '文件名 {name}… 长 {size} 字节，最多 {limit} 字节'),
    t('file name {name} is not a plain file name', '文件名 {name} 不是普通的文件名'),
    t('options.{field}: {reason}', '选项 options.{field} 无效：{reason}'),
    t(
      '{known=none}options.registry: {registry} is not a profile (none are configured)',
      '{known=none}options.registry：{registry} 不是已配置的软件源（此服务没有配置任何软件源）',
    ),
    t(
      'options.registry: {registry} is not a profile ({known})',
      'options.registry：{registry} 不是已配置的软件源（可选：{known}）',
    ),
    detail('上传无效'),
  ],
  'upload-too-large': [
    t('{name}: {size} bytes is over the {limit}-byte limit', '{name}：{size} 字节，超过了 {limit} 字节的上限'),
    t('the request body is over the {limit}-byte limit', '请求体超过了 {limit} 字节的上限'),
    detail('上传的文件过大'),
  ],
  'upload-unsupported': [
    t('{name}: not a manifest Ferry knows', '{name}：不是 Ferry 认识的清单文件'),
    t('{content=binary}{name}: binary content, not a text manifest', '{content=binary}{name}：是二进制内容，不是文本清单文件'),
    t('{name}: not UTF-8 text (byte {byte})', '{name}：不是 UTF-8 文本（第 {byte} 字节）'),
    detail('不支持的上传文件'),
  ],
  'config-invalid': [detail('服务配置有误')],
  'auth-failed': [detail('认证失败')],
  'auth-required': [
    t('this needs a token', '需要令牌'),
    t('{token=refused}the token is unknown, revoked or expired', '{token=refused}令牌未知、已吊销或已过期'),
    detail('需要登录'),
  ],
  'role-insufficient': [
    t('this needs the {role} role; the token has {has}', '需要 {role} 角色；此令牌的角色是 {has}'),
    detail('权限不足'),
  ],
  'quota-exceeded': [
    t(
      'this token has {active} task(s) queued or at work; its limit is {limit}',
      '此令牌有 {active} 个任务在排队或运行；上限为 {limit} 个',
    ),
    t(
      "this token's archives take {disk} bytes; its limit is {limit}",
      '此令牌的压缩包占用 {disk} 字节；上限为 {limit} 字节',
    ),
    t(
      'this token created {made} tasks in the last hour; its limit is {limit}',
      '此令牌在过去一小时内创建了 {made} 个任务；上限为 {limit} 个',
    ),
    detail('超出配额'),
  ],
  'manifest-invalid': manifest(
    [
      '清单文件 {file} 有误：{reason}',
      '清单文件 {file} 第 {line} 行有误：{reason}',
      '清单文件 {file} 第 {line} 行第 {column} 列有误：{reason}',
    ],
    '清单文件有误',
  ),
  'manifest-unknown': manifest(
    [
      '无法识别清单文件 {file}：{reason}',
      '无法识别清单文件 {file}（第 {line} 行）：{reason}',
      '无法识别清单文件 {file}（第 {line} 行第 {column} 列）：{reason}',
    ],
    '无法识别的清单文件',
  ),
  'manifest-include-loop': manifest(
    [
      '清单文件 {file} 的引用形成了循环：{reason}',
      '清单文件 {file} 第 {line} 行的引用形成了循环：{reason}',
      '清单文件 {file} 第 {line} 行第 {column} 列的引用形成了循环：{reason}',
    ],
    '清单文件的引用形成了循环',
  ),
  'requirement-unsupported': manifest(
    [
      '{file} 中有无法带到其他机器的依赖：{reason}',
      '{file} 第 {line} 行的依赖无法带到其他机器：{reason}',
      '{file} 第 {line} 行第 {column} 列的依赖无法带到其他机器：{reason}',
    ],
    '依赖无法带到其他机器',
  ),
  'resolution-failed': [
    t('the manifests cannot be resolved for the target', '无法为目标机器解析这些清单文件'),
    detail('依赖解析失败'),
  ],
  'index-unreachable': [detail('无法连接索引')],
  'resolver-unavailable': [detail('解析器不可用')],
  'fetch-failed': [
    t('could not read {url}: {cause}', '无法读取 {url}：{cause}'),
    t('{url} answered HTTP {status}', '{url} 返回了 HTTP {status}'),
    detail('下载失败'),
  ],
  'egress-refused': [detail('不允许访问该地址')],
  'integrity-mismatch': [detail('完整性校验失败')],
  'bundle-failed': [detail('打包失败')],
  'task-not-found': [t('no task {task_id}', '任务 {task_id} 不存在'), detail('任务不存在')],
  'task-invalid-transition': [
    t(
      'task {task_id} is {current}: it cannot become {requested}',
      '任务 {task_id} 当前状态为 {current}，不能变为 {requested}',
    ),
    detail('任务当前状态不允许此操作'),
  ],
  'task-not-resolved': [
    t('task {task_id} is {current}: no dependency tree yet', '任务 {task_id} 当前状态为 {current}：还没有依赖树'),
    detail('任务尚未解析'),
  ],
  'task-not-completed': [
    t('task {task_id} is {current}: no archive yet', '任务 {task_id} 当前状态为 {current}：还没有压缩包'),
    detail('任务尚未完成'),
  ],
  'token-not-found': [t('no token {token}', '令牌 {token} 不存在'), detail('找不到令牌')],
  'request-invalid': [t('{where}: {reason}', '请求参数 {where} 无效：{reason}')],
  'not-found': [t('nothing at {path}', '此地址不存在：{path}')],
  'method-not-allowed': [
    t('{method} is not allowed here (allowed: {allow})', '此处不允许 {method} 请求（允许：{allow}）'),
  ],
  'internal-error': [t('the server failed; the error is in its log', '服务器出错；错误信息已写入服务器日志')],
  'socket-unauthenticated': [t('authentication failed', '认证失败')],
  'socket-lookup-failed': [t('the task could not be looked up', '无法查询此任务')],
  'socket-behind': [
    t(
      'this watcher fell more than {limit} events behind and was disconnected; reconnect for a fresh snapshot',
      '此连接落后超过 {limit} 条事件，已断开；请重新连接以获取最新快照',
    ),
  ],
};

// --- task events: a log line's, a status change's or a completion's `code` --------------

const event: Catalog = {
  'phase-resolving': [t('resolving', '正在解析依赖')],
  'phase-fetching': [t('fetching {ecosystem}', '正在下载 {ecosystem} 包')],
  'phase-packing': [t('packing', '正在打包')],
  'file-cached': [t('cached {name}', '使用缓存 {name}')],
  'file-fetched': [t('fetched {name}', '已下载 {name}')],
  'file-failed': [t('failed {name}: {reason}', '下载失败 {name}：{reason}')],
  'analysis-started': [t('analysis started', '开始分析')],
  'analysis-finished': [t('analysis finished', '分析完成')],
  'resolution-has-errors': [t('resolution has errors', '解析发现错误')],
  'download-requested': [t('download requested', '已请求下载')],
  'paused-by-user': [t('paused by the user', '已被用户暂停')],
  'resumed-by-user': [t('resumed by the user', '已被用户恢复')],
  'retry-requested': [t('retry requested', '已请求重试')],
  'cancelled-by-user': [t('cancelled by the user', '已被用户取消')],
  'restarted-packing': [t('server restarted: packing again', '服务器已重启：重新打包')],
  'files-fetched': [t('files fetched', '文件已全部下载')],
  'archive-written': [
    t('archive written', '压缩包已写入'),
    t('archive written ({size} bytes)', '压缩包已写入（{size} 字节）'),
  ],
};

export const SERVER_TEXTS: Record<ServerTextKind, Catalog> = { problem, error, event };

const TOKEN = /\{(\w+)(?:=([\w.-]+))?\}/g;

/** The parameters a template takes, values and conditions alike, sorted. */
export function templateNames(template: string): string[] {
  return [...new Set([...template.matchAll(TOKEN)].map((m) => m[1]))].sort();
}

function fits(template: string, params: Record<string, string>): boolean {
  const names = templateNames(template);
  const given = Object.keys(params);
  if (names.length !== given.length || !names.every((n) => n in params)) return false;
  return [...template.matchAll(TOKEN)].every((m) => m[2] === undefined || params[m[1]] === m[2]);
}

function fill(template: string, params: Record<string, string>): string {
  return template.replace(TOKEN, (_m, name: string, value?: string) => (value !== undefined ? '' : params[name]));
}

function lookup(catalog: Catalog, code: string): ServerTemplate[] | undefined {
  // a code is the server's string: never one of Object's own properties
  return Object.prototype.hasOwnProperty.call(catalog, code) ? catalog[code] : undefined;
}

function templatesOf(kind: ServerTextKind, code: string): ServerTemplate[] | undefined {
  const own = lookup(SERVER_TEXTS[kind], code);
  // an error event (and a failed status change) carries its error's code
  return own || kind !== 'event' ? own : lookup(SERVER_TEXTS.error, code);
}

/**
 * The server's text in `lang`: the catalog's template for `code`, filled with `params`,
 * when one takes exactly these parameters; else the server's own `message`.
 */
export function serverText(
  lang: Lang,
  kind: ServerTextKind,
  code: string | null | undefined,
  params: ServerParams,
  message: string | null | undefined,
): string {
  const fallback = message ?? '';
  if (lang === 'en' || !code || !params) return fallback;
  const templates = templatesOf(kind, code);
  // the English template is the one the server chose; its twin says the same
  const chosen = templates?.find((tpl) => fits(tpl.en, params));
  if (!chosen || !fits(chosen[lang], params)) return fallback;
  return fill(chosen[lang], params);
}

/** A problem's severity, as its tag shows it (the value itself stays in the JSON). */
const SEVERITY: Record<Lang, Record<string, string>> = {
  en: { error: 'error', warning: 'warning', info: 'info' },
  zh: { error: '错误', warning: '警告', info: '提示' },
};

export function severityText(lang: Lang, severity: string): string {
  return SEVERITY[lang][severity] ?? severity;
}

/** A status change in the log, framed here (the server sends the status and its reason). */
const STATUS_LINE: Record<Lang, { bare: string; reason: string }> = {
  en: { bare: 'status: {status}', reason: 'status: {status} ({reason})' },
  zh: { bare: '状态：{status}', reason: '状态：{status}（{reason}）' },
};

/** "status: resolving (analysis started)" in `lang`, from the status's name there. */
export function statusLine(lang: Lang, status: string, reason: string | null | undefined): string {
  const frame = STATUS_LINE[lang];
  return fill(reason ? frame.reason : frame.bare, reason ? { status, reason } : { status });
}

/** What a server text needs: its code, its params, and the server's own message. */
export interface ServerSaid {
  code?: string | null;
  params?: ServerParams;
  message?: string | null;
}

/** `serverText` in the current language. */
export function useServerText(): (kind: ServerTextKind, said: ServerSaid) => string {
  const { lang } = useI18n();
  return useCallback(
    (kind: ServerTextKind, said: ServerSaid) => serverText(lang, kind, said.code, said.params, said.message),
    [lang],
  );
}
