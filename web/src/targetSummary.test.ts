import { describe, expect, it } from 'vitest';
import type { Dependencies, TaskOptions } from './api/client';
import { targetLine, targetParts } from './targetSummary';

const options = (o: Partial<TaskOptions>): TaskOptions => o as TaskOptions;

describe('target summary', () => {
  it('reads the options before there is an analysis', () => {
    const line = targetLine(
      targetParts(
        options({
          python_versions: ['3.11', '3.12'],
          platforms: ['manylinux_2_28_x86_64', 'win_amd64'],
          node_version: '20',
          os: 'win32',
          cpu: 'x64',
          libc: 'glibc',
        }),
      ),
    );
    // libc only means something on Linux
    expect(line).toBe('Python 3.11, 3.12 · manylinux_2_28_x86_64, win_amd64 | Node 20 · win32 · x64');
  });

  it('prefers what was resolved, and leaves out an ecosystem the task does not have', () => {
    const deps = {
      task_id: 't',
      python: {
        ecosystem: 'pypi',
        targets: [
          { target: { key: 'a', python: '3.13', platform: 'macosx_14_0_arm64', implementation: 'cp' } },
        ],
      },
      npm: null,
    } as unknown as Dependencies;
    const parts = targetParts(options({ python_version: '3.12', node_version: '20', os: 'linux' }), deps);
    expect(parts).toEqual({ python: 'Python 3.13 · macosx_14_0_arm64', node: null });
    expect(targetLine(targetParts(options({ pypi: false, npm: false })))).toBe('');
  });
});
