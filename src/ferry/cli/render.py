"""How results and errors look on a terminal. Pure formatting; no work is done here."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from ferry.ecosystems.pypi.model import Problem, Resolution, TargetResolution
from ferry.errors import FerryError, ManifestError


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def render_error(console: Console, err: FerryError) -> None:
    console.print(f"[bold red]error[/][dim]\\[{err.code}][/]: {escape(err.message)}")
    if err.context:
        console.print(f"  [dim]while[/] {escape(err.context)}")
    if isinstance(err, ManifestError) and err.line is None and err.column is None:
        pass
    if err.hint:
        console.print(f"  [cyan]hint[/]: {escape(err.hint)}")


def _problem_line(p: Problem) -> str:
    colour = "red" if p.severity == "error" else "yellow"
    where = f" [dim]({p.target})[/]" if p.target else ""
    return f"[{colour}]{p.severity}[/][dim]\\[{p.kind}][/]{where}: {escape(p.message)}"


def _tree_for(result: TargetResolution) -> Tree:
    t = result.target
    title = (
        f"[bold]{escape(str(t))}[/] — {len(result.packages)} packages, "
        f"{human_bytes(result.total_bytes)}"
    )
    tree = Tree(title)
    flagged = {p.package: p for p in result.problems if p.package}

    def label(name: str, spec: str) -> str:
        pkg = result.packages[name]
        mark = ""
        if name in flagged:
            colour = "red" if flagged[name].severity == "error" else "yellow"
            mark = f" [{colour}]⚠ {flagged[name].kind}[/]"
        asked = f" [dim]({escape(spec)})[/]" if spec not in ("*", "") else ""
        return (
            f"[bold]{escape(name)}[/] {escape(pkg.version)}{asked} "
            f"[dim]{escape(pkg.file.filename)} {human_bytes(pkg.file.size)}[/]{mark}"
        )

    def grow(node: Tree, parent: str, path: frozenset[str]) -> None:
        for edge in result.children(parent):
            if edge.child in path:
                node.add(f"{escape(edge.child)} [dim](cycle)[/]")
                continue
            grow(node.add(label(edge.child, edge.specifier)), edge.child, path | {edge.child})

    for edge in result.children(None):
        grow(tree.add(label(edge.child, edge.specifier)), edge.child, frozenset({edge.child}))
    in_tree = {e.child for e in result.edges}
    build = [p for p in result.packages.values() if p.build_only]
    orphans = [p for p in result.packages.values() if p.name not in in_tree and not p.build_only]
    if build:
        node = tree.add("[dim]needed to build sdists on the target[/]")
        for p in sorted(build, key=lambda p: p.name):
            node.add(label(p.name, "*"))
    if orphans:
        node = tree.add("[dim]resolved, parent not known from metadata[/]")
        for p in sorted(orphans, key=lambda p: p.name):
            node.add(label(p.name, "*"))
    return tree


def render_resolution(console: Console, resolution: Resolution) -> None:
    for result in resolution.targets:
        console.print(_tree_for(result))
        console.print()
    files = resolution.unique_files()
    console.print(
        f"[bold]{len(files)} files[/] for {len(resolution.targets)} target(s), "
        f"{human_bytes(resolution.total_bytes)} in total"
    )
    problems = resolution.all_problems
    if problems:
        console.print()
        for p in problems:
            console.print(_problem_line(p))
