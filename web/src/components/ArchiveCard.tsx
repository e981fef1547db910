/**
 * The done step's "carry it across": the archive's name, size and SHA-256 (to check the
 * copy on the other side, from outside the archive), the commands that unpack and install
 * it on the target's operating system, and when the server deletes it.
 */
import { Card, Descriptions, Typography } from 'antd';
import type { Dependencies, Task } from '../api/client';
import { formatBytes, formatDateTime } from '../format';
import { useI18n } from '../i18n';

/** Does the bundle target Windows (install.ps1) and/or a POSIX system (install.sh)? */
export function targetSystems(task: Task, deps?: Dependencies | null): { windows: boolean; posix: boolean } {
  const platforms = deps?.python?.targets?.map((t) => t.target.platform) ?? task.options?.platforms ?? [];
  const nodeOs = deps?.npm?.target?.os ?? task.options?.os ?? null;
  const systems = [...platforms.map((p) => (p.startsWith('win') ? 'win' : 'posix')), nodeOs === 'win32' ? 'win' : nodeOs ? 'posix' : null];
  const windows = systems.includes('win');
  const posix = systems.includes('posix') || !windows;
  return { windows, posix };
}

function unpackCommand(name: string, windows: boolean): string {
  if (name.endsWith('.zip')) return windows ? `Expand-Archive ${name} -DestinationPath .` : `unzip ${name}`;
  if (name.endsWith('.tar.zst')) return `tar --zstd -xf ${name}`;
  return `tar xzf ${name}`;
}

function Command({ children, testId }: { children: string; testId: string }) {
  return (
    <Typography.Text code copyable data-testid={testId} className="archive-command">
      {children}
    </Typography.Text>
  );
}

export function ArchiveCard({ task, deps }: { task: Task; deps?: Dependencies | null }) {
  const { t } = useI18n();
  const name = task.archive_name;
  if (!name) return null;
  const { windows, posix } = targetSystems(task, deps);
  // the archive's top folder: the server writes every task's archive as bundle.<format>
  const root = 'bundle';
  return (
    <Card size="small" title={t('archive.title')} data-testid="archive-card">
      <Descriptions size="small" column={1}>
        <Descriptions.Item label={t('archive.file')}>
          {/* one inline box: a flex item would drop the space before the dot */}
          <span>
            <Typography.Text data-testid="archive-name">{name}</Typography.Text>
            {` · ${formatBytes(task.archive_size)}`}
          </span>
        </Descriptions.Item>
        <Descriptions.Item label="SHA-256">
          <Typography.Text code copyable data-testid="archive-sha256" className="archive-sha">
            {task.archive_sha256 ?? ''}
          </Typography.Text>
        </Descriptions.Item>
        <Descriptions.Item label={t('archive.check')}>
          <Command testId="archive-check">
            {windows && !posix ? `(Get-FileHash ${name}).Hash.ToLower()` : `sha256sum ${name}`}
          </Command>
        </Descriptions.Item>
        {posix && (
          <Descriptions.Item label={t('archive.install', { system: 'Linux / macOS' })}>
            <Command testId="archive-install-sh">{`${unpackCommand(name, false)} && sh ${root}/install.sh`}</Command>
          </Descriptions.Item>
        )}
        {windows && (
          <Descriptions.Item label={t('archive.install', { system: 'Windows' })}>
            <Command testId="archive-install-ps1">
              {`${unpackCommand(name, true)}; powershell -ExecutionPolicy Bypass -File ${root}\\install.ps1`}
            </Command>
          </Descriptions.Item>
        )}
        {task.expires_at && (
          <Descriptions.Item label={t('archive.expires')}>
            <span data-testid="archive-expires">{formatDateTime(task.expires_at)}</span>
          </Descriptions.Item>
        )}
      </Descriptions>
    </Card>
  );
}
