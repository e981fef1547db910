/**
 * What machine the bundle is for: ecosystems, Python version(s), platform tags (common
 * ones offered, any tag can be typed), Node version, os/cpu/libc, archive format, and
 * extras/groups. The last choice is remembered in localStorage (`ferry.targetOptions`)
 * and comes back as the default on the next visit.
 */
import { useCallback, useState } from 'react';
import { Button, Card, Checkbox, Col, Form, Input, Radio, Row, Select, Space } from 'antd';
import { UndoOutlined } from '@ant-design/icons';
import type { DeclaredGroup, RegistryEntry, TaskOptions } from '../api/client';
import { formatSpeed } from '../format';
import { useI18n } from '../i18n';

export const OPTIONS_STORAGE_KEY = 'ferry.targetOptions';

export const PYTHON_VERSIONS = ['3.9', '3.10', '3.11', '3.12', '3.13', '3.14'];
export const COMMON_PLATFORMS = [
  'manylinux2014_x86_64',
  'manylinux_2_28_x86_64',
  'manylinux_2_28_aarch64',
  'musllinux_1_2_x86_64',
  'win_amd64',
  'win_arm64',
  'macosx_11_0_arm64',
  'macosx_10_13_x86_64',
];
export const NODE_VERSIONS = ['18', '20', '22', '24'];
export const OS_CHOICES = ['linux', 'win32', 'darwin'];
export const CPU_CHOICES = ['x64', 'arm64'];
export const LIBC_CHOICES = ['glibc', 'musl'];
/** The form's state: every option the form sets (all of them but two), each one present. */
export type TargetOptionsValue = Required<Omit<TaskOptions, 'auto_download' | 'python_version'>>;

export const FORMATS: TargetOptionsValue['format'][] = ['zip', 'tar.gz', 'tar.zst'];
/** PyTorch builds offered (any backend uv knows can be typed into the API). */
export const TORCH_BACKENDS = ['cpu', 'cu118', 'cu121', 'cu124', 'cu126', 'cu128', 'rocm6.3', 'xpu'];
export type WheelChoice = 'any' | 'prefer' | 'only';

/** The wheels-or-sources choice the form offers, from the options' fields. */
export function wheelChoice(value: TargetOptionsValue): WheelChoice {
  if (value.only_binary.includes(':all:')) return 'only';
  return value.prefer_binary ? 'prefer' : 'any';
}

function withWheelChoice(value: TargetOptionsValue, choice: WheelChoice): TargetOptionsValue {
  return {
    ...value,
    only_binary: choice === 'only' ? [':all:'] : value.only_binary.filter((n) => n !== ':all:'),
    prefer_binary: choice === 'prefer',
  };
}

export const DEFAULT_OPTIONS: TargetOptionsValue = {
  npm: true,
  pypi: true,
  python_versions: ['3.12'],
  platforms: ['manylinux2014_x86_64'],
  node_version: '20',
  os: 'linux',
  cpu: 'x64',
  libc: 'glibc',
  format: 'zip',
  groups: [],
  all_groups: false,
  all_platforms: false,
  limit_rate: null,
  only_binary: [],
  no_binary: [],
  prefer_binary: false,
  exclude_newer: null,
  torch_backend: null,
  registry: null,
  ignore_manifest_indexes: false,
};

/** Bandwidth limits offered per task (bytes per second); null is no limit. */
export const RATE_LIMITS: (number | null)[] = [null, 1e6, 10e6, 50e6, 100e6];

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The remembered options, checked field by field (anything odd falls back to the default). */
export function loadOptions(): TargetOptionsValue {
  let raw: unknown = null;
  try {
    raw = JSON.parse(window.localStorage.getItem(OPTIONS_STORAGE_KEY) ?? 'null');
  } catch {
    raw = null;
  }
  if (typeof raw !== 'object' || raw === null) return { ...DEFAULT_OPTIONS };
  const r = raw as Record<string, unknown>;
  const pick = <K extends keyof TargetOptionsValue>(
    key: K,
    ok: (v: unknown) => boolean,
  ): TargetOptionsValue[K] => (ok(r[key]) ? (r[key] as TargetOptionsValue[K]) : DEFAULT_OPTIONS[key]);
  const isBool = (v: unknown) => typeof v === 'boolean';
  const oneOf = (list: readonly string[]) => (v: unknown) => typeof v === 'string' && list.includes(v);
  const value: TargetOptionsValue = {
    npm: pick('npm', isBool),
    pypi: pick('pypi', isBool),
    python_versions: pick('python_versions', (v) => strings(v) && v.length > 0),
    platforms: pick('platforms', strings),
    node_version: pick('node_version', oneOf(NODE_VERSIONS)),
    os: pick('os', oneOf(OS_CHOICES)),
    cpu: pick('cpu', oneOf(CPU_CHOICES)),
    libc: pick('libc', (v) => v === null || oneOf(LIBC_CHOICES)(v)),
    format: pick('format', oneOf(FORMATS)),
    groups: pick('groups', strings),
    all_groups: pick('all_groups', isBool),
    all_platforms: pick('all_platforms', isBool),
    limit_rate: pick('limit_rate', (v) => v === null || (typeof v === 'number' && v > 0)),
    only_binary: pick('only_binary', strings),
    no_binary: pick('no_binary', strings),
    prefer_binary: pick('prefer_binary', isBool),
    exclude_newer: pick('exclude_newer', (v) => v === null || (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v))),
    torch_backend: pick('torch_backend', (v) => v === null || oneOf(TORCH_BACKENDS)(v)),
    registry: pick('registry', (v) => v === null || (typeof v === 'string' && /^[\w.-]{1,100}$/.test(v))),
    ignore_manifest_indexes: pick('ignore_manifest_indexes', isBool),
  };
  if (!value.npm && !value.pypi) value.npm = value.pypi = true;
  return value;
}

