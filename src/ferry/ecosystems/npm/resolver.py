"""Resolve a Node project for a target with npm's own resolver, then read the lock.

Without a lock, `npm install --package-lock-only --ignore-scripts` writes one in a scratch
directory (no install scripts, no node_modules). A given lock is used as is. Either way the
lock lists every platform's packages; `lockfile.select` keeps what `npm ci` would install
on the target, and the registry's per-version documents fill in what locks may lack
(tarball URLs under `omit-lockfile-registry-resolved`, deprecation notices).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from ferry.ecosystems.npm.lockfile import build_tree, lock_packages, root_dependencies, select
from ferry.ecosystems.npm.model import Integrity, NpmPackage, NpmResolution
from ferry.ecosystems.npm.npmcli import run_npm
from ferry.ecosystems.npm.peers import peer_problems
from ferry.ecosystems.npm.semver import ranges_fit
from ferry.ecosystems.npm.sources import NpmSources
from ferry.errors import FetchError
from ferry.manifests.npm import NpmInput
from ferry.problems import Problem
from ferry.sandbox.runner import Runner
from ferry.stages import Stages, counter, no_stages
from ferry.store.cas import ContentStore
from ferry.targets import NodeTarget

if TYPE_CHECKING:
    from ferry.fetch.backends import Downloads


@dataclass(frozen=True)
class NpmContext:
    npm: Path
    sources: NpmSources
    runner: Runner  # where npm runs: directly, or in a service task's sandbox
    client: httpx.AsyncClient
    store: ContentStore
    concurrency: int = 8
    # Tarballs go through the run's download backend (see ferry.fetch.backends).
    downloads: Downloads | None = None


@dataclass(frozen=True)
class LockOutcome:
    lock: dict[str, Any] | None
    generated: bool
    problems: list[Problem]


_NPM_ERROR = re.compile(r"npm error code (\S+)")
_NOTARGET = re.compile(r"No matching version found for (\S+?)\.?$", re.MULTILINE)
_E404 = re.compile(r"404\s+'?([^'\s]+@[^'\s]*)'? is not in this registry", re.MULTILINE)
_PLACE = re.compile(r"placeDep \S+ (\S+?)@\S* OK for: (\S+) want: (.+)$", re.MULTILINE)


def _who_asked(log: str, spec: str) -> tuple[str, ...]:
    """The chain from the project down to ``spec`` from npm's debug log (placeDep lines)."""
    name = spec.rsplit("@", 1)[0] if spec.count("@") > (1 if spec.startswith("@") else 0) else spec
    placed = {m[1]: (m[2], m[3].strip()) for m in _PLACE.finditer(log)}
    chain: list[str] = []
    current = name
    for _ in range(50):  # a chain is never this deep; guards against odd logs
        if current not in placed:
            break
        parent, want = placed[current]
        chain.append(f"{parent} → {current}@{want}")
        current = (
            parent.rsplit("@", 1)[0]
            if parent.count("@") > (1 if parent.startswith("@") else 0)
            else parent
        )
    return tuple(reversed(chain))


async def generate_lock(ctx: NpmContext, npm_input: NpmInput, target: NodeTarget) -> LockOutcome:
    if npm_input.package_json is None:
        return LockOutcome(
            None,
            False,
            [Problem.of("error", "no-package-json", {})],
        )
    async with ctx.runner.workspace() as ws:
        work = ws.host
        project = work / "project"
        project.mkdir()
        shutil.copyfile(npm_input.package_json, project / "package.json")
        userconfig = work / "npmrc"
        # Ferry's sources, then the project's own install settings (legacy-peer-deps, …)
        project_lines = npm_input.npmrc.config_lines() if npm_input.npmrc else []
        userconfig.write_text(ctx.sources.npmrc() + "".join(f"{x}\n" for x in project_lines))
        logs = work / "logs"
        run = await run_npm(
            ctx.npm,
            [
                "install",
                "--package-lock-only",
                "--ignore-scripts",
                "--lockfile-version",
                "3",
                "--no-audit",
                "--no-fund",
            ],
            ws=ws,
            cwd=project,
            userconfig=userconfig,
            logs_dir=logs,
        )
        if run.returncode == 0:
            lock = json.loads((project / "package-lock.json").read_text())
            return LockOutcome(lock, True, [])
        log = "".join(p.read_text(errors="replace") for p in sorted(logs.glob("*.log")))
    return LockOutcome(None, True, [_failure_problem(run.stderr, log, target)])


