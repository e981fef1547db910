/**
 * Pure functions that turn the server's dependency documents into one tree model, with an
 * index for search (by name), ancestors (by key) and problems (by package).
 *
 * - npm: `npm.tree` is already nested (`npm ls` shape); the project's root wraps it.
 * - Python: one tree per target, built from `edges` (parent null = what the manifests
 *   asked for). A package reached again is shown once in full and then as "deduped"
 *   (breadth-first, so the shallowest occurrence is the full one); cycles are cut.
 *   Packages no edge reaches (build requirements of sdists) are added as roots.
 */
import type { NpmDeps, NpmTreeNode, Problem, PythonTargetDeps } from '../api/client';

export interface DepNode {
  key: string;
  name: string;
  version: string | null;
  size: number | null;
  spec?: string;
  deduped?: boolean;
  buildOnly?: boolean;
  /** A build-only package: the sdists it builds on the target. */
  buildFor?: string[];
  sdist?: boolean;
  /** Python: the file chosen for the target (the wheel's name says which build it is). */
  filename?: string;
  /** Python sdists: what the target likely needs to build it. */
  needs?: string[];
  /** Problems of this package (matched by name, and by version when the message names one). */
  problems: Problem[];
  /** Problem strings the server attached to this very node (npm). */
  nodeProblems: string[];
  children: DepNode[];
}

export interface TreeModel {
  id: string;
  ecosystem: 'npm' | 'pypi';
  roots: DepNode[];
  /** Every node by key, with its parent's key. */
  byKey: Map<string, { node: DepNode; parent: string | null }>;
  /** Node keys by normalised package name, in tree order. */
  keysByName: Map<string, string[]>;
  /** Keys of the nodes that have children (what "expand all" opens). */
  parentKeys: string[];
  /** The number of nodes. */
  size: number;
  /** Problems that belong to this tree. */
  problems: Problem[];
}

