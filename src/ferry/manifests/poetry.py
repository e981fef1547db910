"""Poetry's constraint language and [tool.poetry] tables, translated to PEP 440 / PEP 508."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ferry.errors import UnsupportedRequirementError
from ferry.manifests.model import Origin, PyRequirement, PythonInput, Selection
from ferry.manifests.requirements_txt import CARRY_HINT, and_markers, assemble, build_requirement
from ferry.manifests.tomldoc import Key, TomlDoc


class ConstraintError(ValueError):
    """A Poetry constraint that has no PEP 440 equivalent (or is not a constraint at all)."""


_OR = re.compile(r"\s*\|\|?\s*")
_AND = re.compile(r"[,\s]+")
_OP_GAP = re.compile(r"(===|==|!=|~=|>=|<=|\^|~|=|>|<)\s+")
_OP = re.compile(r"^(===|==|!=|>=|<=|>|<|=)?(.*)$")
_WILDCARD = re.compile(r"^(.*)\.[*xX]$")
_ANY = ("", "*", "x", "X")


def poetry_constraint_alternatives(constraint: str) -> list[str]:
    """One PEP 440 specifier per `||` alternative; `[""]` when any version will do."""
    alternatives = [_translate_and(part) for part in _OR.split(constraint.strip())]
    return [""] if "" in alternatives else list(dict.fromkeys(alternatives))


def poetry_constraint_to_specifier(constraint: str) -> str:
    """Translate exactly like Poetry: `^1.2.3` -> `>=1.2.3,<2.0.0`, `~1.2` -> `>=1.2,<1.3`."""
    alternatives = poetry_constraint_alternatives(constraint)
    if len(alternatives) == 1:
        return alternatives[0]
    merged = _merge(_intervals(constraint, alternatives))
    if len(merged) > 1:
        raise ConstraintError(
            f"{constraint!r}: `||` between disjoint ranges has no single PEP 440 specifier; "
            "pick one range, or use one table per range with a `python`/`markers` condition"
        )
    return _to_spec(merged[0])


def poetry_python_to_marker(constraint: str) -> str | None:
    """`^3.8 || ^3.10` as `(python_version >= "3.8" and ...) or (...)`; None for any Python."""
    alternatives = poetry_constraint_alternatives(constraint)
    if alternatives == [""]:
        return None
    exprs = [" and ".join(_python_clause(s) for s in alt.split(",")) for alt in alternatives]
    return exprs[0] if len(exprs) == 1 else " or ".join(f"({e})" for e in exprs)


def poetry_python_to_requires_python(constraint: str) -> tuple[str, bool]:
    """The project's `python` as requires-python; True when `||` forced a wider hull."""
    alternatives = poetry_constraint_alternatives(constraint)
    if len(alternatives) == 1:
        return alternatives[0], False
    merged = _merge(_intervals(constraint, alternatives))
    return _to_spec((merged[0][0], merged[-1][1])), len(merged) > 1


def _translate_and(part: str) -> str:
    tokens = [t for t in _AND.split(_OP_GAP.sub(r"\1", part.strip())) if t]
    specs = [spec for token in tokens for spec in _translate_token(token)]
    result = ",".join(specs)
    try:
        SpecifierSet(result)
    except InvalidSpecifier:
        raise ConstraintError(f"{part!r} is not a valid version constraint") from None
    return result


def _translate_token(token: str) -> list[str]:
    if token in _ANY:
        return []
    if token.startswith("^"):
        version = _version(token[1:], token)
        return _range(version, _caret_upper(version.release))
    if token.startswith("~="):
        return [_checked(token)]
    if token.startswith("~"):
        version = _version(token[1:], token)
        index = 0 if len(version.release) == 1 else 1
        return _range(version, _bump(version.release, index))
    match = _OP.match(token)
    assert match is not None
    op, text = match.group(1) or "==", match.group(2)
    op = "==" if op == "=" else op
    if text in _ANY:
        return []
    wildcard = _WILDCARD.match(text)
    if wildcard:
        text = f"{wildcard.group(1)}.*"
    return [_checked(op + text)]


