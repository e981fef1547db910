"""npm resolution against the local registry: npm's own resolver, filtered per target,
every problem shown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from conftest import Npm, write
from ferry.ecosystems.npm.model import NpmResolution, TreeNode
from ferry.services.npm_bundle import resolve_node_project
from ferry.settings import Settings
from ferry.targets import NodeTarget

LINUX = NodeTarget.parse("20", "linux", "x64", "glibc")
WINDOWS = NodeTarget.parse("20", "win32", "x64")


def _project(tmp_path: Path, deps: dict[str, str], **extra: object) -> Path:
    return write(
        tmp_path / "project" / "package.json",
        json.dumps({"name": "demo", "version": "1.0.0", "dependencies": deps, **extra}),
    )


def _resolve(
    settings: Settings, files: list[Path], target: NodeTarget = LINUX, **kw: bool
) -> NpmResolution:
    return asyncio.run(resolve_node_project(settings, files, target, **kw))


def _names(nodes: list[TreeNode]) -> list[str]:
    return [n.name for n in nodes]


def test_tree_and_problems(npm_settings: Settings, tmp_path: Path) -> None:
    pkg = _project(
        tmp_path,
        {
            "app": "^1.0.0",
            "old": "1.0.0",
            "future": "*",
            "scripted": "1.0.0",
            "@demo/native": "1.0.0",
        },
    )
    res = _resolve(npm_settings, [pkg])
    assert res.lock_generated
    names = {p.name for p in res.packages}
    assert names == {
        "app",
        "lib",
        "dep",
        "old",
        "future",
        "scripted",
        "@demo/native",
        "@demo/native-linux-x64",
    }
    assert {p.name for p in res.excluded} == {"@demo/native-win32-x64", "@demo/native-darwin-arm64"}
    app = next(n for n in res.tree if n.name == "app")
    assert [(c.name, c.spec) for c in app.children] == [("lib", "^2.0.0")]
    assert _names(app.children[0].children) == ["dep"]
    kinds = {(p.kind, p.package) for p in res.problems}
    assert ("deprecated", "old") in kinds
    assert ("engines-mismatch", "future") in kinds
    assert ("install-script", "scripted") in kinds
    excluded = next(p for p in res.problems if p.kind == "optional-platform-excluded")
    assert "@demo/native-win32-x64" in excluded.message and excluded.severity == "info"
    assert all(
        p.resolved and p.resolved.startswith(npm_settings.npm_registry or "") for p in res.packages
    )
    assert res.has_warnings and not res.has_errors


def test_windows_target_keeps_its_own_platform_package(
    npm_settings: Settings, tmp_path: Path
) -> None:
    pkg = _project(tmp_path, {"@demo/native": "1.0.0"})
    res = _resolve(npm_settings, [pkg], WINDOWS)
    assert {p.name for p in res.packages} == {"@demo/native", "@demo/native-win32-x64"}
    every = _resolve(npm_settings, [pkg], WINDOWS, all_platforms=True)
    assert len(every.packages) == 4 and not every.excluded


def test_unresolvable_spec_names_who_asked(npm_settings: Settings, tmp_path: Path) -> None:
    pkg = _project(tmp_path, {"deep": "1.0.0"})
    res = _resolve(npm_settings, [pkg])
    (problem,) = res.problems
    assert problem.severity == "error" and problem.kind == "unsatisfiable"
    assert "missing@^9.0.0" in problem.message
    assert problem.chain == ("demo@1.0.0 → deep@1.0.0", "deep@1.0.0 → missing@^9.0.0")


def test_unknown_package_is_not_found(npm_settings: Settings, tmp_path: Path) -> None:
    res = _resolve(npm_settings, [_project(tmp_path, {"no-such-package": "^1.0.0"})])
    assert [p.kind for p in res.problems] == ["not-found"]
    assert "no-such-package" in res.problems[0].message


def test_given_lock_without_urls_uses_the_registry(
    npm_settings: Settings, npmreg: Npm, tmp_path: Path
) -> None:
    pkg = _project(tmp_path, {"app": "^1.0.0"})
    generated = _resolve(npm_settings, [pkg])
    lock = json.loads(json.dumps(generated.lock))
    for key, entry in lock["packages"].items():
        if key:
            entry.pop("resolved", None)  # as npm writes with omit-lockfile-registry-resolved
    lock_path = write(tmp_path / "project" / "package-lock.json", json.dumps(lock))
    npmreg.registry.clear_log()
    res = _resolve(npm_settings, [pkg, lock_path])
    assert not res.lock_generated and not res.has_errors
    assert {p.name: p.resolved for p in res.packages} == {
        p.name: p.resolved for p in generated.packages
    }
    # npm was not asked to resolve: no packument requests, only per-version documents
    assert not any(path.rstrip("/").count("/") == 1 for _, path in npmreg.registry.requests)


def test_sizes_and_sha1_only_lock_entries(
    npm_settings: Settings, npmreg: Npm, tmp_path: Path
) -> None:
    import base64
    import hashlib

    pkg = _project(tmp_path, {"dep": "1.0.0"})
    generated = _resolve(npm_settings, [pkg])
    (dep,) = generated.packages
    tarball = next(v.path for v in npmreg.registry.published() if v.name == "dep")
    assert dep.size == tarball.stat().st_size  # `ferry resolve` reports sizes
    assert generated.total_bytes == dep.size

    lock = json.loads(json.dumps(generated.lock))
    sha1 = base64.b64encode(hashlib.sha1(tarball.read_bytes()).digest()).decode()
    lock["packages"]["node_modules/dep"]["integrity"] = f"sha1-{sha1}"
    lock_path = write(tmp_path / "project" / "package-lock.json", json.dumps(lock))
    old = _resolve(npm_settings, [pkg, lock_path])
    (entry,) = old.packages
    assert entry.integrity is not None and entry.integrity.algorithm == "sha1"
    assert [p.kind for p in old.problems] == ["weak-integrity"]

    from ferry.services.bundle import BundlePlan, bundle

    result = asyncio.run(
        bundle(
            npm_settings,
            BundlePlan([pkg, lock_path], node_target=LINUX),
            tmp_path / "b.tar.gz",
            "tar.gz",
        )
    )
    assert result.files == 1  # verified against sha1 and stored under it