export function saveOptions(value: TargetOptionsValue): void {
  try {
    window.localStorage.setItem(OPTIONS_STORAGE_KEY, JSON.stringify(value));
  } catch {
    // not remembered; still used for this task
  }
}

/** The options state, loaded from and saved to localStorage. */
export function useTargetOptions(): [TargetOptionsValue, (next: TargetOptionsValue) => void] {
  const [value, setValue] = useState<TargetOptionsValue>(loadOptions);
  const update = useCallback((next: TargetOptionsValue) => {
    setValue(next);
    saveOptions(next);
  }, []);
  return [value, update];
}

/** A task's options back in the form (to fix its manifests with the same target). */
export function fromTaskOptions(current: TargetOptionsValue, task: TaskOptions | null | undefined): TargetOptionsValue {
  if (!task) return current;
  const versions = task.python_versions?.length
    ? task.python_versions
    : task.python_version
      ? [task.python_version]
      : current.python_versions;
  const next: TargetOptionsValue = { ...current, python_versions: versions };
  for (const key of Object.keys(DEFAULT_OPTIONS) as (keyof TargetOptionsValue)[]) {
    const value = (task as Record<string, unknown>)[key];
    // null means "none" (no date, no limit), except for the Node target: "the default"
    const keepCurrent = value === null && ['node_version', 'os', 'cpu', 'libc'].includes(key);
    if (key !== 'python_versions' && value !== undefined && !keepCurrent) {
      (next as Record<string, unknown>)[key] = value;
    }
  }
  return next;
}

/** The options as the server takes them (libc only for linux; a remembered profile only
 * while the service still offers it). */
export function toTaskOptions(value: TargetOptionsValue, registries?: RegistryEntry[]): TaskOptions {
  const offered = registries === undefined || registries.some((r) => r.name === value.registry);
  return {
    ...value,
    libc: value.os === 'linux' ? value.libc : null,
    registry: offered ? value.registry : null,
    auto_download: false,
  };
}

export interface TargetOptionsProps {
  value?: TargetOptionsValue;
  onChange?: (next: TargetOptionsValue) => void;
  /** The source profiles the service offers; the selector shows only when there are some. */
  registries?: RegistryEntry[];
  /** The groups and extras the chosen files declare (null: not known yet). */
  declared?: DeclaredGroup[] | null;
}

