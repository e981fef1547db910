/**
 * One dependency tree (npm, or Python for one target): a virtualised antd Tree with a fixed
 * height (2,000+ nodes stay smooth), expand all / collapse all, a search that filters like
 * `npm ls <name>` (only the paths that lead to a match, with next / previous), each node's
 * version and size, problems shown in place as coloured tags, and "deduped" nodes linking
 * to the node where the package is shown in full.
 *
 * `ref.focusPackage(name)` opens the first node of that package, selects it and scrolls
 * to it (the problem summary uses it).
 */
import { forwardRef, useCallback, useEffect, useImperativeHandle, useMemo, useRef, useState } from 'react';
import type { Key, ReactNode } from 'react';
import { Button, Empty, Input, Space, Tag, Tooltip, Tree, Typography } from 'antd';
import type { TreeDataNode } from 'antd';
import {
  DownOutlined,
  MinusSquareOutlined,
  PlusSquareOutlined,
  SearchOutlined,
  UpOutlined,
} from '@ant-design/icons';
import type { NpmDeps, Problem, PythonTargetDeps } from '../api/client';
import { formatBytes } from '../format';
import { useI18n } from '../i18n';
import { useServerText } from '../serverText';
import {
  ancestorsOf,
  buildNpmModel,
  buildPythonModel,
  filterRoots,
  fullEntryOf,
  normalizeFor,
  searchModel,
  worstSeverity,
} from './depModel';
import type { DepNode, TreeModel } from './depModel';

export type TreeSource =
  | { ecosystem: 'npm'; doc: NpmDeps }
  | { ecosystem: 'pypi'; doc: PythonTargetDeps };

export interface DependencyTreeProps {
  source: TreeSource;
  /** Pixel height of the (virtualised) list. */
  height?: number;
  /** Used in data-testid values: `dependency-tree-<id>`, `tree-search-<id>`, ... */
  id?: string;
}

export interface DependencyTreeHandle {
  /** Open, select and scroll to the first node of `name`; false when it is not in the tree. */
  focusPackage: (name: string) => boolean;
  model: TreeModel;
}

interface Item extends TreeDataNode {
  key: string;
  dep: DepNode;
  children?: Item[];
}

export const SEVERITY_COLOR: Record<Problem['severity'], string> = {
  error: 'red',
  warning: 'orange',
  info: 'blue',
};

const ITEM_HEIGHT = 28;

function toItems(nodes: DepNode[]): Item[] {
  return nodes.map((dep) => ({
    key: dep.key,
    title: dep.name,
    dep,
    isLeaf: dep.children.length === 0,
    children: dep.children.length > 0 ? toItems(dep.children) : undefined,
  }));
}

function highlight(text: string, query: string): ReactNode {
  const q = query.trim().toLowerCase();
  if (!q) return text;
  const i = text.toLowerCase().indexOf(q);
  if (i < 0) return text;
  return (
    <>
      {text.slice(0, i)}
      <mark className="tree-match-text">{text.slice(i, i + q.length)}</mark>
      {text.slice(i + q.length)}
    </>
  );
}

