"""One bundle from Python and npm manifests together: resolve each, fetch, pack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ferry.bundle.archive import ArchiveFormat, root_name_for, write_archive
from ferry.bundle.layout import BundleInput, bundle_entries, delta_of
from ferry.bundle.npm_layout import NpmPart
from ferry.ecosystems.npm.model import NpmResolution
from ferry.ecosystems.pypi.options import PythonOptions
from ferry.errors import Hint, UsageError
from ferry.fetch.progress import ProgressListener
from ferry.filehash import sha256_of_file
from ferry.manifests import RUNTIME_ONLY, split_manifests
from ferry.manifests.model import Selection
from ferry.models.bundled import ModelPart
from ferry.registry.inventory import Inventory
from ferry.services.cache import trim_cache
from ferry.services.confinement import Confinement
from ferry.services.npm_bundle import fetch_tarballs, open_npm_context, resolve_node_project
from ferry.services.npm_prebuilt import fetch_prebuilt
from ferry.services.python_bundle import (
    BundleOutcome,
    PythonPrepared,
    ResolutionFailed,
    prepare_python,
)
from ferry.settings import Settings
from ferry.targets import NodeTarget, PythonTarget, host_node_target


@dataclass
class BundlePlan:
    """What to bundle and for which machine."""

    manifests: list[Path]
    python_targets: list[PythonTarget] = field(default_factory=list)
    node_target: NodeTarget | None = None
    selection: Selection = RUNTIME_ONLY
    all_platforms: bool = False
    python_options: PythonOptions = field(default_factory=PythonOptions)
    # what the far side holds (ferry inventory): left out of the bundle, marked present
    present: Inventory | None = None
    # model and dataset versions to carry, their bytes found (ferry bundle --model)
    models: list[ModelPart] = field(default_factory=list)

    @property
    def include_dev(self) -> bool:
        return self.selection.all_groups or self.selection.wants("dev")


@dataclass
class NpmPrepared:
    resolution: NpmResolution
    part: NpmPart
    bytes_fetched: int
    from_cache: int


async def prepare_npm(
    settings: Settings,
    plan: BundlePlan,
    manifests: list[Path],
    *,
    listener: ProgressListener | None,
    announce: Callable[[str], None],
    timings: dict[str, float],
    confinement: Confinement | None = None,
) -> NpmPrepared:
    target = plan.node_target
    if target is None:
        target = await asyncio.to_thread(host_node_target)
    t0 = time.perf_counter()
    async with open_npm_context(settings, confinement) as ctx:
        resolution = await resolve_node_project(
            settings,
            manifests,
            target,
            include_dev=plan.include_dev,
            all_platforms=plan.all_platforms,
            ctx=ctx,
            sizes=False,
            confinement=confinement,
        )
        timings["resolve"] = timings.get("resolve", 0.0) + time.perf_counter() - t0
        if resolution.has_errors:
            first = next(p for p in resolution.problems if p.severity == "error")
            raise ResolutionFailed(None, first.message, npm=resolution)
        announce("fetching npm")
        t1 = time.perf_counter()
        fetched = await fetch_tarballs(settings, ctx, resolution, listener)
        fetched.report.raise_for_failures()
        # native addons: the target's prebuilt binaries, where their install tool says
        prebuilt, addon_problems = await fetch_prebuilt(ctx, resolution, fetched.paths)
        resolution.problems += addon_problems
        timings["fetch"] = timings.get("fetch", 0.0) + time.perf_counter() - t1
    package_json = next((p for p in manifests if p.name == "package.json"), None)
    content = (
        package_json.read_bytes()
        if package_json is not None
        else _package_json_from_lock(resolution)
    )
    part = NpmPart(
        resolution, content, fetched.paths, include_dev=plan.include_dev, prebuilt=prebuilt
    )
    return NpmPrepared(resolution, part, fetched.report.bytes_fetched, fetched.report.from_cache)


def _package_json_from_lock(resolution: NpmResolution) -> bytes:
    import json

    root = dict(resolution.lock.get("packages", {}).get("", {}))
    root.setdefault("name", resolution.root_name)
    root.setdefault("version", resolution.root_version or "0.0.0")
    return json.dumps(root, indent=2).encode() + b"\n"


async def bundle(
    settings: Settings,
    plan: BundlePlan,
    out: Path,
    fmt: ArchiveFormat,
    *,
    listener: ProgressListener | None = None,
    phase: Callable[[str], None] | None = None,
    confinement: Confinement | None = None,
) -> BundleOutcome:
    """Resolve, fetch and verify everything, then write one archive (a service task's
    within its ``confinement``).

    Raises ResolutionFailed when either ecosystem's resolution has errors: a bundle that
    cannot install is worse than none.
    """
    python_files, npm_files = split_manifests(plan.manifests)
    if not python_files and not npm_files and not plan.models:
        raise UsageError("no manifests given", hint=Hint("name-manifests"))
    if python_files and not plan.python_targets:
        raise UsageError("Python manifests given but no Python target")
    announce = phase or (lambda _name: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    announce("resolving")
    python: PythonPrepared | None = None
    if python_files:
        python = await prepare_python(
            settings,
            python_files,
            plan.python_targets,
            plan.selection,
            listener=listener,
            announce=announce,
            timings=timings,
            # `--group dev` may be meant for the npm project alone
            groups_elsewhere=frozenset({"dev"}) if npm_files else frozenset(),
            confinement=confinement,
            options=plan.python_options,
        )
    npm: NpmPrepared | None = None
    if npm_files:
        announce("resolving")
        npm = await prepare_npm(
            settings,
            plan,
            npm_files,
            listener=listener,
            announce=announce,
            timings=timings,
            confinement=confinement,
        )

    announce("packing")
    t2 = time.perf_counter()
    entries = bundle_entries(
        BundleInput(
            resolution=python.outcome.resolution if python else None,
            manifests=list(plan.manifests),
            files=python.paths if python else {},
            npm=npm.part if npm else None,
            python_options=python.outcome.options.to_dict() if python else None,
            present=plan.present,
            models=plan.models,
        )
    )
    delta = delta_of(entries)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = await asyncio.to_thread(write_archive, out, fmt, entries, root=root_name_for(out))
    # the archive's own digest, to check the transfer across the gap from outside it (read
    # back once: the zip writer seeks, so it cannot be hashed while written)
    sha256 = await asyncio.to_thread(sha256_of_file, out)
    timings["pack"] = time.perf_counter() - t2
    # the files of this bundle were all used just now, so they are the last to go
    await asyncio.to_thread(trim_cache, settings)
    timings["total"] = time.perf_counter() - t0
    py_files = len(python.outcome.resolution.unique_files()) if python else 0
    return BundleOutcome(
        resolve=python.outcome if python else None,
        npm=npm.resolution if npm else None,
        archive=out,
        archive_size=size,
        archive_sha256=sha256,
        files=py_files
        + (len(set(npm.part.files.values())) if npm else 0)
        + sum(len(m.version.files) for m in plan.models),
        present_files=delta.get("present_files", 0),
        present_bytes=delta.get("present_bytes", 0),
        bytes_fetched=(python.bytes_fetched if python else 0) + (npm.bytes_fetched if npm else 0),
        from_cache=(python.from_cache if python else 0) + (npm.from_cache if npm else 0),
        timings=timings,
    )


async def bundle_python(
    settings: Settings,
    manifests: list[Path],
    targets: list[PythonTarget],
    out: Path,
    fmt: ArchiveFormat,
    selection: Selection = RUNTIME_ONLY,
    *,
    listener: ProgressListener | None = None,
    phase: Callable[[str], None] | None = None,
) -> BundleOutcome:
    """A bundle of Python manifests only (see ``bundle``)."""
    plan = BundlePlan(manifests=manifests, python_targets=targets, selection=selection)
    return await bundle(settings, plan, out, fmt, listener=listener, phase=phase)