/** A group name as the server compares it (PEP 503 style). */
export function groupKey(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** The remembered groups the files declare; all of them while that is not known. */
export function declaredOnly(groups: string[], declared: DeclaredGroup[] | null | undefined): string[] {
  if (!declared) return groups;
  const names = new Set(declared.map((g) => groupKey(g.name)));
  return groups.filter((g) => names.has(groupKey(g)));
}

/**
 * Controlled when `value`/`onChange` are given; otherwise it keeps (and remembers) its
 * own state.
 */
export function TargetOptions({ value, onChange, registries = [], declared = null }: TargetOptionsProps) {
  const [own, setOwn] = useTargetOptions();
  const current = value ?? own;
  const change = onChange ?? setOwn;
  const { t } = useI18n();
  const set = <K extends keyof TargetOptionsValue>(key: K, v: TargetOptionsValue[K]) =>
    change({ ...current, [key]: v });

  return (
    <Card
      size="small"
      title={t('options.title')}
      data-testid="target-options"
      extra={
        <Button
          size="small"
          type="text"
          icon={<UndoOutlined />}
          data-testid="options-reset"
          onClick={() => change({ ...DEFAULT_OPTIONS })}
        >
          {t('options.reset')}
        </Button>
      }
    >
      <Form layout="vertical" component="div">
        <Form.Item label={t('options.ecosystems')}>
          <Space>
            <Checkbox
              data-testid="option-npm"
              checked={current.npm}
              disabled={current.npm && !current.pypi}
              onChange={(e) => set('npm', e.target.checked)}
            >
              {t('options.npm')}
            </Checkbox>
            <Checkbox
              data-testid="option-pypi"
              checked={current.pypi}
              disabled={current.pypi && !current.npm}
              onChange={(e) => set('pypi', e.target.checked)}
            >
              {t('options.pypi')}
            </Checkbox>
          </Space>
        </Form.Item>
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item htmlFor="option-python-versions" label={t('options.python')}>
              <Select
                mode="multiple"
                data-testid="option-python-versions"
                id="option-python-versions"
                disabled={!current.pypi}
                value={current.python_versions}
                onChange={(v: string[]) => set('python_versions', v.length > 0 ? v : current.python_versions)}
                options={PYTHON_VERSIONS.map((v) => ({ value: v, label: v }))}
              />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item htmlFor="option-platforms" label={t('options.platforms')}>
              <Select
                mode="tags"
                showSearch
                allowClear
                data-testid="option-platforms"
                id="option-platforms"
                disabled={!current.pypi}
                placeholder={t('options.platforms.placeholder')}
                value={current.platforms}
                tokenSeparators={[',', ' ']}
                onChange={(v: string[]) => set('platforms', Array.from(new Set(v.map((s) => s.trim()).filter(Boolean))))}
                options={COMMON_PLATFORMS.map((v) => ({ value: v, label: v }))}
              />
            </Form.Item>
          </Col>
        </Row>
        <Row gutter={16}>
          {registries.length > 0 && (
            <Col xs={24} md={12}>
              <Form.Item htmlFor="option-registry" label={t('options.registry')} tooltip={t('options.registry.help')}>
                <Select
                  data-testid="option-registry"
                  id="option-registry"
                  value={registries.some((r) => r.name === current.registry) ? current.registry : ''}
                  onChange={(v: string) => set('registry', v || null)}
                  options={[
                    { value: '', label: t('options.registry.default') },
                    ...registries.map((r) => ({
                      value: r.name,
                      label: r.description ? `${r.name} — ${r.description}` : r.name,
                    })),
                  ]}
                />
              </Form.Item>
            </Col>
          )}
          <Col xs={24} md={registries.length > 0 ? 12 : 24}>
            <Form.Item label=" ">
              <Checkbox
                data-testid="option-ignore-manifest-indexes"
                checked={current.ignore_manifest_indexes}
                disabled={!current.pypi}
                onChange={(e) => set('ignore_manifest_indexes', e.target.checked)}
              >
                {t('options.ignoreManifestIndexes')}
              </Checkbox>
            </Form.Item>
          </Col>
        </Row>
        <Row gutter={16}>
          <Col xs={24} md={10}>
            <Form.Item label={t('options.wheels')} tooltip={t('options.wheels.help')}>
              <Radio.Group
                data-testid="option-wheels"
                optionType="button"
                disabled={!current.pypi}
                value={wheelChoice(current)}
                onChange={(e) => change(withWheelChoice(current, e.target.value as WheelChoice))}
                options={(['any', 'prefer', 'only'] as const).map((v) => ({
                  value: v,
                  label: t(`options.wheels.${v}`),
                }))}
              />
            </Form.Item>
          </Col>
          <Col xs={12} md={7}>
            <Form.Item htmlFor="option-exclude-newer" label={t('options.excludeNewer')} tooltip={t('options.excludeNewer.help')}>
              <Input
                type="date"
                data-testid="option-exclude-newer"
                id="option-exclude-newer"
                disabled={!current.pypi}
                value={current.exclude_newer ?? ''}
                onChange={(e) => set('exclude_newer', e.target.value || null)}
              />
            </Form.Item>
          </Col>
          <Col xs={12} md={7}>
            <Form.Item htmlFor="option-torch-backend" label={t('options.torch')} tooltip={t('options.torch.help')}>
              <Select
                data-testid="option-torch-backend"
                id="option-torch-backend"
                disabled={!current.pypi}
                value={current.torch_backend ?? ''}
                onChange={(v: string) => set('torch_backend', v || null)}
                options={[
                  { value: '', label: t('options.torch.none') },
                  ...TORCH_BACKENDS.map((v) => ({ value: v, label: v })),
                ]}
              />
            </Form.Item>
          </Col>
        </Row>
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item label={t('options.node')}>
              <Radio.Group
                data-testid="option-node-version"
                optionType="button"
                buttonStyle="solid"
                disabled={!current.npm}
                value={current.node_version}
                onChange={(e) => set('node_version', e.target.value as string)}
                options={NODE_VERSIONS.map((v) => ({ value: v, label: v }))}
              />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item label={t('options.format')}>
              <Radio.Group
                data-testid="option-format"
                optionType="button"
                value={current.format}
                onChange={(e) => set('format', e.target.value as TargetOptionsValue['format'])}
                options={FORMATS.map((v) => ({ value: v, label: v }))}
              />
            </Form.Item>
          </Col>
        </Row>
        <Form.Item htmlFor="option-limit-rate" label={t('options.limitRate')}>
          <Select
            data-testid="option-limit-rate"
            id="option-limit-rate"
            value={current.limit_rate ?? 0}
            onChange={(v: number) => set('limit_rate', v === 0 ? null : v)}
            options={RATE_LIMITS.map((v) => ({
              value: v ?? 0,
              label: v === null ? t('options.limitRate.none') : formatSpeed(v),
            }))}
          />
        </Form.Item>
        <Row gutter={16}>
          <Col xs={8}>
            <Form.Item htmlFor="option-os" label={t('options.os')}>
              <Select
                data-testid="option-os"
                id="option-os"
                disabled={!current.npm}
                value={current.os}
                onChange={(v: string) =>
                  change({ ...current, os: v, libc: v === 'linux' ? (current.libc ?? 'glibc') : current.libc })
                }
                options={OS_CHOICES.map((v) => ({ value: v, label: v }))}
              />
            </Form.Item>
          </Col>
          <Col xs={8}>
            <Form.Item htmlFor="option-cpu" label={t('options.cpu')}>
              <Select
                data-testid="option-cpu"
                id="option-cpu"
                disabled={!current.npm}
                value={current.cpu}
                onChange={(v: string) => set('cpu', v)}
                options={CPU_CHOICES.map((v) => ({ value: v, label: v }))}
              />
            </Form.Item>
          </Col>
          <Col xs={8}>
            <Form.Item htmlFor="option-libc" label={t('options.libc')}>
              <Select
                data-testid="option-libc"
                id="option-libc"
                disabled={!current.npm || current.os !== 'linux'}
                value={current.os === 'linux' ? current.libc : undefined}
                onChange={(v: string) => set('libc', v)}
                options={LIBC_CHOICES.map((v) => ({ value: v, label: v }))}
              />
            </Form.Item>
          </Col>
        </Row>
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item htmlFor="option-groups" label={t('options.groups')}>
              {declared ? (
                // offered from what the files declare, not typed by hand
                <Select
                  mode="multiple"
                  data-testid="option-groups"
                  id="option-groups"
                  placeholder={
                    declared.length > 0 ? t('options.groups.choose') : t('options.groups.none')
                  }
                  value={declaredOnly(current.groups, declared)}
                  disabled={current.all_groups || declared.length === 0}
                  onChange={(v: string[]) => set('groups', v)}
                  options={groupChoices(declared)}
                />
              ) : (
                <Select
                  mode="tags"
                  data-testid="option-groups"
                  id="option-groups"
                  placeholder={t('options.groups.placeholder')}
                  value={current.groups}
                  disabled={current.all_groups}
                  tokenSeparators={[',', ' ']}
                  onChange={(v: string[]) => set('groups', v)}
                  options={[]}
                />
              )}
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item label=" ">
              <Space direction="vertical" size={2}>
                <Checkbox
                  data-testid="option-all-groups"
                  checked={current.all_groups}
                  onChange={(e) => set('all_groups', e.target.checked)}
                >
                  {t('options.allGroups')}
                </Checkbox>
                <Checkbox
                  data-testid="option-all-platforms"
                  checked={current.all_platforms}
                  disabled={!current.npm}
                  onChange={(e) => set('all_platforms', e.target.checked)}
                >
                  {t('options.allPlatforms')}
                </Checkbox>
              </Space>
            </Form.Item>
          </Col>
        </Row>
      </Form>
    </Card>
  );
}

/** One choice per group name; a name both ecosystems declare ("dev") is one choice. */
function groupChoices(declared: DeclaredGroup[]): { value: string; label: string }[] {
  const byName = new Map<string, { value: string; files: string[] }>();
  for (const g of declared) {
    const entry = byName.get(g.name) ?? { value: g.name, files: [] };
    entry.files.push(...g.files.filter((f) => !entry.files.includes(f)));
    byName.set(g.name, entry);
  }
  return Array.from(byName.values()).map((e) => ({ value: e.value, label: `${e.value} (${e.files.join(', ')})` }));
}
