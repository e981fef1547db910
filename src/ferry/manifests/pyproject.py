"""pyproject.toml: PEP 621 dependencies and extras, PEP 735 dependency groups, Poetry tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ferry.errors import Hint, IncludeLoopError, ManifestError
from ferry.manifests.model import TRUSTED, InputRules, Origin, PyRequirement, PythonInput, Selection
from ferry.manifests.poetry import parse_poetry
from ferry.manifests.requirements_txt import build_requirement, with_marker
from ferry.manifests.tomldoc import Key, TomlDoc, keypath

NO_DEPS_HINT = Hint("no-dependencies")
DYNAMIC_HINT = Hint("dynamic-dependencies")


@dataclass
class _Project:
    doc: TomlDoc
    selection: Selection
    out: PythonInput
    name: str | None = None
    extras: dict[str, str] = field(default_factory=dict)
    group_names: dict[str, str] = field(default_factory=dict)

    def requirement(
        self, keys: Sequence[Key], items: list[Any], index: int
    ) -> tuple[Requirement, int | None]:
        line = self.doc.item_line(keys, items, index)
        text = self.doc.string([*keys, index], items[index], line=line)
        return build_requirement(text, self.doc.path, line, local_paths=self.doc.local_paths), line

    def runtime(self, project: dict[str, Any]) -> None:
        keys = ["project", "dependencies"]
        items = self.doc.array(keys, project.get("dependencies"))
        for i in range(len(items)):
            req, line = self.requirement(keys, items, i)
            self.out.requirements.append(PyRequirement(req, Origin(self.doc.path, line)))

    def extra(self, extra: str, seen: set[str]) -> list[PyRequirement]:
        """The extra's requirements, with references back to this project expanded."""
        raw = self.extras[extra]
        keys = ["project", "optional-dependencies", raw]
        items = self.doc.array(keys, self.doc.get(keys))
        out: list[PyRequirement] = []
        for i in range(len(items)):
            req, line = self.requirement(keys, items, i)
            out.extend(self.expand(req, line, seen | {extra}, keys))
        return out

    def expand(
        self, req: Requirement, line: int | None, seen: set[str], keys: Sequence[Key]
    ) -> list[PyRequirement]:
        if self.name is None or canonicalize_name(req.name) != self.name:
            return [PyRequirement(req, Origin(self.doc.path, line))]
        out: list[PyRequirement] = []
        marker = str(req.marker) if req.marker else None
        for extra in sorted(canonicalize_name(e) for e in req.extras):
            if extra in seen:
                continue
            if extra not in self.extras:
                raise self.doc.error(
                    keys,
                    f"{req} refers to extra {extra!r}, which the project does not declare",
                    line=line,
                )
            for item in self.extra(extra, seen):
                narrowed = with_marker(item.requirement, marker, item.origin.path, item.origin.line)
                out.append(PyRequirement(narrowed, item.origin))
        return out

    def selected_extras(self) -> None:
        for extra in self.extras:
            if self.selection.wants(extra):
                for item in self.extra(extra, set()):
                    self.out.requirements.append(
                        PyRequirement(item.requirement, item.origin, group=extra)
                    )

    def dependency_groups(self, table: dict[str, Any]) -> None:
        names: dict[str, str] = {}
        for raw in table:
            normal = canonicalize_name(raw)
            if normal in names:
                raise self.doc.error(
                    ["dependency-groups", raw],
                    f"dependency groups {names[normal]!r} and {raw!r} have the same"
                    " normalised name",
                )
            names[normal] = raw
        self.group_names.update(names)
        self.out.groups.extend(g for g in names if g not in self.out.groups)
        for group in names:
            if self.selection.wants(group):
                for item in self.group(group, [group]):
                    self.out.requirements.append(
                        PyRequirement(item.requirement, item.origin, group=group)
                    )

    def group(self, canonical: str, stack: list[str]) -> list[PyRequirement]:
        raw = self.group_names[canonical]
        keys: list[Key] = ["dependency-groups", raw]
        items = self.doc.array(keys, self.doc.data["dependency-groups"][raw])
        out: list[PyRequirement] = []
        for i, item in enumerate(items):
            if isinstance(item, dict):
                out.extend(self.include(keys, items, i, stack))
            else:
                req, line = self.requirement(keys, items, i)
                out.extend(self.expand(req, line, set(), keys))
        return out

    def include(
        self, keys: list[Key], items: list[Any], index: int, stack: list[str]
    ) -> list[PyRequirement]:
        item = items[index]
        line = self.doc.item_line(keys, items, index)
        if set(item) != {"include-group"} or not isinstance(item["include-group"], str):
            raise self.doc.error(
                [*keys, index],
                f"{keypath([*keys, index])} must be a requirement string"
                ' or {include-group = "name"}',
                line=line,
            )
        target = item["include-group"]
        line = self.doc.line_of(keys, target) or line
        canonical = canonicalize_name(target)
        if canonical in stack:
            chain = " -> ".join(
                self.group_names[g] for g in [*stack[stack.index(canonical) :], canonical]
            )
            raise self.doc.error(
                keys, f"dependency group include loop: {chain}", line=line, cls=IncludeLoopError
            )
        if canonical not in self.group_names:
            raise self.doc.error(
                keys,
                f"{keypath(keys)} includes group {target!r}, which is not in [dependency-groups]",
                line=line,
            )
        return self.group(canonical, [*stack, canonical])


