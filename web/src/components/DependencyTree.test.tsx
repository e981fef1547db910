import { describe, expect, it } from 'vitest';
import { createRef } from 'react';
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import type { NpmDeps, NpmTreeNode, PythonTargetDeps } from '../api/client';
import { I18nProvider } from '../i18n';
import { DependencyTree } from './DependencyTree';
import type { DependencyTreeHandle } from './DependencyTree';
import { buildPythonModel, filterRoots, fullEntryOf, searchModel } from './depModel';
import { npmPackage, pythonPackage } from '../test/fakes';

const pkg = (name: string, version: string, size: number, extra: Partial<PythonTargetDeps['packages'][number]> = {}) =>
  pythonPackage({ name, version, size, ...extra });

const edge = (parent: string | null, child: string, specifier = '') => ({
  parent,
  child,
  specifier,
  extras: [],
  origin: parent === null ? 'requirements.txt' : null,
});

// flask → werkzeug → markupsafe, flask → jinja2 → markupsafe, flask → click; requests → idna
const python: PythonTargetDeps = {
  target: { key: 'cp312-manylinux2014_x86_64', python: '3.12', platform: 'manylinux2014_x86_64', implementation: 'cp' },
  count: 8,
  total_bytes: 3_000_000,
  packages: [
    pkg('flask', '3.0.3', 101_000),
    pkg('werkzeug', '3.0.4', 227_000),
    pkg('jinja2', '3.1.4', 133_000),
    pkg('markupsafe', '2.1.5', 25_000),
    pkg('click', '8.1.7', 97_000, { yanked: 'broken metadata' }),
    pkg('requests', '2.32.3', 64_000),
    pkg('idna', '3.8', 66_000),
    pkg('setuptools', '75.1.0', 1_200_000, { build_only: true }),
  ],
  edges: [
    edge(null, 'Flask', '>=3'),
    edge(null, 'requests', '==2.32.3'),
    edge('flask', 'Werkzeug', '>=3.0.0'),
    edge('flask', 'Jinja2', '>=3.1.2'),
    edge('flask', 'click', '>=8.1.3'),
    edge('werkzeug', 'MarkupSafe', '>=2.1.1'),
    edge('jinja2', 'MarkupSafe', '>=2.0'),
    edge('requests', 'idna', '<4,>=2.5'),
  ],
  problems: [
    {
      severity: 'warning',
      kind: 'yanked',
      message: 'click 8.1.7 is yanked: broken metadata',
      package: 'click',
      target: 'cp312-manylinux2014_x86_64',
      chain: [],
    },
  ],
};

function renderTree(ui: React.ReactElement) {
  return render(<I18nProvider initial="en">{ui}</I18nProvider>);
}

function visibleNames(container: HTMLElement): string[] {
  return Array.from(container.querySelectorAll('[data-testid="tree-node"]')).map(
    (el) => el.getAttribute('data-name') ?? '',
  );
}

describe('buildPythonModel', () => {
  it('builds the tree from edges: roots, children, dedupe, unreached packages', () => {
    const model = buildPythonModel(python);
    const names = model.roots.map((r) => r.name);
    expect(names).toEqual(['flask', 'requests', 'setuptools']);
    const flask = model.roots[0];
    expect(flask.version).toBe('3.0.3');
    expect(flask.children.map((c) => c.name)).toEqual(['werkzeug', 'jinja2', 'click']);
    const [werkzeug, jinja2] = flask.children;
    // markupsafe shown in full once (breadth first), nothing to dedupe as it has no children
    expect(werkzeug.children.map((c) => c.name)).toEqual(['markupsafe']);
    expect(jinja2.children.map((c) => c.name)).toEqual(['markupsafe']);
    expect(model.roots[2].buildOnly).toBe(true);
    expect(model.keysByName.get('markupsafe')).toHaveLength(2);
    expect(model.size).toBe(9);
  });

  it('keeps a build-only version of an installed package apart from the installed one', () => {
    const doc: PythonTargetDeps = {
      ...python,
      packages: [
        ...python.packages,
        pkg('markupsafe', '2.0.0', 18_000, { build_only: true, build_for: ['legacy-ext 1.0'] }),
      ],
    };
    const model = buildPythonModel(doc);
    const versions = (model.keysByName.get('markupsafe') ?? []).map((k) => model.byKey.get(k)?.node);
    // the two places the installed 2.1.5 appears in the tree, then the build-only 2.0.0
    expect(versions.map((n) => [n?.version, n?.buildOnly ?? false])).toEqual([
      ['2.1.5', false],
      ['2.1.5', false],
      ['2.0.0', true],
    ]);
    expect(model.roots.at(-1)?.buildFor).toEqual(['legacy-ext 1.0']);
  });

  it('cuts cycles and marks repeated subtrees as deduped', () => {
    const doc: PythonTargetDeps = {
      ...python,
      packages: [pkg('a', '1', 1), pkg('b', '1', 1), pkg('c', '1', 1)],
      edges: [edge(null, 'a'), edge(null, 'b'), edge('a', 'b'), edge('b', 'c'), edge('c', 'a')],
      problems: [],
    };
    const model = buildPythonModel(doc);
    const [a, b] = model.roots;
    expect(a.children[0].name).toBe('b');
    expect(a.children[0].deduped).toBe(true); // b is shown in full at the root
    expect(b.children[0].name).toBe('c');
    expect(b.children[0].children[0].name).toBe('a');
    // a's only child is its own ancestor here: the cycle is cut
    expect(b.children[0].children[0].children).toEqual([]);
  });
});