def _failure_problem(stderr: str, log: str, target: NodeTarget) -> Problem:
    code = m[1] if (m := _NPM_ERROR.search(stderr)) else "unknown"
    message = (
        "\n".join(
            line.removeprefix("npm error ").strip()
            for line in stderr.splitlines()
            if line.startswith("npm error") and "complete log" not in line
        )
        or stderr.strip()
    )
    spec = None
    if (m := _NOTARGET.search(stderr)) or (m := _E404.search(stderr)):
        spec = m[1]
    kind = {"ETARGET": "unsatisfiable", "E404": "not-found", "ERESOLVE": "conflict"}.get(
        code, "resolver-error"
    )
    chain = _who_asked(log, spec) if spec else ()
    # npm's own explanation, as it wrote it
    return Problem.of(
        "error", kind, {"output": message}, package=spec, target=target.key, chain=chain
    )


def _tarball_url(ctx: NpmContext, pkg: NpmPackage) -> str | None:
    resolved = pkg.resolved
    if not resolved or not resolved.startswith(("http://", "https://")):
        return None
    # npm's replace-registry-host default: a lock naming npm's default registry is fetched
    # from the configured one (how locks move between machines and mirrors)
    default, configured = ctx.sources.default_registry, ctx.sources.registry_for(pkg.name)
    if default and resolved.startswith(default) and configured != default:
        return configured + resolved[len(default) :]
    return resolved


async def _version_document(ctx: NpmContext, pkg: NpmPackage) -> dict[str, Any]:
    url = f"{ctx.sources.registry_for(pkg.name)}{quote(pkg.name, safe='@')}/{pkg.version}"
    try:
        response = await ctx.client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise FetchError(params={"url": url, "cause": str(exc)}) from exc
    if response.status_code >= 400:
        raise FetchError(params={"url": url, "status": response.status_code})
    doc = response.json()
    return doc if isinstance(doc, dict) else {}


async def _enrich(
    ctx: NpmContext, pkg: NpmPackage, target: NodeTarget, sizes: bool
) -> list[Problem]:
    """Tarball URL and integrity from the registry when the lock lacks them; size.

    npm records `deprecated` in the lock, so a complete entry needs no registry request:
    a bundle of a lock costs the tarball downloads and nothing else.
    """
    problems: list[Problem] = []
    url = _tarball_url(ctx, pkg)
    try:
        doc = {} if url and pkg.integrity else await _version_document(ctx, pkg)
    except FetchError as exc:
        if url is None or pkg.integrity is None:
            return [
                Problem.of(
                    "error", "registry-unreadable", exc.params, package=pkg.name, target=target.key
                )
            ]
        doc = {}
    dist = doc.get("dist") if isinstance(doc.get("dist"), dict) else {}
    assert isinstance(dist, dict)
    if isinstance(doc.get("deprecated"), str) and doc["deprecated"]:
        pkg.deprecated = doc["deprecated"]
    if pkg.deprecated:  # from the lock (npm records it) or the registry
        problems.append(
            Problem.of(
                "warning",
                "deprecated",
                {"package": pkg.name, "version": pkg.version, "reason": pkg.deprecated},
                package=pkg.name,
                target=target.key,
            )
        )
    if url is None and isinstance(dist.get("tarball"), str):
        url = dist["tarball"]
    pkg.resolved = url
    if pkg.integrity is None:
        if isinstance(dist.get("integrity"), str):
            pkg.integrity = Integrity.parse(dist["integrity"])
        elif isinstance(dist.get("shasum"), str):
            pkg.integrity = Integrity.from_shasum(dist["shasum"])
    if url is None or pkg.integrity is None:
        problems.append(
            Problem.of(
                "error",
                "no-tarball",
                {"package": pkg.name, "version": pkg.version},
                package=pkg.name,
                target=target.key,
            )
        )
    elif pkg.integrity.algorithm == "sha1":
        problems.append(
            Problem.of(
                "warning",
                "weak-integrity",
                {"package": pkg.name, "version": pkg.version},
                package=pkg.name,
                target=target.key,
            )
        )
    pkg.size = await _size(ctx, pkg, url, sizes)
    return problems


async def _size(ctx: NpmContext, pkg: NpmPackage, url: str | None, ask: bool) -> int | None:
    """From the store when the tarball is there, else (when asked) the registry's HEAD."""
    if pkg.integrity is not None and ctx.store.has(
        pkg.integrity.hex, algorithm=pkg.integrity.algorithm
    ):
        return ctx.store.path_for(pkg.integrity.hex, pkg.integrity.algorithm).stat().st_size
    if not ask or url is None:
        return None
    try:
        response = await ctx.client.head(url, headers={"Accept-Encoding": "identity"})
    except httpx.HTTPError:
        return None
    length = response.headers.get("content-length")
    return int(length) if response.status_code == 200 and length and length.isdigit() else None