def parse(path: Path, selection: Selection, rules: InputRules = TRUSTED) -> PythonInput:
    doc = TomlDoc.load(path, "TOML file", local_paths=not rules.confined)
    out = PythonInput(files=[path])
    project = doc.table(["project"], doc.data.get("project"))
    tool_poetry = doc.table(["tool", "poetry"], doc.get(["tool", "poetry"]))
    groups = doc.table(["dependency-groups"], doc.data.get("dependency-groups"))
    dynamic = doc.strings(["project", "dynamic"], project.get("dynamic"))
    poetry_deps = any(k in tool_poetry for k in ("dependencies", "group", "dev-dependencies"))
    if "dependencies" in dynamic and "dependencies" not in tool_poetry:
        raise doc.error(
            ["project", "dynamic"],
            "dependencies are dynamic (computed by the build backend), which needs a build; "
            "Ferry does not run builds",
            value="dependencies",
            hint=DYNAMIC_HINT,
        )
    declared = any(k in project for k in ("dependencies", "optional-dependencies"))
    if not (declared or poetry_deps or "dependency-groups" in doc.data):
        raise ManifestError(path, "declares no dependencies", hint=NO_DEPS_HINT)
    if "optional-dependencies" in dynamic:
        out.notes.append(f"{path}: optional-dependencies are dynamic and cannot be read")

    if "build-system" in doc.data:
        from ferry.ecosystems.pypi.distmeta import build_requirements

        out.build_requires = build_requirements(doc.data.get("build-system"))
    state = _Project(doc, selection, out)
    if isinstance(project.get("name"), str):
        state.name = canonicalize_name(project["name"])
    _requires_python(doc, project, out)
    state.runtime(project)
    extras = doc.table(["project", "optional-dependencies"], project.get("optional-dependencies"))
    state.extras = {canonicalize_name(k): k for k in extras}
    out.groups.extend(state.extras)
    state.selected_extras()
    if groups:
        state.dependency_groups(groups)
    if tool_poetry:
        parse_poetry(doc, tool_poetry, selection, out, main="dependencies" not in project)
    return out


def _requires_python(doc: TomlDoc, project: dict[str, Any], out: PythonInput) -> None:
    if "requires-python" not in project:
        return
    keys = ["project", "requires-python"]
    value = doc.string(keys, project["requires-python"])
    try:
        SpecifierSet(value)
    except InvalidSpecifier as exc:
        raise doc.error(
            keys, f"requires-python {value!r} is not a valid specifier: {exc}"
        ) from None
    out.requires_python = value
