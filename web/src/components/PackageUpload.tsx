/**
 * The package store's upload, in a dialog: the file, the four fields that identify it
 * (name, version, platform, arch) and a description, checked here by the server's own
 * rules (`store/packages.py` check_identifier, `server/forms.py`) so that most mistakes
 * are said before a byte is sent. A package stored under the same four is looked up
 * first (the server would refuse it with a 409 anyway); the file then goes up with real
 * progress (XMLHttpRequest), and a refusal is said in the reader's language by its code,
 * a duplicate with a way to the stored one.
 */
import { useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { Alert, App, Button, Form, Input, Modal, Progress, Space, Typography, Upload } from 'antd';
import type { UploadFile } from 'antd';
import type { UploadChangeParam } from 'antd/es/upload';
import { CloudUploadOutlined, InboxOutlined } from '@ant-design/icons';
import { ApiError, findPackage, uploadPackage } from '../api/client';
import type { Package, PackageFields, Transferred } from '../api/client';
import { formatBytes, formatSpeed } from '../format';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n';
import { catalogText, useServerText } from '../serverText';

// the server's limits (store/packages.py FIELD_LIMITS, DESCRIPTION_MAX_BYTES); a test
// holds them to the maxLength of the upload form in openapi.json
export const FIELD_LIMITS = { name: 100, version: 64, platform: 32, arch: 32 } as const;
export type IdentifierField = keyof typeof FIELD_LIMITS;
export const IDENTIFIER_FIELDS = Object.keys(FIELD_LIMITS) as IdentifierField[];
export const DESCRIPTION_MAX_BYTES = 10 * 1024;
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;

export type FieldProblem = { kind: 'missing' } | { kind: 'long'; limit: number } | { kind: 'unsafe' };

/** What the server would say of this name, version, platform or arch; null: nothing. In
 * its order: missing, too long (in characters, as Python counts them), unsafe. */
export function identifierProblem(field: IdentifierField, value: string): FieldProblem | null {
  if (!value) return { kind: 'missing' };
  const limit = FIELD_LIMITS[field];
  if ([...value].length > limit) return { kind: 'long', limit };
  // safe in a path, a URL and a file name: no "/", no "..", nothing to hide
  if (!IDENTIFIER.test(value) || value.includes('..')) return { kind: 'unsafe' };
  return null;
}

export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

const PLATFORM_WORDS = ['linux', 'windows', 'win32', 'win64', 'darwin', 'macos', 'freebsd', 'android'];
const ARCH_WORDS = ['x86_64', 'amd64', 'aarch64', 'arm64', 'armv7l', 'armhf', 'i686', 'i386', 'riscv64', 'ppc64le', 's390x', 'noarch'];

function word(words: string[], text: string): string | undefined {
  const pattern = new RegExp(`(?:^|[-_.])(${words.join('|')})(?=$|[-_.])`, 'i');
  return pattern.exec(text)?.[1].toLowerCase();
}

/** A first guess at the fields from a file's name ("agent-1.4.2-linux-x86_64.tar.gz"):
 * only what it clearly says; the form fills only the fields still empty. */
export function guessFromFilename(filename: string): Partial<Record<IdentifierField, string>> {
  const guess: Partial<Record<IdentifierField, string>> = {};
  const named = /^([A-Za-z0-9][A-Za-z0-9._+~-]*?)[-_]v?(\d+(?:\.\d+)+(?:[-.+~]?(?:rc|alpha|beta|dev|post|a|b)\d*)?)(?=$|[-_.])/i.exec(
    filename,
  );
  if (named) {
    guess.name = named[1];
    guess.version = named[2];
  }
  const rest = named ? filename.slice(named[0].length) : filename;
  const platform = word(PLATFORM_WORDS, rest);
  const arch = word(ARCH_WORDS, rest);
  if (platform) guess.platform = platform;
  if (arch) guess.arch = arch;
  return guess;
}

interface FormValues {
  file?: UploadFile[];
  name?: string;
  version?: string;
  platform?: string;
  arch?: string;
  description?: string;
}

/** The four fields that identify a package, and its id. */
export interface PackageKey {
  id: string;
  name: string;
  version: string;
  platform: string;
  arch: string;
}

type Phase = 'form' | 'checking' | 'sending' | 'storing' | 'done';

const FIELD_LABEL: Record<IdentifierField, MessageKey> = {
  name: 'packages.name',
  version: 'packages.version',
  platform: 'packages.platform',
  arch: 'packages.arch',
};
const PLACEHOLDER: Record<IdentifierField, MessageKey> = {
  name: 'packages.name.placeholder',
  version: 'packages.version.placeholder',
  platform: 'packages.platform.placeholder',
  arch: 'packages.arch.placeholder',
};
const SUGGESTIONS: Partial<Record<IdentifierField, string[]>> = {
  platform: ['linux', 'windows', 'darwin'],
  arch: ['x86_64', 'aarch64', 'arm64', 'amd64'],
};

function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

/** The 409 the server would answer, for a duplicate found before the upload. */
function existsError(existing: Package): ApiError {
  const params = {
    name: existing.name,
    version: existing.version,
    platform: existing.platform,
    arch: existing.arch,
    package_id: existing.id,
  };
  return new ApiError(409, {
    code: 'package-exists',
    message: catalogText('en', 'error', 'package-exists', params) ?? `package ${existing.id} is stored already`,
    params,
    hint: catalogText('en', 'hint', 'package-exists', {}),
    hint_code: 'package-exists',
    hint_params: {},
  });
}

/** The stored package a 409 names (its params; the document's `package_id` as well). */
export function existingOf(err: unknown): PackageKey | null {
  if (!(err instanceof ApiError) || err.status !== 409 || err.code !== 'package-exists') return null;
  const p = err.params ?? {};
  const body = err.body as { package_id?: unknown } | undefined;
  const id = p.package_id ?? (typeof body?.package_id === 'string' ? body.package_id : undefined);
  if (!id || !p.name || !p.version || !p.platform || !p.arch) return null;
  return { id, name: p.name, version: p.version, platform: p.platform, arch: p.arch };
}

export interface PackageUploadProps {
  open: boolean;
  onClose: () => void;
  /** Stored: the list shows it. */
  onUploaded: (pkg: Package) => void;
  /** "Show the stored one" after a 409. */
  onShowExisting: (existing: PackageKey) => void;
}

export function PackageUpload({ open, onClose, onUploaded, onShowExisting }: PackageUploadProps) {
  const { t } = useI18n();
  const said = useServerText();
  const { message } = App.useApp();
  const [form] = Form.useForm<FormValues>();
  const [phase, setPhase] = useState<Phase>('form');
  const [sent, setSent] = useState<Transferred>({ loaded: 0, total: null });
  const [error, setError] = useState<Error | null>(null);
  const [stored, setStored] = useState<Package | null>(null);
  const running = useRef<AbortController | null>(null);
  const startedAt = useRef(0);
  const busy = phase === 'checking' || phase === 'sending' || phase === 'storing';

  const identifierRule = (field: IdentifierField) => ({
    validator: async (_: unknown, value: string | undefined) => {
      const problem = identifierProblem(field, value ?? '');
      if (!problem) return;
      if (problem.kind === 'missing') throw new Error(t('packages.field.required', { field: t(FIELD_LABEL[field]).toLowerCase() }));
      if (problem.kind === 'long') throw new Error(t('packages.field.long', { limit: problem.limit }));
      throw new Error(t('packages.field.unsafe'));
    },
  });

  const fileRule = {
    validator: async (_: unknown, value: UploadFile[] | undefined) => {
      const file = value?.[0];
      if (!file) throw new Error(t('packages.file.required'));
      if ((file.originFileObj?.size ?? file.size ?? 0) === 0) throw new Error(t('packages.file.empty'));
    },
  };

  const descriptionRule = {
    validator: async (_: unknown, value: string | undefined) => {
      const size = utf8Length(value ?? '');
      if (size > DESCRIPTION_MAX_BYTES) {
        throw new Error(t('packages.description.long', { limit: DESCRIPTION_MAX_BYTES, size }));
      }
    },
  };

  const reset = () => {
    form.resetFields();
    setPhase('form');
    setError(null);
    setStored(null);
    setSent({ loaded: 0, total: null });
  };

  const chosen = ({ fileList }: UploadChangeParam) => {
    const file = fileList.at(-1);
    if (!file) return;
    const guess = guessFromFilename(file.name);
    const values = form.getFieldsValue(IDENTIFIER_FIELDS);
    const fill = Object.fromEntries(IDENTIFIER_FIELDS.filter((f) => !values[f] && guess[f]).map((f) => [f, guess[f]]));
    if (Object.keys(fill).length > 0) form.setFieldsValue(fill);
  };

  const submit = async (values: FormValues) => {
    const file = values.file?.[0]?.originFileObj;
    if (!file) return;
    const fields: PackageFields = {
      name: values.name ?? '',
      version: values.version ?? '',
      platform: values.platform ?? '',
      arch: values.arch ?? '',
      description: values.description ?? '',
    };
    const ctrl = new AbortController();
    running.current = ctrl;
    setError(null);
    setPhase('checking');
    setSent({ loaded: 0, total: file.size });
    try {
      // a duplicate is refused anyway: better before the file is sent than after
      const existing = await findPackage(fields, ctrl.signal);
      if (existing) throw existsError(existing);
      setPhase('sending');
      startedAt.current = performance.now();
      const pkg = await uploadPackage(
        fields,
        file,
        (progress) => {
          setSent(progress);
          // every byte sent: the server still hashes and stores it before it answers
          if (progress.total !== null && progress.loaded >= progress.total) setPhase('storing');
        },
        ctrl.signal,
      );
      setStored(pkg);
      setPhase('done');
      onUploaded(pkg);
    } catch (err) {
      setPhase('form');
      if (isAbort(err)) {
        void message.info(t('packages.upload.cancelled'));
        return;
      }
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      running.current = null;
    }
  };

  const close = () => {
    running.current?.abort();
    onClose();
  };

  const existing = existingOf(error);
  const apiError = error instanceof ApiError ? error : null;
  const hint = apiError?.hint
    ? said('hint', { code: apiError.hintCode, params: apiError.hintParams, message: apiError.hint })
    : null;
  const percent = phase === 'storing' ? 100 : sent.total ? Math.floor((sent.loaded / sent.total) * 100) : 0;
  const seconds = (performance.now() - startedAt.current) / 1000;
  const speed = phase === 'sending' && seconds > 0.5 ? ` · ${formatSpeed(sent.loaded / seconds)}` : '';

  let footer: ReactNode;
  if (phase === 'done') {
    footer = [
      <Button key="another" onClick={reset} data-testid="package-upload-another">
        {t('packages.upload.another')}
      </Button>,
      <Button key="close" type="primary" onClick={close} data-testid="package-upload-close">
        {t('packages.upload.close')}
      </Button>,
    ];
  } else {
    footer = [
      <Button key="cancel" onClick={busy ? () => running.current?.abort() : close} data-testid="package-upload-cancel">
        {t('packages.upload.cancel')}
      </Button>,
      <Button
        key="submit"
        type="primary"
        icon={<CloudUploadOutlined />}
        loading={busy}
        onClick={() => form.submit()}
        data-testid="package-upload-submit"
      >
        {t('packages.upload.submit')}
      </Button>,
    ];
  }

  return (
    <Modal
      open={open}
      title={t('packages.upload.title')}
      onCancel={close}
      maskClosable={!busy}
      footer={footer}
      afterClose={() => {
        if (phase === 'done') reset();
      }}
      width={640}
      data-testid="package-upload"
    >
      <Form<FormValues>
        form={form}
        layout="vertical"
        onFinish={submit}
        disabled={busy || phase === 'done'}
        requiredMark="optional"
        className="package-upload-form"
        data-testid="package-upload-form"
      >
        <Form.Item
          name="file"
          label={t('packages.upload.file')}
          valuePropName="fileList"
          getValueFromEvent={(e: UploadChangeParam) => e.fileList.slice(-1)}
          rules={[fileRule]}
          required
        >
          <Upload.Dragger beforeUpload={() => false} maxCount={1} onChange={chosen} className="package-upload-dragger">
            <p className="ant-upload-drag-icon">
              <InboxOutlined />
            </p>
            <p className="ant-upload-text">{t('packages.upload.drag')}</p>
            <p className="ant-upload-hint">{t('packages.upload.fileHint')}</p>
          </Upload.Dragger>
        </Form.Item>
        <div className="package-upload-fields">
          {IDENTIFIER_FIELDS.map((field) => (
            <Form.Item key={field} name={field} label={t(FIELD_LABEL[field])} rules={[identifierRule(field)]} required>
              <Input
                placeholder={t(PLACEHOLDER[field])}
                data-testid={`package-upload-${field}`}
                autoComplete="off"
                list={SUGGESTIONS[field] ? `package-upload-${field}-suggestions` : undefined}
              />
            </Form.Item>
          ))}
          {/* the browser's own suggestions: the usual values, any other still typed */}
          {IDENTIFIER_FIELDS.filter((field) => SUGGESTIONS[field]).map((field) => (
            <datalist key={field} id={`package-upload-${field}-suggestions`}>
              {SUGGESTIONS[field]?.map((value) => <option key={value} value={value} />)}
            </datalist>
          ))}
        </div>
        <Form.Item name="description" label={t('packages.description')} rules={[descriptionRule]}>
          <Input.TextArea
            rows={2}
            placeholder={t('packages.description.placeholder')}
            data-testid="package-upload-description"
            count={{ show: true, max: DESCRIPTION_MAX_BYTES, strategy: utf8Length }}
          />
        </Form.Item>
      </Form>

      {phase !== 'form' && phase !== 'done' && (
        <div className="package-upload-progress" data-testid="package-upload-progress" data-phase={phase} data-percent={percent}>
          <Progress percent={percent} status="active" aria-label={t('packages.upload.progress')} />
          <Typography.Text type="secondary" data-testid="package-upload-sent">
            {phase === 'checking'
              ? t('packages.upload.checking')
              : phase === 'storing'
                ? t('packages.upload.storing')
                : `${t('packages.upload.sending', { sent: formatBytes(sent.loaded), total: formatBytes(sent.total) })}${speed}`}
          </Typography.Text>
        </div>
      )}

      {phase === 'done' && stored && (
        <Alert
          type="success"
          showIcon
          data-testid="package-upload-done"
          data-package-id={stored.id}
          message={t('packages.upload.done', { name: stored.name, version: stored.version, platform: stored.platform, arch: stored.arch })}
          description={
            <Space direction="vertical" size={2} className="package-upload-stored">
              <Progress percent={100} size="small" aria-label={t('packages.upload.progress')} />
              <span>
                {stored.filename} · {formatBytes(stored.size)}
              </span>
              <Typography.Text code copyable className="package-sha-full" data-testid="package-upload-sha256">
                {stored.sha256}
              </Typography.Text>
            </Space>
          }
        />
      )}

      {error && (
        <Alert
          type="error"
          showIcon
          data-testid="package-upload-error"
          data-code={apiError?.code}
          message={
            <span>
              {existing ? t('packages.upload.exists') : t('packages.upload.refused')}{' '}
              {apiError?.code ? <Typography.Text code>{apiError.code}</Typography.Text> : null}
            </span>
          }
          description={
            <Space direction="vertical" size={4}>
              <div data-testid="package-upload-error-message">{apiError ? said('error', apiError) : error.message}</div>
              {hint && (
                <div className="error-hint" data-testid="package-upload-error-hint">
                  {hint}
                </div>
              )}
              {existing && (
                <Button size="small" onClick={() => onShowExisting(existing)} data-testid="package-upload-show-existing">
                  {t('packages.upload.showExisting')}
                </Button>
              )}
            </Space>
          }
        />
      )}
    </Modal>
  );
}
