"""How many packages a task's analysis found: what the task list shows beside its name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _distinct(packages: object) -> set[tuple[object, object]]:
    if not isinstance(packages, list):
        return set()
    return {(p.get("name"), p.get("version")) for p in packages if isinstance(p, dict)}


def package_count(dependencies: Mapping[str, Any] | None) -> int | None:
    """Distinct packages (name and version) per ecosystem, summed; None without a tree.

    Distinct, not per target: a package resolved for two Python targets is one package
    in the list (even when each target gets a wheel of its own)."""
    if dependencies is None:
        return None
    total = 0
    python = dependencies.get("python")
    if isinstance(python, dict):
        targets = python.get("targets")
        seen: set[tuple[object, object]] = set()
        for target in targets if isinstance(targets, list) else []:
            if isinstance(target, dict):
                seen |= _distinct(target.get("packages"))
        total += len(seen)
    npm = dependencies.get("npm")
    if isinstance(npm, dict):
        total += len(_distinct(npm.get("packages")))
    return total