def _version(text: str, token: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise ConstraintError(f"{token!r} is not a valid version constraint") from None


def _checked(spec: str) -> str:
    try:
        Specifier(spec)
    except InvalidSpecifier:
        raise ConstraintError(f"{spec!r} is not a valid version constraint") from None
    return spec


def _caret_upper(release: tuple[int, ...]) -> tuple[int, ...]:
    # Poetry's next_breaking(): the first non-zero component is the breaking one.
    if release[0] > 0 or len(release) == 1:
        return _bump(release, 0)
    if release[1] > 0 or len(release) == 2:
        return _bump(release, 1)
    return _bump(release, 2)


def _bump(release: tuple[int, ...], index: int) -> tuple[int, ...]:
    return (*release[:index], release[index] + 1, *([0] * (len(release) - index - 1)))


def _range(lower: Version, upper: tuple[int, ...]) -> list[str]:
    return [f">={lower}", f"<{'.'.join(map(str, upper))}"]


def _python_clause(item: str) -> str:
    spec = Specifier(item)
    release = spec.version.removesuffix(".*")
    precise = len(release.split(".")) >= 3 or not release.replace(".", "").isdigit()
    variable = "python_full_version" if precise else "python_version"
    return f'{variable} {spec.operator} "{spec.version}"'


@dataclass(frozen=True)
class _Bound:
    version: Version
    inclusive: bool


_Interval = tuple[_Bound | None, _Bound | None]


def _intervals(constraint: str, alternatives: Sequence[str]) -> list[_Interval]:
    out: list[_Interval] = []
    for alternative in alternatives:
        lower: _Bound | None = None
        upper: _Bound | None = None
        for spec in map(Specifier, alternative.split(",")):
            if spec.operator in ("==", "===", "!=", "~=") and (
                spec.operator != "==" or spec.version.endswith("*")
            ):
                raise ConstraintError(
                    f"{constraint!r}: `||` can only join plain ranges, not {spec}"
                )
            bound = _Bound(Version(spec.version), spec.operator in ("==", ">=", "<="))
            if spec.operator in ("==", ">=", ">"):
                lower = _tighter(lower, bound, lower=True)
            if spec.operator in ("==", "<=", "<"):
                upper = _tighter(upper, bound, lower=False)
        out.append((lower, upper))
    return out


def _tighter(old: _Bound | None, new: _Bound, *, lower: bool) -> _Bound:
    if old is None:
        return new
    if old.version == new.version:
        return new if old.inclusive else old
    pick = max if lower else min
    return pick(old, new, key=lambda b: b.version)


def _merge(intervals: list[_Interval]) -> list[_Interval]:
    def start(interval: _Interval) -> tuple[int, Version, bool]:
        low = interval[0]
        return (0, Version("0"), False) if low is None else (1, low.version, not low.inclusive)

    ordered = sorted(intervals, key=start)
    merged = [ordered[0]]
    for lower, upper in ordered[1:]:
        last_lower, last_upper = merged[-1]
        if _overlaps(last_upper, lower):
            merged[-1] = (last_lower, _wider_upper(last_upper, upper))
        else:
            merged.append((lower, upper))
    return merged


def _overlaps(upper: _Bound | None, lower: _Bound | None) -> bool:
    if upper is None or lower is None:
        return True
    if lower.version != upper.version:
        return lower.version < upper.version
    return lower.inclusive or upper.inclusive


def _wider_upper(a: _Bound | None, b: _Bound | None) -> _Bound | None:
    if a is None or b is None:
        return None
    if a.version == b.version:
        return a if a.inclusive else b
    return max(a, b, key=lambda x: x.version)


def _to_spec(interval: _Interval) -> str:
    lower, upper = interval
    if lower and upper and lower.version == upper.version and lower.inclusive and upper.inclusive:
        return f"=={lower.version}"
    parts = []
    if lower:
        parts.append(f"{'>=' if lower.inclusive else '>'}{lower.version}")
    if upper:
        parts.append(f"{'<=' if upper.inclusive else '<'}{upper.version}")
    return ",".join(parts)


_VCS_KEYS = ("git", "hg", "svn", "bzr")
_NOTED_KEYS = ("source", "allow-prereleases", "develop")


@dataclass
class _Poetry:
    doc: TomlDoc
    out: PythonInput

    def dependency(
        self, keys: list[Key], name: str, value: Any
    ) -> tuple[list[PyRequirement], bool]:
        """Requirements for one entry, and whether Poetry marks it optional."""
        if isinstance(value, str):
            value = {"version": value}
        if isinstance(value, dict):
            req = self.from_table(keys, name, value, self.doc.line_of(keys))
            return [req], bool(value.get("optional"))
        if not isinstance(value, list) or not value:
            raise self.doc.error(
                keys,
                f"{self.doc.where(keys)} must be a version string, a table or an array of tables, "
                f"got {self.doc.kind(value)}",
            )
        reqs = []
        for i, item in enumerate(value):
            table = self.doc.table([*keys, i], item)
            line = self.doc.item_line(keys, value, i)
            reqs.append(self.from_table([*keys, i], name, table, line))
        return reqs, any(isinstance(v, dict) and v.get("optional") for v in value)

    def from_table(
        self, keys: list[Key], name: str, table: dict[str, Any], line: int | None
    ) -> PyRequirement:
        path = self.doc.path
        for vcs in _VCS_KEYS:
            if vcs in table:
                raise UnsupportedRequirementError(
                    path,
                    f"{name}: {vcs} dependency {table[vcs]!r} cannot be carried",
                    line=line,
                    hint=CARRY_HINT,
                )
        if "path" in table:
            raise UnsupportedRequirementError(
                path,
                f"{name}: local path dependency {table['path']!r} cannot be carried",
                line=line,
                hint=CARRY_HINT,
            )
        for key in _NOTED_KEYS:
            if key in table:
                self.out.notes.append(f"{path}:{line}: {name}: `{key}` is not applied")
        extras = self.doc.strings([*keys, "extras"], table.get("extras"))
        markers = [self.python_marker(keys, table, line)]
        if "platform" in table:
            platform = self.doc.string([*keys, "platform"], table["platform"], line=line)
            markers.append(f'sys_platform == "{platform}"')
        if "markers" in table:
            markers.append(self.doc.string([*keys, "markers"], table["markers"], line=line))
        marker = and_markers(*markers)
        if "url" in table:
            url = self.doc.string([*keys, "url"], table["url"], line=line)
            text = assemble(name, extras=extras, url=url, marker=marker)
        else:
            version = self.doc.string([*keys, "version"], table.get("version", "*"), line=line)
            text = assemble(
                name, extras=extras, specifier=self.specifier(keys, version, line), marker=marker
            )
        requirement = build_requirement(text, path, line, local_paths=self.doc.local_paths)
        return PyRequirement(requirement, Origin(path, line))

    def specifier(self, keys: list[Key], constraint: str, line: int | None) -> str:
        try:
            return poetry_constraint_to_specifier(constraint)
        except ConstraintError as exc:
            raise self.doc.error(keys, f"{self.doc.where(keys)}: {exc}", line=line) from None

    def python_marker(self, keys: list[Key], table: dict[str, Any], line: int | None) -> str | None:
        if "python" not in table:
            return None
        constraint = self.doc.string([*keys, "python"], table["python"], line=line)
        try:
            return poetry_python_to_marker(constraint)
        except ConstraintError as exc:
            raise self.doc.error(keys, f"{self.doc.where(keys)}.python: {exc}", line=line) from None

    def requires_python(self, keys: list[Key], value: Any) -> None:
        constraint = self.doc.string(keys, value)
        try:
            spec, widened = poetry_python_to_requires_python(constraint)
        except ConstraintError as exc:
            raise self.doc.error(keys, f"{self.doc.where(keys)}: {exc}") from None
        if self.out.requires_python is None and spec:
            self.out.requires_python = spec
            if widened:
                self.out.notes.append(f"{self.doc.path}: python {constraint!r} read as {spec!r}")


def parse_poetry(
    doc: TomlDoc, poetry: dict[str, Any], selection: Selection, out: PythonInput, *, main: bool
) -> None:
    """[tool.poetry]; ``main`` is False when [project].dependencies already lists the runtime."""
    state = _Poetry(doc, out)
    base: list[Key] = ["tool", "poetry"]
    dependencies = doc.table([*base, "dependencies"], poetry.get("dependencies"))
    optional: dict[str, list[PyRequirement]] = {}
    for name, value in dependencies.items():
        keys = [*base, "dependencies", name]
        if name.lower() == "python":
            state.requires_python(keys, value)
        elif main:
            reqs, is_optional = state.dependency(keys, name, value)
            if is_optional:
                optional[canonicalize_name(name)] = reqs
            else:
                out.requirements.extend(reqs)
    if dependencies and not main:
        out.notes.append(
            f"{doc.path}: [tool.poetry.dependencies] only enriches [project].dependencies;"
            " its entries are not added"
        )
    if main:
        _extras(state, poetry, selection, optional)
    for group, keys, table in _groups(doc, poetry):
        if group not in out.groups:
            out.groups.append(group)
        if not selection.wants(group):
            continue
        for name, value in table.items():
            reqs, _ = state.dependency([*keys, name], name, value)
            out.requirements.extend(_grouped(reqs, group))


def _extras(
    state: _Poetry,
    poetry: dict[str, Any],
    selection: Selection,
    optional: dict[str, list[PyRequirement]],
) -> None:
    doc = state.doc
    base: list[Key] = ["tool", "poetry", "extras"]
    added: set[str] = set()
    for extra, members in doc.table(base, poetry.get("extras")).items():
        group = canonicalize_name(extra)
        if group not in state.out.groups:
            state.out.groups.append(group)
        keys = [*base, extra]
        names = doc.strings(keys, members)
        if not selection.wants(extra):
            continue
        for member in names:
            name = canonicalize_name(member.split("[")[0].strip())
            if name not in optional:
                raise doc.error(
                    keys,
                    f"extra {extra!r} lists {member!r}, which is not an optional dependency"
                    " (`optional = true`) in [tool.poetry.dependencies]",
                    value=member,
                )
            if name not in added:
                added.add(name)
                state.out.requirements.extend(_grouped(optional[name], group))


def _groups(doc: TomlDoc, poetry: dict[str, Any]) -> list[tuple[str, list[Key], dict[str, Any]]]:
    out: list[tuple[str, list[Key], dict[str, Any]]] = []
    if "dev-dependencies" in poetry:
        keys: list[Key] = ["tool", "poetry", "dev-dependencies"]
        out.append(("dev", keys, doc.table(keys, poetry["dev-dependencies"])))
    for name, body in doc.table(["tool", "poetry", "group"], poetry.get("group")).items():
        keys = ["tool", "poetry", "group", name, "dependencies"]
        table = doc.table(keys[:-1], body)
        out.append((canonicalize_name(name), keys, doc.table(keys, table.get("dependencies"))))
    return out


def _grouped(reqs: list[PyRequirement], group: str) -> list[PyRequirement]:
    return [PyRequirement(r.requirement, r.origin, r.hashes, group) for r in reqs]
