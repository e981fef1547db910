"""pyproject.toml: PEP 621 dependencies and extras, PEP 735 dependency groups, Poetry tables."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ferry.errors import IncludeLoopError, ManifestError
from ferry.manifests.model import TRUSTED, InputRules, Origin, PyRequirement, PythonInput, Selection
from ferry.manifests.poetry import parse_poetry
from ferry.manifests.requirements_txt import build_requirement, decode_text, read_bytes, with_marker

Key = str | int
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'")
_KINDS = {str: "string", bool: "boolean", int: "integer", float: "float"}
_KINDS.update({list: "array", dict: "table"})


def keypath(keys: Sequence[Key]) -> str:
    out = ""
    for key in keys:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            part = key if _BARE_KEY.match(key) else f'"{key}"'
            out += f".{part}" if out else part
    return out


def kind(value: object) -> str:
    return _KINDS.get(type(value), "date/time")


@dataclass(frozen=True)
class TomlDoc:
    """A parsed TOML file that still knows its text, so errors can point at a line."""

    path: Path
    text: str
    data: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    # False for a stranger's file: a local path in it is refused, never looked at
    local_paths: bool = True

    @classmethod
    def load(cls, path: Path, what: str, *, local_paths: bool = True) -> TomlDoc:
        text = decode_text(read_bytes(path), path, what)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            at = _TOML_POSITION.search(message)
            if at:
                line, column = int(at.group(1)), int(at.group(2))
                message = message[: at.start()]
            else:
                line, column = text.count("\n") + 1, None
                message = message.replace("(at end of document)", "at end of document").strip()
            raise ManifestError(
                path, f"invalid TOML: {message}", line=line, column=column
            ) from None
        return cls(path, text, data, text.splitlines(), local_paths)

    def line_of(self, keys: Sequence[Key], value: object = None, nth: int = 0) -> int | None:
        """Best effort: the line of the key path, or of ``value`` inside it."""
        found: int | None = None
        start = 0
        for key in keys:
            if isinstance(key, int):
                continue
            name = re.escape(key)
            pattern = re.compile(rf"(?:^|[\s\[.{{,])(?:\"{name}\"|'{name}'|{name})\s*[=.\]]")
            hit = next(
                (i for i in range(start, len(self.lines)) if pattern.search(self.lines[i])), None
            )
            if hit is None:
                break
            found = start = hit
        if found is None or value is None:
            return None if found is None else found + 1
        return self._value_line(found, value, nth)

    def _value_line(self, found: int, value: object, nth: int) -> int:
        if isinstance(value, str):
            needle = re.compile(rf"([\"']){re.escape(value)}\1")
        elif isinstance(value, bool):
            needle = re.compile(rf"\b{str(value).lower()}\b")
        elif isinstance(value, dict):
            needle = re.compile(r"\{")
        elif isinstance(value, int | float):
            needle = re.compile(rf"(?<![\w.]){re.escape(repr(value))}(?![\w.])")
        else:
            return found + 1
        end = next(
            (j for j in range(found + 1, len(self.lines)) if self.lines[j].startswith("[")),
            len(self.lines),
        )
        seen = 0
        for j in range(found, end):
            hay = self.lines[j] if isinstance(value, str) else _STRINGS.sub('""', self.lines[j])
            for _ in needle.finditer(hay):
                if seen == nth:
                    return j + 1
                seen += 1
        return found + 1

    def item_line(self, keys: Sequence[Key], items: list[Any], index: int) -> int | None:
        value = items[index]
        if isinstance(value, str):
            return self.line_of(keys, value)
        nth = sum(1 for v in items[:index] if type(v) is type(value))
        return self.line_of(keys, value, nth)

    def error(
        self,
        keys: Sequence[Key],
        reason: str,
        *,
        line: int | None = None,
        value: object = None,
        hint: str | None = None,
        cls: type[ManifestError] = ManifestError,
    ) -> ManifestError:
        if line is None:
            line = self.line_of(keys, value)
        return cls(self.path, reason, line=line, hint=hint)

    def where(self, keys: Sequence[Key]) -> str:
        return keypath(keys)

    def kind(self, value: object) -> str:
        return kind(value)

    def get(self, keys: Sequence[str]) -> Any:
        node: Any = self.data
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def table(self, keys: Sequence[Key], value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(
                keys, f"{keypath(keys)} must be a table, got {kind(value)}", value=value
            )
        return value

    def array(self, keys: Sequence[Key], value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(
                keys, f"{keypath(keys)} must be an array, got {kind(value)}", value=value
            )
        return value

    def string(self, keys: Sequence[Key], value: Any, *, line: int | None = None) -> str:
        if not isinstance(value, str):
            got = "nothing" if value is None else f"{kind(value)} {value!r}"
            raise self.error(
                keys,
                f"{keypath(keys)} must be a string, got {got}",
                line=line,
                value=value,
            )
        return value

    def strings(self, keys: Sequence[Key], value: Any) -> list[str]:
        items = self.array(keys, value)
        return [
            self.string([*keys, i], v, line=self.item_line(keys, items, i))
            for i, v in enumerate(items)
        ]


NO_DEPS_HINT = (
    "list the dependencies in [project].dependencies (PEP 621), [dependency-groups] "
    "(PEP 735) or [tool.poetry.dependencies]"
)
DYNAMIC_HINT = (
    "Ferry reads dependencies without running the build backend: list them statically in "
    "[project].dependencies, or hand Ferry a requirements file exported from the build "
    "(for example `uv pip compile pyproject.toml -o requirements.txt`)"
)


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