async def _engine_problems(
    ctx: NpmContext, kept: list[NpmPackage], target: NodeTarget, *, strict: bool = False
) -> list[Problem]:
    """``strict``: the project's engine-strict, under which `npm ci` refuses the package."""
    wanting = [p for p in kept if p.engines.get("node")]
    fits = await ranges_fit(ctx.npm, target.node, [p.engines["node"] for p in wanting])
    return [
        Problem.of(
            "error" if strict else "warning",
            "engines-mismatch",
            {
                "package": p.name,
                "version": p.version,
                "wanted": p.engines["node"],
                "node": target.node,
                "engine_strict": "true" if strict else None,
            },
            package=p.name,
            target=target.key,
        )
        for p, fit in zip(wanting, fits, strict=True)
        if fit is False
    ]


def _npmrc_problems(npm_input: NpmInput, target: NodeTarget) -> list[Problem]:
    """What of the project's .npmrc Ferry did not use, and why (info: nothing is lost)."""
    npmrc = npm_input.npmrc
    if npmrc is None:
        return []
    name = npmrc.path.name
    problems = [
        Problem.of(
            "info",
            "npmrc-ignored",
            {"file": name, "line": item.line, "key": item.key, "value": item.value},
            target=target.key,
        )
        for item in npmrc.dropped
    ]
    if npmrc.credentials:
        lines = ", ".join(map(str, npmrc.credentials))
        problems.append(
            Problem.of(
                "info", "npmrc-credentials", {"file": name, "lines": lines}, target=target.key
            )
        )
    for item in npmrc.ignored:
        why = "variable" if "${" in item.value else "setting"
        problems.append(
            Problem.of(
                "info",
                "npmrc-ignored",
                {"file": name, "line": item.line, "key": item.key, "why": why},
                target=target.key,
            )
        )
    return problems


def filled_lock(lock: dict[str, Any], packages: list[NpmPackage]) -> dict[str, Any]:
    """The lock with every kept package's tarball URL and integrity written in, which
    `npm ci --offline` needs to find each tarball in the cache."""
    out = copy.deepcopy(lock)
    for pkg in packages:
        entry = out["packages"][pkg.path]
        if pkg.resolved:
            entry["resolved"] = pkg.resolved
        if pkg.integrity is not None and "integrity" not in entry:
            entry["integrity"] = pkg.integrity.sri
    return out


async def resolve_npm(
    ctx: NpmContext,
    npm_input: NpmInput,
    target: NodeTarget,
    *,
    include_dev: bool = False,
    all_platforms: bool = False,
    sizes: bool = True,
    stages: Stages = no_stages,
) -> NpmResolution:
    """``sizes``: ask the registry for tarball sizes not in the store (a bundle, which
    downloads them anyway, says no)."""
    stages("npm", "resolving")
    if npm_input.lock is not None:
        outcome = LockOutcome(npm_input.lock, False, [])
    else:
        outcome = await generate_lock(ctx, npm_input, target)
    root = (outcome.lock or {}).get("packages", {}).get("", {}) or npm_input.manifest
    result = NpmResolution(
        target=target,
        root_name=str(root.get("name") or npm_input.manifest.get("name") or "project"),
        root_version=str(root.get("version") or npm_input.manifest.get("version") or ""),
        lock=outcome.lock or {},
        problems=[*_npmrc_problems(npm_input, target), *outcome.problems],
        lock_generated=outcome.generated,
        install_settings=(
            {k: v.value for k, v in npm_input.npmrc.settings.items()} if npm_input.npmrc else {}
        ),
    )
    if outcome.lock is None:
        return result
    kept, left_out, problems = select(
        lock_packages(outcome.lock), target, include_dev=include_dev, all_platforms=all_platforms
    )
    result.packages, result.excluded = kept, left_out
    result.problems += problems
    # A few requests at a time: hundreds queued at once make the HTTP pool's bookkeeping
    # cost more CPU than the requests themselves (bench/RESULTS.md).
    slots = asyncio.Semaphore(ctx.concurrency)

    read = counter(stages, "npm", "metadata", len(kept))

    async def enrich(pkg: NpmPackage) -> list[Problem]:
        async with slots:
            found = await _enrich(ctx, pkg, target, sizes)
        read()
        return found

    enriched = await asyncio.gather(*(enrich(p) for p in kept))
    result.problems += [p for found in enriched for p in found]
    stages("npm", "checks")
    npmrc = npm_input.npmrc
    result.problems += await _engine_problems(
        ctx, kept, target, strict=bool(npmrc and npmrc.flag("engine-strict"))
    )
    result.problems += await peer_problems(
        ctx.npm, kept, target, strict=bool(npmrc and npmrc.flag("strict-peer-deps"))
    )
    result.tree = build_tree(root_dependencies(outcome.lock, include_dev=include_dev), kept)
    result.lock = filled_lock(outcome.lock, kept)
    return result
