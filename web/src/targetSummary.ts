/**
 * The machine a task's bundle is for, in one line: "Python 3.12 · win_amd64 | Node 20 ·
 * win32 · x64". From the analysis when there is one (what was actually resolved), else
 * from the options the task was created with.
 */
import type { Dependencies, TaskOptions } from './api/client';

export interface TargetParts {
  /** "Python 3.11, 3.12 · manylinux_2_28_x86_64, win_amd64", or null without Python. */
  python: string | null;
  /** "Node 20 · linux · x64 · glibc", or null without npm. */
  node: string | null;
}

function unique(values: string[]): string[] {
  return [...new Set(values.filter(Boolean))];
}

function pythonPart(versions: string[], platforms: string[]): string | null {
  if (versions.length === 0 && platforms.length === 0) return null;
  const left = versions.length ? `Python ${versions.join(', ')}` : 'Python';
  return platforms.length ? `${left} · ${platforms.join(', ')}` : left;
}

function nodePart(node: string | null | undefined, os?: string | null, cpu?: string | null, libc?: string | null) {
  const parts = [`Node ${node ?? ''}`.trim(), os, cpu, os === 'linux' ? libc : null].filter(
    (p): p is string => Boolean(p),
  );
  return parts.join(' · ');
}

export function targetParts(options: TaskOptions | null | undefined, deps?: Dependencies | null): TargetParts {
  let python: string | null = null;
  let node: string | null = null;
  const pyTargets = deps?.python?.targets ?? [];
  if (pyTargets.length > 0) {
    python = pythonPart(
      unique(pyTargets.map((t) => t.target.python)),
      unique(pyTargets.map((t) => t.target.platform)),
    );
  } else if (options && options.pypi !== false && !deps?.npm) {
    const versions = unique([...(options.python_versions ?? []), options.python_version ?? '']);
    python = pythonPart(versions, unique(options.platforms ?? []));
  }
  const npmTarget = deps?.npm?.target;
  if (npmTarget) {
    node = nodePart(npmTarget.node, npmTarget.os, npmTarget.cpu, npmTarget.libc);
  } else if (options && options.npm !== false && (options.node_version || options.os) && !deps?.python) {
    node = nodePart(options.node_version, options.os, options.cpu, options.libc);
  }
  return { python, node };
}

export function targetLine(parts: TargetParts): string {
  return [parts.python, parts.node].filter(Boolean).join(' | ');
}

// npm's manifest names, exactly (tasks/uploads.py); every other accepted file is Python's
const NPM_FILES = new Set(['package.json', 'package-lock.json', 'npm-shrinkwrap.json', '.npmrc', 'npmrc']);

/**
 * A listed task's target, from its options alone (a list has no analysis at hand), and
 * only for the ecosystems its files have: the upload step sends a Node target even with a
 * lone requirements.txt.
 */
export function uploadedTarget(options: TaskOptions | null | undefined, files: readonly string[]): TargetParts {
  if (!options) return { python: null, node: null };
  const hasNpm = files.some((f) => NPM_FILES.has(f));
  const hasPython = files.some((f) => !NPM_FILES.has(f));
  return targetParts({ ...options, npm: options.npm !== false && hasNpm, pypi: options.pypi !== false && hasPython });
}