describe('DependencyTree', () => {
  it('shows the Python tree with versions, sizes and a problem tag in place', () => {
    const { container } = renderTree(<DependencyTree source={{ ecosystem: 'pypi', doc: python }} id="py" />);
    expect(screen.getByTestId('dependency-tree-py')).toBeInTheDocument();
    // roots expanded by default: their children are visible
    expect(visibleNames(container)).toEqual(['flask', 'werkzeug', 'jinja2', 'click', 'requests', 'idna', 'setuptools']);
    const click = container.querySelector('[data-testid="tree-node"][data-name="click"]') as HTMLElement;
    expect(within(click).getByText('@8.1.7')).toBeInTheDocument();
    expect(within(click).getByText('97.0 kB')).toBeInTheDocument();
    const tag = within(click).getByTestId('problem-tag');
    expect(tag).toHaveTextContent('yanked');
    expect(tag.getAttribute('data-kind')).toBe('yanked');
    expect(click.getAttribute('data-severity')).toBe('warning');
    expect(within(container.querySelector('[data-name="setuptools"]') as HTMLElement).getByText('build only')).toBeInTheDocument();
  });

  it('shows the file chosen for the target, and an sdist with what building it needs', () => {
    const doc: PythonTargetDeps = {
      ...python,
      packages: [
        pkg('pydantic-core', '2.23.4', 1_900_000, { filename: 'pydantic_core-2.23.4-cp312-none-win_amd64.whl' }),
        pkg('psycopg2', '2.9.9', 385_000, { filename: 'psycopg2-2.9.9.tar.gz', kind: 'sdist', needs: ['pg_config and the libpq headers (Debian: libpq-dev)'] }),
      ],
      edges: [edge(null, 'pydantic-core'), edge(null, 'psycopg2')],
      problems: [],
    };
    const model = buildPythonModel(doc);
    expect(model.roots.map((n) => n.filename)).toEqual(['pydantic_core-2.23.4-cp312-none-win_amd64.whl', 'psycopg2-2.9.9.tar.gz']);
    expect(model.roots[1].needs).toEqual(['pg_config and the libpq headers (Debian: libpq-dev)']);
    render(
      <I18nProvider initial="en">
        <DependencyTree source={{ ecosystem: 'pypi', doc }} id="files" />
      </I18nProvider>,
    );
    const files = screen.getAllByTestId('tree-file').map((el) => el.textContent);
    expect(files).toContain('pydantic_core-2.23.4-cp312-none-win_amd64.whl');
    expect(screen.getAllByTestId('tree-sdist')).toHaveLength(1);
  });

  it('search highlights matches and expands their ancestors', () => {
    const { container } = renderTree(<DependencyTree source={{ ecosystem: 'pypi', doc: python }} id="py" />);
    expect(visibleNames(container)).not.toContain('markupsafe');
    fireEvent.change(screen.getByTestId('tree-search-py'), { target: { value: 'markup' } });
    const matches = container.querySelectorAll('[data-testid="tree-node"][data-match="true"]');
    expect(matches).toHaveLength(2);
    for (const m of Array.from(matches)) {
      expect(m.getAttribute('data-name')).toBe('markupsafe');
      expect(m.querySelector('mark')).toHaveTextContent('markup');
    }
    // like `npm ls markupsafe`: only the paths that lead to a match are left
    expect(visibleNames(container)).toEqual(['flask', 'werkzeug', 'markupsafe', 'jinja2', 'markupsafe']);
    expect(screen.getByTestId('tree-match-count-py')).toHaveTextContent('1 of 2 matches');
    // clearing the search brings the whole tree back
    fireEvent.change(screen.getByTestId('tree-search-py'), { target: { value: '' } });
    expect(visibleNames(container)).toEqual(['flask', 'werkzeug', 'jinja2', 'click', 'requests', 'idna', 'setuptools']);
  });

  it('a search with no match leaves the tree as it is', () => {
    const { container } = renderTree(<DependencyTree source={{ ecosystem: 'pypi', doc: python }} id="py" />);
    fireEvent.change(screen.getByTestId('tree-search-py'), { target: { value: 'nothing-like-it' } });
    expect(screen.getByTestId('tree-match-count-py')).toHaveTextContent('0 matches');
    expect(visibleNames(container)).toEqual(['flask', 'werkzeug', 'jinja2', 'click', 'requests', 'idna', 'setuptools']);
    expect(screen.queryByTestId('tree-next-py')).toBeNull();
  });

  it('next and previous walk the matches, wrapping around', () => {
    const { container } = renderTree(<DependencyTree source={{ ecosystem: 'pypi', doc: python }} id="py" />);
    fireEvent.change(screen.getByTestId('tree-search-py'), { target: { value: 'markup' } });
    const selectedParent = () => {
      const sel = container.querySelector('.ant-tree-node-selected [data-testid="tree-node"]');
      // the selected markupsafe's parent row is the row before it with a lower indent
      const rows = Array.from(container.querySelectorAll('.ant-tree-treenode'));
      const i = rows.findIndex((r) => r.contains(sel));
      return { name: sel?.getAttribute('data-name'), parent: rows[i - 1]?.querySelector('[data-testid="tree-node"]')?.getAttribute('data-name') };
    };
    expect(selectedParent()).toEqual({ name: 'markupsafe', parent: 'werkzeug' });
    fireEvent.click(screen.getByTestId('tree-next-py'));
    expect(screen.getByTestId('tree-match-count-py')).toHaveTextContent('2 of 2 matches');
    expect(selectedParent()).toEqual({ name: 'markupsafe', parent: 'jinja2' });
    fireEvent.click(screen.getByTestId('tree-next-py'));
    expect(screen.getByTestId('tree-match-count-py')).toHaveTextContent('1 of 2 matches');
    fireEvent.click(screen.getByTestId('tree-previous-py'));
    expect(screen.getByTestId('tree-match-count-py')).toHaveTextContent('2 of 2 matches');
  });

  it('a deduped node links to the node shown in full', () => {
    const doc: PythonTargetDeps = {
      ...python,
      packages: [pkg('a', '1', 1), pkg('b', '1', 1), pkg('c', '1', 1)],
      edges: [edge(null, 'a'), edge(null, 'b'), edge('a', 'b'), edge('b', 'c')],
      problems: [],
    };
    const model = buildPythonModel(doc);
    const dedupedKey = model.roots[0].children[0].key;
    expect(fullEntryOf(model, dedupedKey)).toBe(model.roots[1].key);
    const { container } = renderTree(<DependencyTree source={{ ecosystem: 'pypi', doc }} id="dd" />);
    fireEvent.click(screen.getByTestId('tree-collapse-all-dd'));
    fireEvent.click(container.querySelector('.ant-tree-switcher') as HTMLElement); // open a
    // searching for c hides the deduped b under a; search for b shows both
    fireEvent.change(screen.getByTestId('tree-search-dd'), { target: { value: 'b' } });
    fireEvent.click(screen.getAllByTestId('tree-deduped')[0]);
    // the search is left and the full b (at the root, with its child c) is open and selected
    expect((screen.getByTestId('tree-search-dd') as HTMLInputElement).value).toBe('');
    const selected = container.querySelectorAll('.ant-tree-node-selected [data-testid="tree-node"]');
    expect(selected).toHaveLength(1);
    expect(selected[0].getAttribute('data-name')).toBe('b');
    expect(selected[0].querySelector('[data-testid="tree-deduped"]')).toBeNull();
    expect(visibleNames(container)).toContain('c');
  });

  it('filterRoots keeps the matches and the paths to them only', () => {
    const model = buildPythonModel(python);
    const kept = filterRoots(model, searchModel(model, 'idna'));
    expect(kept.map((n) => n.name)).toEqual(['requests']);
    expect(kept[0].children.map((n) => n.name)).toEqual(['idna']);
    // the model itself is untouched
    expect(model.roots).toHaveLength(3);
  });

  it('expand all and collapse all', () => {
    const { container } = renderTree(<DependencyTree source={{ ecosystem: 'pypi', doc: python }} id="py" />);
    fireEvent.click(screen.getByTestId('tree-expand-all-py'));
    expect(visibleNames(container)).toHaveLength(9);
    fireEvent.click(screen.getByTestId('tree-collapse-all-py'));
    expect(visibleNames(container)).toEqual(['flask', 'requests', 'setuptools']);
  });

  it('focusPackage opens and selects the node', () => {
    const ref = createRef<DependencyTreeHandle>();
    const { container } = renderTree(<DependencyTree ref={ref} source={{ ecosystem: 'pypi', doc: python }} id="py" />);
    fireEvent.click(screen.getByTestId('tree-collapse-all-py'));
    let found = false;
    act(() => {
      found = ref.current!.focusPackage('MarkupSafe');
    });
    expect(found).toBe(true);
    expect(visibleNames(container)).toContain('markupsafe');
    const selected = container.querySelector('.ant-tree-node-selected [data-testid="tree-node"]');
    expect(selected?.getAttribute('data-name')).toBe('markupsafe');
    expect(ref.current!.focusPackage('not-there')).toBe(false);
  });

  it('shows the npm tree under its root with problems from the problem list', () => {
    const npm: NpmDeps = {
      ecosystem: 'npm',
      lock_generated: false,
      target: { key: 'node20-linux-x64-glibc', node: '20', os: 'linux', cpu: 'x64', libc: 'glibc' },
      root: { name: 'app', version: '1.0.0' },
      count: 2,
      total_bytes: 3000,
      packages: [
        npmPackage({ name: 'left-pad', version: '1.3.0', size: 1000, deprecated: 'use padStart' }),
        npmPackage({ name: 'esbuild', version: '0.25.0', size: 2000, has_install_script: true }),
      ],
      excluded: [],
      tree: [
        { name: 'left-pad', version: '1.3.0', spec: '^1.3.0', children: [] },
        { name: 'esbuild', version: '0.25.0', spec: '^0.25.0', children: [] },
      ],
      problems: [
        { severity: 'warning', kind: 'deprecated', message: 'left-pad@1.3.0 is deprecated: use padStart', package: 'left-pad', target: 'node20-linux-x64-glibc', chain: [] },
        { severity: 'warning', kind: 'install-script', message: 'esbuild@0.25.0 has an install script', package: 'esbuild', target: 'node20-linux-x64-glibc', chain: [] },
      ],
    };
    const { container } = renderTree(<DependencyTree source={{ ecosystem: 'npm', doc: npm }} />);
    expect(screen.getByTestId('dependency-tree-npm')).toBeInTheDocument();
    expect(visibleNames(container)).toEqual(['app', 'left-pad', 'esbuild']);
    const kinds = Array.from(container.querySelectorAll('[data-testid="problem-tag"]')).map((el) => el.getAttribute('data-kind'));
    expect(kinds).toEqual(['deprecated', 'install-script']);
  });

  it('renders a 2,500-node tree virtualised', () => {
    const children: NpmTreeNode[] = [];
    for (let i = 0; i < 50; i += 1) {
      const grand: NpmTreeNode[] = [];
      for (let j = 0; j < 49; j += 1) grand.push({ name: `dep-${i}-${j}`, version: '1.0.0', spec: '^1', children: [] });
      children.push({ name: `pkg-${i}`, version: '2.0.0', spec: '^2', children: grand });
    }
    const npm: NpmDeps = {
      ecosystem: 'npm',
      lock_generated: false,
      target: { key: 'node20-linux-x64-glibc', node: '20', os: 'linux', cpu: 'x64', libc: 'glibc' },
      root: { name: 'big', version: '1.0.0' },
      count: 2500,
      total_bytes: 0,
      packages: [],
      excluded: [],
      tree: children,
      problems: [],
    };
    const started = performance.now();
    const { container } = renderTree(<DependencyTree source={{ ecosystem: 'npm', doc: npm }} height={400} />);
    expect(screen.getByTestId('dependency-tree-npm').getAttribute('data-nodes')).toBe('2501');
    fireEvent.click(screen.getByTestId('tree-expand-all-npm'));
    const rendered = container.querySelectorAll('.ant-tree-treenode').length;
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(100);
    // search deep in the tree still works on the full model
    fireEvent.change(screen.getByTestId('tree-search-npm'), { target: { value: 'dep-42-48' } });
    expect(screen.getByTestId('tree-match-count-npm')).toHaveTextContent('1 match');
    expect(performance.now() - started).toBeLessThan(15_000);
  });
});
