/**
 * What the server writes for a person — problems, errors and their hints, log lines — in
 * the reader's language.
 *
 * The server stays language-neutral: it sends its English `message` and, beside it, a
 * stable code (a problem's `kind`, an error's or an event's `code`, an error's
 * `hint_code`) and the `params` the message was made of (`ferry.texts` on the server). This catalog has, for each code, the
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

export type ServerTextKind = 'problem' | 'error' | 'event' | 'hint';
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
  'queue-unavailable': [
    t('the task queue cannot be reached: {reason}', '无法连接任务队列：{reason}'),
    detail('任务队列不可用'),
  ],
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
  'package-invalid': [
    t('{problem=form}the request is not a multipart/form-data form', '{problem=form}请求不是 multipart/form-data 表单'),
    t('{problem=missing}{field} is missing', '{problem=missing}缺少字段 {field}'),
    t('{problem=twice}{field} is given twice', '{problem=twice}字段 {field} 出现了两次'),
    t(
      '{problem=unsafe}{field} must be 1-{limit} letters, digits or . _ + ~ - starting with a letter or digit, without ..',
      '{problem=unsafe}{field} 必须是 1-{limit} 个字母、数字或 . _ + ~ -，以字母或数字开头，且不含 ..',
    ),
    t('{problem=long}{field} is over {limit} bytes', '{problem=long}{field} 超过了 {limit} 字节'),
    t(
      '{problem=empty}{field} is empty: a package needs at least one byte',
      '{problem=empty}{field} 是空的：软件包至少要有一个字节',
    ),
    t('{problem=text}{field} is not UTF-8 text', '{problem=text}{field} 不是 UTF-8 文本'),
    t(
      '{problem=ticket}the upload ticket is not one this service gave you',
      '{problem=ticket}这张上传凭据不是本服务发给你的',
    ),
    t(
      '{problem=ticket-expired}the upload ticket has expired: start the upload again',
      '{problem=ticket-expired}上传凭据已过期：请重新开始上传',
    ),
    detail('软件包上传无效'),
  ],
  'package-upload-missing': [
    t(
      'the store holds no bytes with sha256 {sha256} and size {size} that it checked: PUT the file to the URL of the upload\'s plan first',
      '存储中没有经其校验、sha256 为 {sha256}、大小为 {size} 的内容：请先把文件 PUT 到上传计划给出的 URL',
    ),
    detail('直传的文件尚未到达'),
  ],
  'package-too-large': [
    t('{name} is over the {limit}-byte limit for a package', '{name} 超过了软件包 {limit} 字节的上限'),
    detail('软件包过大'),
  ],
  'package-exists': [
    t(
      '{name} {version} for {platform}/{arch} is stored already, as package {package_id}',
      '{name} {version}（{platform}/{arch}）已经存在，软件包 ID 为 {package_id}',
    ),
    detail('软件包已存在'),
  ],
  'model-name-invalid': [detail('模型名称、版本或路径无效')],
  'model-not-found': [detail('找不到模型')],
  'model-conflict': [detail('模型版本冲突')],
  'model-not-available': [detail('模型不可用')],
  'package-not-found': [t('no package {package_id}', '软件包 {package_id} 不存在'), detail('找不到软件包')],
  'package-not-owned': [
    t(
      'package {package_id} was uploaded by {owner}: only they or an admin may delete it',
      '软件包 {package_id} 由 {owner} 上传：只有上传者或管理员可以删除它',
    ),
    detail('无权删除此软件包'),
  ],
  'range-not-satisfiable': [
    t('the range {range} is outside the {size}-byte file', '请求的范围 {range} 超出了 {size} 字节的文件'),
    detail('请求的范围无法满足'),
  ],
  'import-rejected': [
    t('{bundle} was not imported: {reason}', '{bundle} 未被导入：{reason}'),
    detail('导入被拒绝'),
  ],
  'registry-not-found': [t('the registries hold nothing at {path}', '仓库中此地址没有内容：{path}'), detail('仓库中没有此内容')],
  'import-dir-off': [
    t(
      "importing from the server's disk is not enabled: the operator has not set import_dir",
      '未启用从服务器磁盘导入：运维人员没有设置 import_dir',
    ),
    detail('未启用从服务器磁盘导入'),
  ],
  'import-dir-unreadable': [t('the import directory cannot be read: {reason}', '无法读取导入目录：{reason}'), detail('无法读取导入目录')],
  'import-name-invalid': [
    t(
      "{name} is not a bundle's plain file name (letters, digits and . _ + -, starting with a letter or digit, ending in {formats})",
      '{name} 不是有效的离线包文件名（只能含字母、数字和 . _ + -，以字母或数字开头，以 {formats} 结尾）',
    ),
    detail('离线包文件名无效'),
  ],
  'import-file-not-found': [t('no bundle {name} in the import directory', '导入目录中没有离线包 {name}'), detail('导入目录中没有此离线包')],
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

// --- hints: what the user can do next, beside an error (its `hint_code`) --------------

const EGRESS_EN =
  'The operator decides where the service fetches from: the configured indexes and registries, and the allowed_hosts setting.';
const EGRESS_ZH = '服务可以从哪里下载由运维决定：已配置的索引和 npm 仓库，以及 allowed_hosts 设置。';
const TLS_EN = 'If your network uses its own certificate authority, point Ferry at its CA bundle';
const TLS_ZH = '如果所在网络使用自己的证书颁发机构（CA），请让 Ferry 使用它的 CA 证书包';
const TOKEN_NAME_RULE = '由 1-100 个字母、数字、空格或 . _ @ + - 组成，且以字母或数字开头。';

const hint: Catalog = {
  'send-token': [
    t(
      'Send `Authorization: Bearer <token>`; `ferry token create` makes one.',
      '请在请求中带上 `Authorization: Bearer <token>`；令牌可用 `ferry token create` 创建。',
    ),
  ],
  'new-token': [t('Ask an admin for a new one (`ferry token create`).', '请向管理员申请新令牌（`ferry token create`）。')],
  'token-expiry': [
    t('Write a number and a unit: 45s, 90m, 12h, 30d or 2w.', '请写成数字加单位：45s、90m、12h、30d 或 2w。'),
  ],
  'token-name': [
    t(
      '{what=name}A name is 1-100 letters, digits, spaces or . _ @ + - and starts with a letter or digit.',
      `{what=name}名称${TOKEN_NAME_RULE}`,
    ),
    t(
      '{what=owner}An owner is 1-100 letters, digits, spaces or . _ @ + - and starts with a letter or digit.',
      `{what=owner}所有者${TOKEN_NAME_RULE}`,
    ),
  ],
  'token-list': [t('`ferry token list` shows ids and names.', '`ferry token list` 会列出令牌的 ID 和名称。')],
  'package-list': [
    t('`GET /api/v1/packages` lists the packages there are.', '`GET /api/v1/packages` 会列出现有的软件包。'),
  ],
  'package-exists': [
    t('Upload it as another version, or delete the stored one first.', '请以另一个版本上传，或先删除已有的那个。'),
  ],
  'import-whole': [
    t(
      'Nothing of the bundle was kept. Bring an intact copy (check it with its own SHA256SUMS) and import it again.',
      '此包的任何内容都没有保留。请带来一份完好的副本（用它自带的 SHA256SUMS 校验）后重新导入。',
    ),
  ],
  'import-dir': [
    t(
      'Upload the bundle instead, or ask the operator to set import_dir (FERRY_IMPORT_DIR) to the directory that holds bundles.',
      '请改为上传离线包，或请运维人员把 import_dir（FERRY_IMPORT_DIR）设为存放离线包的目录。',
    ),
  ],
  'import-available': [
    t('GET /api/imports/available lists the bundles there are.', 'GET /api/imports/available 会列出现有的离线包。'),
  ],
  'token-revoke-by-id': [t('Revoke one by id.', '请按 ID 吊销其中一个。')],
  'quota-active': [t('Wait for one to finish, or cancel one.', '请等待其中一个任务结束，或取消一个任务。')],
  'quota-disk': [t('Delete tasks whose archives you have taken.', '请删除压缩包已下载的任务。')],
  'quota-hourly': [t('Try again later.', '请稍后再试。')],
  'upload-short-name': [
    t('Upload manifests by their own names, e.g. requirements.txt.', '请按清单文件原本的名称上传，例如 requirements.txt。'),
  ],
  'upload-plain-name': [
    t(
      'Upload manifests by their own names, e.g. requirements.txt or package.json.',
      '请按清单文件原本的名称上传，例如 requirements.txt 或 package.json。',
    ),
  ],
  'upload-accepted': [
    t(
      'Accepted: requirements*.txt, *.in, pyproject.toml, Pipfile, Pipfile.lock, package.json, package-lock.json, npm-shrinkwrap.json, .npmrc.',
      '支持的文件：requirements*.txt, *.in, pyproject.toml, Pipfile, Pipfile.lock, package.json, package-lock.json, npm-shrinkwrap.json, .npmrc。',
    ),
  ],
  'upload-files': [t("Send one or more manifests as 'files'.", "请在 'files' 字段中上传一个或多个清单文件。")],
  'task-not-found': [
    t(
      'It may have expired or been deleted; list tasks to see the ones there are.',
      '任务可能已过期或已被删除；请在任务列表中查看现有任务。',
    ),
  ],
  'task-retry': [
    t('Retry it; if it fails again, report the log to the operator.', '请重试；如果仍然失败，请把日志提供给运维。'),
  ],
  'queue-retry': [
    t('Try again in a moment; if it goes on, the operator should check Redis.', '请稍后重试；如果问题持续，请运维检查 Redis。'),
  ],
  'task-disk': [
    t(
      'Raise task_disk_bytes, or split the manifests into several tasks.',
      '请调大 task_disk_bytes，或把清单文件拆分到多个任务中。',
    ),
  ],
  'torch-index': [
    t(
      'Ask the operator to configure one, or leave torch_backend unset.',
      '请联系运维配置 PyTorch 索引，或不设置 torch_backend。',
    ),
  ],
  'registry-profiles': [
    t(
      'Profiles are the `registries` setting; `ferry config` lists them.',
      '软件源在 `registries` 设置中配置；`ferry config` 会列出它们。',
    ),
  ],
  'platform-tag': [t('Use a wheel platform tag such as {examples}.', '请使用 wheel 平台标签，例如 {examples}。')],
  'choose-one': [t('Choose one of {choices}.', '请从以下选项中选择：{choices}。')],
  'pass-python': [t('Pass --python, e.g. --python 3.12.', '请指定 --python，例如 --python 3.12。')],
  'pass-platform': [
    t('Pass --platform, e.g. --platform win_amd64.', '请指定 --platform，例如 --platform win_amd64。'),
  ],
  libc: [t('Use glibc or musl.', '请使用 glibc 或 musl。')],
  'name-manifests': [t('Name requirements.txt, package.json, …', '请指定 requirements.txt、package.json 等清单文件。')],
  'name-files-in-directory': [t('Name the manifest files in it.', '请指定目录中的清单文件。')],
  'accepted-names': [t('accepted file names: {names}', '可接受的文件名：{names}')],
  'declared-groups': [t('ask only for groups the manifests declare', '只能选择清单文件中声明过的依赖组')],
  carry: [
    t(
      'Ferry carries files from a package index; a VCS checkout, an editable install or a local path cannot be carried to another machine. Build a wheel first (`uv build` or `pip wheel`), put it on an index or web server and list it by version or as `name @ https://host/name-1.0-py3-none-any.whl`.',
      'Ferry 搬运的是包索引上的文件；VCS 检出、可编辑安装（editable）或本地路径都无法带到另一台机器。请先构建 wheel（`uv build` 或 `pip wheel`），放到包索引或 Web 服务器上，再按版本号列出，或写成 `name @ https://host/name-1.0-py3-none-any.whl`。',
    ),
  ],
  'uploaded-local-path': [
    t(
      'Put the wheel on an index or web server the operator allows and list it by version or URL; or bundle with the ferry CLI on your own machine.',
      '请把 wheel 放到运维允许的包索引或 Web 服务器上，按版本号或 URL 列出；或者在自己的机器上用 ferry 命令行打包。',
    ),
  ],
  'name-at-url': [t('write it as `name @ URL`', '请写成 `name @ URL`')],
  'remote-include': [
    t('download the file and include it by a local path', '请先下载该文件，再用本地路径引用它'),
  ],
  'upload-included': [
    t('Upload the included file together with this one.', '请把被引用的文件和这个文件一起上传。'),
  ],
  'no-dependencies': [
    t(
      'list the dependencies in [project].dependencies (PEP 621), [dependency-groups] (PEP 735) or [tool.poetry.dependencies]',
      '请在 [project].dependencies（PEP 621）、[dependency-groups]（PEP 735）或 [tool.poetry.dependencies] 中列出依赖',
    ),
  ],
  'dynamic-dependencies': [
    t(
      'Ferry reads dependencies without running the build backend: list them statically in [project].dependencies, or hand Ferry a requirements file exported from the build (for example `uv pip compile pyproject.toml -o requirements.txt`)',
      'Ferry 读取依赖时不会运行构建后端：请在 [project].dependencies 中静态列出依赖，或者交给 Ferry 一个从构建中导出的 requirements 文件（例如 `uv pip compile pyproject.toml -o requirements.txt`）',
    ),
  ],
  'npm-workspaces': [
    t(
      "Bundle each workspace package's own package.json and lock, or the workspace root's package-lock.json together with its package.json.",
      '请分别打包每个工作区（workspace）包自己的 package.json 和锁文件，或者把工作区根目录的 package-lock.json 和它的 package.json 一起打包。',
    ),
  ],
  'npm-lock-v1': [
    t(
      'Upgrade it with npm 7 or newer: `npm install --package-lock-only --lockfile-version 3`, then bundle the new lock.',
      '请用 npm 7 或更新版本升级它：`npm install --package-lock-only --lockfile-version 3`，然后打包新的锁文件。',
    ),
  ],
  'npm-links': [
    t('Bundle a project without workspaces or file: links.', '请打包不含工作区（workspace）或 file: 链接的项目。'),
  ],
  'npm-names': [
    t(
      'Use package.json, package-lock.json, npm-shrinkwrap.json or .npmrc.',
      '请使用 package.json、package-lock.json、npm-shrinkwrap.json 或 .npmrc。',
    ),
  ],
  'npmrc-alone': [
    t(
      'Bundle the .npmrc together with package.json (and its lock).',
      '请把 .npmrc 和 package.json（以及它的锁文件）一起打包。',
    ),
  ],
  'resolve-cli': [
    t(
      'Run `ferry resolve` with the same arguments to see the tree.',
      '用相同的参数运行 `ferry resolve` 可以查看依赖树。',
    ),
  ],
  'reinstall-uv': [t('Reinstall Ferry; uv is one of its dependencies.', '请重新安装 Ferry；uv 是它的依赖之一。')],
  'install-npm': [
    t(
      'Install Node.js with npm (Debian: apt-get install nodejs npm), or set npm_binary.',
      '请安装 Node.js 和 npm（Debian：apt-get install nodejs npm），或设置 npm_binary。',
    ),
  ],
  'pip-cert': [
    t("Fix `cert` in Ferry's settings or pip's configuration.", '请修正 Ferry 设置或 pip 配置中的 `cert`。'),
  ],
  'npm-cafile': [
    t("Fix `cafile` in npm's configuration or `cert` in Ferry's.", '请修正 npm 配置中的 `cafile` 或 Ferry 设置中的 `cert`。'),
  ],
  egress: [t(EGRESS_EN, EGRESS_ZH)],
  'egress-manifest': [
    t(`${EGRESS_EN} Ask them, or bundle with the ferry CLI.`, `${EGRESS_ZH}请联系运维，或者在自己的机器上用 ferry 命令行打包。`),
  ],
  'egress-aria2': [
    t(
      'Use fetch_backend = native for hosts on the allowed_hosts list.',
      'allowed_hosts 列表中的主机请使用 fetch_backend = native。',
    ),
  ],
  's3-credentials': [
    t(
      'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or write ~/.aws/credentials.',
      '请设置 AWS_ACCESS_KEY_ID 和 AWS_SECRET_ACCESS_KEY，或 AWS_PROFILE，或写入 ~/.aws/credentials。',
    ),
  ],
  's3-endpoint': [
    t(
      'Check the s3_endpoint_url setting and that the server is up.',
      '请检查 s3_endpoint_url 设置，并确认服务器已启动。',
    ),
  ],
  's3-bucket': [
    t(
      'Create it, or correct the blob_store setting (s3://bucket/prefix).',
      '请创建该存储桶，或修正 blob_store 设置（s3://bucket/prefix）。',
    ),
  ],
  's3-region': [t("Set s3_region to the bucket's region.", '请把 s3_region 设为该存储桶所在的区域。')],
  's3-access': [
    t(
      "Check the AWS credentials Ferry runs with (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws/credentials) and the bucket's policy.",
      '请检查 Ferry 运行时使用的 AWS 凭据（AWS_ACCESS_KEY_ID、AWS_PROFILE、~/.aws/credentials）以及存储桶的访问策略。',
    ),
  ],
  's3-part-size': [t('Raise the s3_part_size setting.', '请调大 s3_part_size 设置。')],
  retry: [
    t(
      'Check the network connection and proxy settings, then run again: files already fetched are kept, and unfinished ones resume where they stopped.',
      '请检查网络连接和代理设置后重试：已下载的文件会保留，未下载完的文件会从中断处继续。',
    ),
  ],
  integrity: [
    t(
      'The bytes served differ from what the index promised; do not install them. A proxy rewriting downloads or a mirror out of sync with its index are the usual causes.',
      '下载到的内容与索引声明的不一致，请不要安装。常见原因是代理改写了下载内容，或镜像与其索引不同步。',
    ),
  ],
  tls: [
    t(`${TLS_EN} (the cert setting) or set SSL_CERT_FILE.`, `${TLS_ZH}（cert 设置），或设置 SSL_CERT_FILE。`),
    t(`{env=no}${TLS_EN} (the cert setting).`, `{env=no}${TLS_ZH}（cert 设置）。`),
  ],
  'http-denied': [
    t(
      'The server wants credentials or denies access: check the index URL, its credentials (netrc, keyring) and the proxy settings.',
      '服务器要求提供凭据或拒绝访问：请检查索引地址、它的凭据（netrc、keyring）以及代理设置。',
    ),
  ],
  'http-gone': [
    t(
      'The file is no longer at this URL (deleted, or an index out of date); resolve again to pick a file that exists.',
      '该文件已不在此地址（已被删除，或索引已过时）；请重新解析，以选用仍然存在的文件。',
    ),
  ],
  'http-other': [
    t('Check the URL and that the server serves files directly.', '请检查 URL，并确认服务器直接提供文件下载。'),
  ],
  'url-schemes': [
    t(
      'Only http(s)://, file:// URLs and absolute paths can be fetched.',
      '只能下载 http(s)://、file:// 地址和绝对路径。',
    ),
  ],
  'url-malformed': [t('The URL of this file is malformed.', '此文件的 URL 格式有误。')],
  'index-entry-malformed': [
    t(
      'The index entry for this file is malformed; report it to the index.',
      '索引中此文件的条目有误；请向该索引的维护者报告。',
    ),
  ],
  'url-redirects': [t('Check the URL; it redirects in circles.', '请检查 URL：它在循环重定向。')],
  'url-network': [t('Check the URL and the network settings.', '请检查 URL 和网络设置。')],
  'file-changing': [
    t(
      'Try again once the file on the server is no longer being replaced.',
      '请等服务器上的文件不再被替换后重试。',
    ),
  ],
  disk: [t('Check free space and permissions of the destination.', '请检查目标位置的剩余空间和权限。')],
  'file-share': [t('Mount the share and use a local path instead.', '请挂载该共享目录，改用本地路径。')],
  'file-readable': [t('Check that the file exists and is readable.', '请检查文件是否存在且可读。')],
  'aria2-log': [
    t(
      'aria2c runs as a child of Ferry; see its log in the aria2 state directory.',
      'aria2c 作为 Ferry 的子进程运行；请查看 aria2 状态目录中的日志。',
    ),
  ],
  'aria2-removed': [t('Run again; it resumes where it stopped.', '请重新运行，下载会从中断处继续。')],
  'aria2-file-gone': [
    t(
      "Something removed aria2's file before Ferry could check it; run again.",
      'aria2 下载的文件在 Ferry 校验之前被删除了；请重新运行。',
    ),
  ],
  'aria2-binary': [
    t(
      'Point {setting} at an executable aria2c, or unset it to use PATH.',
      '请把 {setting} 指向可执行的 aria2c，或取消该设置以使用 PATH 中的 aria2c。',
    ),
  ],
  'aria2-install': [
    t(
      'Install aria2 (Debian: apt-get install aria2), set {setting} to its path, or use the native backend (fetch_backend = native).',
      '请安装 aria2（Debian：apt-get install aria2），把 {setting} 设为它的路径，或者使用内置下载后端（fetch_backend = native）。',
    ),
  ],
  'aria2-ca-file': [
    t(
      'Point the cert setting at a PEM bundle, or use the native backend.',
      '请把 cert 设置指向 PEM 证书包文件，或者使用内置下载后端。',
    ),
  ],
  'aria2-not-running': [t('Start the daemon first.', '请先启动 aria2 守护进程。')],
  'aria2-stopped': [t('Start it again first.', '请先重新启动 aria2。')],
  'aria2-restarts': [
    t(
      'See {log}, or use the native backend (fetch_backend = native).',
      '请查看 {log}，或者使用内置下载后端（fetch_backend = native）。',
    ),
  ],
  'aria2-start': [t('Check {setting} and that {directory} is writable.', '请检查 {setting}，并确认 {directory} 可写。')],
  'aria2-see-log': [t('See {log}.', '请查看 {log}。'), t('See {log} and {config}.', '请查看 {log} 和 {config}。')],
  'archive-paths': [
    t(
      'archive paths must be relative POSIX paths inside the bundle',
      '压缩包中的路径必须是打包目录内的相对 POSIX 路径',
    ),
  ],
  'archive-format': [
    t(
      'name the output *.zip, *.tar.gz (*.tgz) or *.tar.zst (*.tzst)',
      '请把输出文件命名为 *.zip、*.tar.gz（*.tgz）或 *.tar.zst（*.tzst）',
    ),
  ],
  'archive-output': [
    t('check that the output directory exists and is writable', '请检查输出目录是否存在且可写'),
  ],
};

export const SERVER_TEXTS: Record<ServerTextKind, Catalog> = { problem, error, event, hint };

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

/**
 * The catalog's text for `code` with `params` in `lang`, or null when no template takes
 * them: for what the UI finds out itself and says as the server would (a duplicate seen
 * before an upload starts).
 */
export function catalogText(
  lang: Lang,
  kind: ServerTextKind,
  code: string,
  params: Record<string, string>,
): string | null {
  const chosen = templatesOf(kind, code)?.find((tpl) => fits(tpl.en, params));
  return chosen && fits(chosen[lang], params) ? fill(chosen[lang], params) : null;
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

/** What a task's error or a problem document says to do next, as `serverText` takes it. */
export interface HintFields {
  hint?: string | null;
  hint_code?: string | null;
  hint_params?: ServerParams;
}

/** An error's hint (`said('hint', hintOf(error))`); null when it has none. */
export function hintOf(doc: HintFields): ServerSaid | null {
  return doc.hint ? { code: doc.hint_code, params: doc.hint_params, message: doc.hint } : null;
}

/** `serverText` in the current language. */
export function useServerText(): (kind: ServerTextKind, said: ServerSaid) => string {
  const { lang } = useI18n();
  return useCallback(
    (kind: ServerTextKind, said: ServerSaid) => serverText(lang, kind, said.code, said.params, said.message),
    [lang],
  );
}
