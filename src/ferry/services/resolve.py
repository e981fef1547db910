"""Resolve Python and npm manifests together (what `ferry resolve` and a task's
analysis step show)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ferry.ecosystems.npm.model import NpmResolution
from ferry.ecosystems.pypi.options import PythonOptions
from ferry.manifests import split_manifests
from ferry.manifests.model import Selection
from ferry.services.confinement import Confinement
from ferry.services.npm_bundle import resolve_node_project
from ferry.services.python_bundle import ResolveOutcome, resolve_python
from ferry.settings import Settings
from ferry.stages import Stages, no_stages
from ferry.targets import NodeTarget, PythonTarget

T = TypeVar("T")


@dataclass
class Resolved:
    python: ResolveOutcome | None
    npm: NpmResolution | None

    @property
    def has_errors(self) -> bool:
        return bool(
            (self.python and self.python.resolution.has_errors)
            or (self.npm and self.npm.has_errors)
        )

    @property
    def has_warnings(self) -> bool:
        return bool(
            (self.python and self.python.resolution.has_warnings)
            or (self.npm and self.npm.has_warnings)
        )

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {}
        if self.python is not None:
            doc["python"] = self.python.resolution.to_dict()
        if self.npm is not None:
            doc["npm"] = self.npm.to_dict()
        return doc


async def resolve_all(
    settings: Settings,
    manifests: list[Path],
    python_targets: list[PythonTarget],
    node_target: NodeTarget | None,
    selection: Selection,
    *,
    all_platforms: bool = False,
    confinement: Confinement | None = None,
    python_options: PythonOptions | None = None,
    stages: Stages = no_stages,
) -> Resolved:
    """Both ecosystems at once; ``stages`` hears where each one is, and its ``done``."""
    python_files, npm_files = split_manifests(manifests)
    python = None
    if python_files:
        python = _then_done(
            stages,
            "pypi",
            resolve_python(
                settings,
                python_files,
                python_targets,
                selection,
                # `--group dev` may be meant for the npm project alone
                groups_elsewhere=frozenset({"dev"}) if npm_files else frozenset(),
                confinement=confinement,
                options=python_options,
                stages=stages,
            ),
        )
    npm = None
    if npm_files and node_target is not None:
        npm = _then_done(
            stages,
            "npm",
            resolve_node_project(
                settings,
                npm_files,
                node_target,
                include_dev=selection.all_groups or selection.wants("dev"),
                all_platforms=all_platforms,
                confinement=confinement,
                stages=stages,
            ),
        )
    py_result, npm_result = await asyncio.gather(
        python if python is not None else _none(), npm if npm is not None else _none()
    )
    return Resolved(py_result, npm_result)


async def _none() -> None:
    return None


async def _then_done(stages: Stages, ecosystem: str, work: Awaitable[T]) -> T:
    result = await work
    stages(ecosystem, "done")
    return result