export const DependencyTree = forwardRef<DependencyTreeHandle, DependencyTreeProps>(
  function DependencyTree({ source, height = 480, id }, ref) {
    const { t } = useI18n();
    const said = useServerText();
    const model = useMemo<TreeModel>(
      () => (source.ecosystem === 'npm' ? buildNpmModel(source.doc) : buildPythonModel(source.doc)),
      [source.ecosystem, source.doc],
    );
    const treeId = id ?? model.id;
    const initialExpanded = useMemo(
      () => model.roots.filter((r) => r.children.length > 0).map((r) => r.key),
      [model],
    );
    const [expandedKeys, setExpandedKeys] = useState<Key[]>(initialExpanded);
    const [selectedKeys, setSelectedKeys] = useState<Key[]>([]);
    const [query, setQuery] = useState('');
    // which match next / previous stands on
    const [cursor, setCursor] = useState(0);
    const treeRef = useRef<{ scrollTo: (arg: { key: Key; align?: 'top' | 'bottom' | 'auto'; offset?: number }) => void } | null>(null);
    const pendingScroll = useRef<Key | null>(null);

    useEffect(() => {
      setExpandedKeys(initialExpanded);
      setSelectedKeys([]);
      setQuery('');
      setCursor(0);
    }, [initialExpanded]);

    const matches = useMemo(() => searchModel(model, query), [model, query]);
    const matchSet = useMemo(() => new Set(matches), [matches]);
    const filtering = matches.length > 0;
    // a search shows only the paths to its matches; no match leaves the tree as it was
    const items = useMemo(
      () => toItems(filtering ? filterRoots(model, matches) : model.roots),
      [model, matches, filtering],
    );

    const scrollToKey = useCallback((key: Key) => {
      pendingScroll.current = key;
    }, []);

    // scroll once the expansion that reveals the node has rendered
    useEffect(() => {
      const key = pendingScroll.current;
      if (key === null) return;
      pendingScroll.current = null;
      const handle = window.setTimeout(() => {
        treeRef.current?.scrollTo({ key, align: 'top', offset: ITEM_HEIGHT });
      }, 0);
      return () => window.clearTimeout(handle);
    });

    const onSearch = (value: string) => {
      setQuery(value);
      setCursor(0);
      const found = searchModel(model, value);
      if (found.length === 0) {
        if (!value.trim()) setExpandedKeys(initialExpanded);
        return;
      }
      const open = new Set<Key>();
      for (const key of found) for (const a of ancestorsOf(model, key)) open.add(a);
      setExpandedKeys(Array.from(open));
      setSelectedKeys([found[0]]);
      scrollToKey(found[0]);
    };

    const step = (by: number) => {
      if (matches.length === 0) return;
      const next = (cursor + by + matches.length) % matches.length;
      setCursor(next);
      setSelectedKeys([matches[next]]);
      scrollToKey(matches[next]);
    };

    const reveal = useCallback(
      (key: string) => {
        const ancestors = ancestorsOf(model, key);
        setExpandedKeys((prev) => Array.from(new Set([...prev, ...ancestors])));
        setSelectedKeys([key]);
        scrollToKey(key);
      },
      [model, scrollToKey],
    );

    // the full entry may be outside the filtered view: leave the search first
    const openFullEntry = (key: string) => {
      const full = fullEntryOf(model, key);
      if (full === null) return;
      setQuery('');
      setCursor(0);
      reveal(full);
      // the point of the full entry is what it pulls in: open it too
      setExpandedKeys((prev) => Array.from(new Set([...prev, full])));
    };

    const focusPackage = useCallback(
      (name: string): boolean => {
        const keys = model.keysByName.get(normalizeFor(model.ecosystem, name));
        if (!keys || keys.length === 0) return false;
        setQuery('');
        setCursor(0);
        reveal(keys[0]);
        return true;
      },
      [model, reveal],
    );

    useImperativeHandle(ref, () => ({ focusPackage, model }), [focusPackage, model]);

    const titleRender = (item: Item) => {
      const dep = item.dep;
      const severity = worstSeverity(dep);
      const matched = matchSet.has(dep.key);
      return (
        <span
          className={`dep-node${severity ? ` dep-node-${severity}` : ''}${matched ? ' tree-match' : ''}`}
          data-testid="tree-node"
          data-name={dep.name}
          data-match={matched ? 'true' : undefined}
          data-severity={severity ?? undefined}
        >
          <span className="dep-name">{highlight(dep.name, query)}</span>
          {dep.version && <span className="dep-version">@{dep.version}</span>}
          {dep.size != null && <span className="dep-size">{formatBytes(dep.size)}</span>}
          {dep.spec && dep.spec !== dep.version && (
            <Typography.Text type="secondary" className="dep-spec">
              {dep.spec}
            </Typography.Text>
          )}
          {dep.deduped && (
            <Tooltip title={t('tree.dedupedLink')}>
              <Tag
                className="dep-flag dep-deduped"
                data-testid="tree-deduped"
                role="link"
                tabIndex={0}
                onClick={(e) => {
                  // a click on the tag goes to the full entry, not to selecting this node
                  e.stopPropagation();
                  openFullEntry(dep.key);
                }}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' || e.key === ' ') {
                    e.preventDefault();
                    e.stopPropagation();
                    openFullEntry(dep.key);
                  }
                }}
              >
                {t('tree.deduped')}
              </Tag>
            </Tooltip>
          )}
          {dep.buildOnly && (
            <Tooltip
              title={dep.buildFor ? `${t('tree.buildFor')} ${dep.buildFor.join(', ')}` : undefined}
            >
              <Tag className="dep-flag" data-testid="build-only">
                {t('tree.buildOnly')}
              </Tag>
            </Tooltip>
          )}
          {dep.filename && (
            <span className="dep-file" data-testid="tree-file" title={dep.filename}>
              {dep.filename}
            </span>
          )}
          {dep.sdist && (
            // an sdist is built on the target: say so, and with what
            <Tooltip title={dep.needs ? `${t('tree.needs')} ${dep.needs.join('; ')}` : undefined}>
              <Tag color="orange" className="dep-flag" data-testid="tree-sdist">
                {t('tree.sdist')}
              </Tag>
            </Tooltip>
          )}
          {dep.problems.map((p, i) => (
            <Tooltip
              key={`${p.kind}-${i}`}
              title={said('problem', { code: p.kind, params: p.params, message: p.message })}
            >
              <Tag color={SEVERITY_COLOR[p.severity]} data-testid="problem-tag" data-kind={p.kind}>
                {p.kind}
              </Tag>
            </Tooltip>
          ))}
          {dep.nodeProblems.map((text, i) => (
            <Tooltip key={`np-${i}`} title={text}>
              <Tag color="orange" data-testid="problem-tag" data-kind="node-problem">
                {text.length > 40 ? `${text.slice(0, 40)}…` : text}
              </Tag>
            </Tooltip>
          ))}
        </span>
      );
    };

    return (
      <div className="dependency-tree" data-testid={`dependency-tree-${treeId}`} data-nodes={model.size}>
        <Space wrap className="dependency-tree-toolbar">
          <Button
            size="small"
            icon={<PlusSquareOutlined />}
            data-testid={`tree-expand-all-${treeId}`}
            onClick={() => setExpandedKeys(model.parentKeys)}
          >
            {t('tree.expandAll')}
          </Button>
          <Button
            size="small"
            icon={<MinusSquareOutlined />}
            data-testid={`tree-collapse-all-${treeId}`}
            onClick={() => setExpandedKeys([])}
          >
            {t('tree.collapseAll')}
          </Button>
          <Input
            allowClear
            size="small"
            prefix={<SearchOutlined />}
            placeholder={t('tree.search')}
            value={query}
            onChange={(e) => onSearch(e.target.value)}
            data-testid={`tree-search-${treeId}`}
            style={{ width: 240 }}
          />
          {query.trim() && (
            <Typography.Text type="secondary" data-testid={`tree-match-count-${treeId}`}>
              {filtering
                ? t('tree.matchOf', { index: cursor + 1, count: matches.length })
                : t('tree.matches', { count: 0 })}
            </Typography.Text>
          )}
          {filtering && (
            <Space.Compact size="small">
              <Button
                size="small"
                icon={<UpOutlined />}
                aria-label={t('tree.previous')}
                title={t('tree.previous')}
                data-testid={`tree-previous-${treeId}`}
                onClick={() => step(-1)}
              />
              <Button
                size="small"
                icon={<DownOutlined />}
                aria-label={t('tree.next')}
                title={t('tree.next')}
                data-testid={`tree-next-${treeId}`}
                onClick={() => step(1)}
              />
            </Space.Compact>
          )}
        </Space>
        {items.length === 0 ? (
          <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('tree.empty')} />
        ) : (
          <Tree<Item>
            ref={treeRef as never}
            className="dependency-tree-list"
            treeData={items}
            height={height}
            itemHeight={ITEM_HEIGHT}
            virtual
            blockNode
            showLine={{ showLeafIcon: false }}
            expandedKeys={expandedKeys}
            selectedKeys={selectedKeys}
            autoExpandParent={false}
            onExpand={(keys) => setExpandedKeys(keys)}
            onSelect={(keys) => setSelectedKeys(keys)}
            titleRender={titleRender}
          />
        )}
      </div>
    );
  },
);