export function normalizePython(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export function normalizeNpm(name: string): string {
  return name.toLowerCase();
}

/** `foo`, `foo@^1.2`, `@scope/foo@1` → the package name. */
export function packageFromSpec(spec: string): string {
  const at = spec.startsWith('@') ? spec.indexOf('@', 1) : spec.indexOf('@');
  return at > 0 ? spec.slice(0, at) : spec;
}

export function normalizeFor(ecosystem: 'npm' | 'pypi', name: string): string {
  return ecosystem === 'npm' ? normalizeNpm(packageFromSpec(name)) : normalizePython(name);
}

function problemsByName(
  problems: Problem[],
  normalize: (name: string) => string,
): Map<string, Problem[]> {
  const out = new Map<string, Problem[]>();
  for (const p of problems) {
    if (!p.package) continue;
    const key = normalize(p.package);
    const list = out.get(key);
    if (list) list.push(p);
    else out.set(key, [p]);
  }
  return out;
}

function problemsFor(
  map: Map<string, Problem[]>,
  normalized: string,
  name: string,
  version: string | null,
): Problem[] {
  const list = map.get(normalized);
  if (!list) return [];
  if (!version) return list;
  // "foo@1.0.0 is deprecated" must not mark foo@2.0.0 elsewhere in the tree
  return list.filter((p) => {
    const prefix = `${name}@`;
    const i = p.message.indexOf(prefix);
    if (i < 0) return true;
    return p.message.startsWith(`${name}@${version}`, i);
  });
}

function indexTree(
  id: string,
  ecosystem: 'npm' | 'pypi',
  roots: DepNode[],
  problems: Problem[],
  normalize: (name: string) => string,
): TreeModel {
  const byKey = new Map<string, { node: DepNode; parent: string | null }>();
  const keysByName = new Map<string, string[]>();
  const parentKeys: string[] = [];
  // iterative, in display order (pre-order), so deep trees cannot overflow the stack
  const stack: { node: DepNode; parent: string | null }[] = [];
  for (let i = roots.length - 1; i >= 0; i -= 1) stack.push({ node: roots[i], parent: null });
  while (stack.length > 0) {
    const item = stack.pop()!;
    const { node } = item;
    byKey.set(node.key, item);
    const norm = normalize(node.name);
    const keys = keysByName.get(norm);
    if (keys) keys.push(node.key);
    else keysByName.set(norm, [node.key]);
    if (node.children.length > 0) parentKeys.push(node.key);
    for (let i = node.children.length - 1; i >= 0; i -= 1) {
      stack.push({ node: node.children[i], parent: node.key });
    }
  }
  return { id, ecosystem, roots, byKey, keysByName, parentKeys, size: byKey.size, problems };
}

export function buildNpmModel(doc: NpmDeps, id = 'npm'): TreeModel {
  const sizes = new Map<string, number | null>();
  for (const p of doc.packages ?? []) {
    const k = `${p.name}@${p.version}`;
    if (!sizes.has(k) || sizes.get(k) == null) sizes.set(k, p.size ?? null);
  }
  const problems = doc.problems ?? [];
  const byName = problemsByName(problems, (n) => normalizeNpm(packageFromSpec(n)));
  let counter = 0;
  const grow = (n: NpmTreeNode): DepNode => ({
    key: `${id}:${counter++}`,
    name: n.name,
    version: n.version ?? null,
    size: sizes.get(`${n.name}@${n.version}`) ?? null,
    spec: n.spec || undefined,
    deduped: n.deduped || undefined,
    problems: problemsFor(byName, normalizeNpm(n.name), n.name, n.version ?? null),
    nodeProblems: n.problems ?? [],
    children: (n.children ?? []).map(grow),
  });
  const tree = (doc.tree ?? []).map(grow);
  let roots = tree;
  if (doc.root && doc.root.name) {
    roots = [
      {
        key: `${id}:root`,
        name: doc.root.name,
        version: doc.root.version || null,
        size: null,
        problems: [],
        nodeProblems: [],
        children: tree,
      },
    ];
  }
  return indexTree(id, 'npm', roots, problems, (n) => normalizeNpm(packageFromSpec(n)));
}

export function buildPythonModel(doc: PythonTargetDeps, id = `pypi-${doc.target.key}`): TreeModel {
  // what installs (one version per name); build-only packages are kept apart, since an
  // sdist's build environment may hold another version of an installed package
  const packages = new Map<string, PythonTargetDeps['packages'][number]>();
  const buildOnly: PythonTargetDeps['packages'] = [];
  for (const p of doc.packages ?? []) {
    if (p.build_only) buildOnly.push(p);
    else packages.set(normalizePython(p.name), p);
  }
  const problems = doc.problems ?? [];
  const byName = problemsByName(problems, normalizePython);

  const childrenOf = new Map<string | null, PythonTargetDeps['edges']>();
  for (const e of doc.edges ?? []) {
    const parent = e.parent == null ? null : normalizePython(e.parent);
    const list = childrenOf.get(parent);
    if (list) list.push(e);
    else childrenOf.set(parent, [e]);
  }

  let counter = 0;
  const makeNode = (rawName: string, spec?: string): DepNode => {
    const norm = normalizePython(rawName);
    const pkg = packages.get(norm);
    const name = pkg?.name ?? rawName;
    const version = pkg?.version ?? null;
    return {
      key: `${id}:${counter++}`,
      name,
      version,
      size: pkg?.size ?? null,
      spec: spec || undefined,
      sdist: pkg ? pkg.kind === 'sdist' || undefined : undefined,
      filename: pkg?.filename,
      needs: pkg?.needs?.length ? pkg.needs : undefined,
      problems: problemsFor(byName, norm, name, version),
      nodeProblems: [],
      children: [],
    };
  };

  const uniqueByChild = (edges: PythonTargetDeps['edges']) => {
    const seen = new Set<string>();
    return edges.filter((e) => {
      const k = normalizePython(e.child);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  };

  const roots: DepNode[] = [];
  const expanded = new Set<string>();
  type Item = { node: DepNode; norm: string; ancestors: Set<string> };
  const queue: Item[] = [];
  for (const e of uniqueByChild(childrenOf.get(null) ?? [])) {
    const node = makeNode(e.child, e.specifier);
    roots.push(node);
    queue.push({ node, norm: normalizePython(e.child), ancestors: new Set() });
  }
  // breadth first: the shallowest occurrence of a package is the one shown in full
  for (let i = 0; i < queue.length; i += 1) {
    const { node, norm, ancestors } = queue[i];
    const kids = uniqueByChild(childrenOf.get(norm) ?? []).filter(
      (e) => !ancestors.has(normalizePython(e.child)) && normalizePython(e.child) !== norm,
    );
    if (expanded.has(norm)) {
      if (kids.length > 0) node.deduped = true;
      continue;
    }
    expanded.add(norm);
    const nextAncestors = new Set(ancestors);
    nextAncestors.add(norm);
    for (const e of kids) {
      const child = makeNode(e.child, e.specifier);
      node.children.push(child);
      queue.push({ node: child, norm: normalizePython(e.child), ancestors: nextAncestors });
    }
  }
  // packages no edge reaches (sdists' build requirements, or no edges at all)
  for (const [norm, pkg] of packages) {
    if (!expanded.has(norm)) roots.push(makeNode(pkg.name));
  }
  for (const pkg of buildOnly) {
    roots.push({
      key: `${id}:${counter++}`,
      name: pkg.name,
      version: pkg.version,
      size: pkg.size ?? null,
      buildOnly: true,
      buildFor: pkg.build_for?.length ? pkg.build_for : undefined,
      sdist: pkg.kind === 'sdist' || undefined,
      filename: pkg.filename,
      needs: pkg.needs?.length ? pkg.needs : undefined,
      problems: problemsFor(byName, normalizePython(pkg.name), pkg.name, pkg.version),
      nodeProblems: [],
      children: [],
    });
  }
  return indexTree(id, 'pypi', roots, problems, normalizePython);
}

/** Keys of `key`'s ancestors, nearest last. */
export function ancestorsOf(model: TreeModel, key: string): string[] {
  const out: string[] = [];
  let parent = model.byKey.get(key)?.parent ?? null;
  while (parent !== null) {
    out.unshift(parent);
    parent = model.byKey.get(parent)?.parent ?? null;
  }
  return out;
}

/** Keys of the nodes whose name contains `query` (case-insensitive), in tree order. */
export function searchModel(model: TreeModel, query: string): string[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const out: string[] = [];
  for (const [key, { node }] of model.byKey) {
    if (node.name.toLowerCase().includes(q)) out.push(key);
  }
  return out;
}

/** The worst severity among a node's problems, or null. */
export function worstSeverity(node: DepNode): Problem['severity'] | null {
  let worst: Problem['severity'] | null = null;
  for (const p of node.problems) {
    if (p.severity === 'error') return 'error';
    if (p.severity === 'warning') worst = 'warning';
    else if (!worst) worst = 'info';
  }
  if (node.nodeProblems.length > 0 && (worst === null || worst === 'info')) return 'warning';
  return worst;
}

/**
 * The nodes a search shows, like `npm ls <name>`: every match and the path that leads to
 * it, nothing else. A match's own children are left out (the user asked where it is, not
 * what it pulls in); the tree keeps its order.
 */
export function filterRoots(model: TreeModel, matches: string[]): DepNode[] {
  const keep = new Set<string>();
  for (const key of matches) {
    keep.add(key);
    for (const a of ancestorsOf(model, key)) keep.add(a);
  }
  const matched = new Set(matches);
  const prune = (nodes: DepNode[]): DepNode[] =>
    nodes
      .filter((n) => keep.has(n.key))
      .map((n) => ({ ...n, children: matched.has(n.key) ? [] : prune(n.children) }));
  return prune(model.roots);
}

/**
 * Where a deduped node is shown in full: the first node of the same package (and version,
 * when known) that is not itself deduped. Null when there is none.
 */
export function fullEntryOf(model: TreeModel, key: string): string | null {
  const node = model.byKey.get(key)?.node;
  if (!node) return null;
  const normalize = model.ecosystem === 'npm' ? normalizeNpm : normalizePython;
  for (const other of model.keysByName.get(normalize(node.name)) ?? []) {
    if (other === key) continue;
    const candidate = model.byKey.get(other)!.node;
    if (candidate.deduped) continue;
    if (node.version && candidate.version && candidate.version !== node.version) continue;
    return other;
  }
  return null;
}
