"""The extras and dependency groups a set of manifests declares, so that the upload form
offers them instead of asking the user to type names (Poetry groups, PEP 735
``[dependency-groups]``, ``[project.optional-dependencies]``, Pipfile's ``dev-packages``,
and ``dev`` for an npm project with devDependencies).

Read by the same parsers the analysis uses, so that a name offered is a name the
analysis accepts. A file that cannot be read is reported, not raised: the user learns
at once which file and line is broken, and the other files still offer their groups.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ferry.errors import ManifestError
from ferry.manifests import parse_manifest, split_manifests
from ferry.manifests.model import InputRules
from ferry.manifests.npm import PACKAGE_JSON
from ferry.manifests.requirements_txt import read_bytes

Ecosystem = Literal["pypi", "npm"]


@dataclass
class DeclaredGroup:
    name: str
    ecosystem: Ecosystem
    files: list[str] = field(default_factory=list)


@dataclass
class Declared:
    groups: list[DeclaredGroup] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)

    def add(self, name: str, ecosystem: Ecosystem, file: str) -> None:
        for group in self.groups:
            if (group.name, group.ecosystem) == (name, ecosystem):
                if file not in group.files:
                    group.files.append(file)
                return
        self.groups.append(DeclaredGroup(name, ecosystem, [file]))


def declared_groups(paths: Sequence[Path], rules: InputRules) -> Declared:
    """What ``paths`` declare. Includes (``-r other.txt``) follow ``rules``, as in a task."""
    out = Declared()
    python_files, npm_files = split_manifests(paths)
    for path in python_files:
        try:
            found = parse_manifest(path, rules=rules)
        except ManifestError as exc:
            out.errors.append(exc)
            continue
        for name in found.groups:
            out.add(name, "pypi", path.name)
    for path in npm_files:
        if path.name != PACKAGE_JSON:
            continue
        try:
            doc = json.loads(read_bytes(path).decode("utf-8-sig"))
        except ManifestError as exc:
            out.errors.append(exc)
            continue
        except ValueError as exc:  # UnicodeDecodeError is one too
            out.errors.append(ManifestError(path, f"is not valid JSON: {exc}"))
            continue
        if isinstance(doc, dict) and doc.get("devDependencies"):
            out.add("dev", "npm", path.name)
    out.groups.sort(key=lambda g: (g.name, g.ecosystem))
    return out
