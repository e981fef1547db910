"""Which lock entries install on a target, and the nested tree: pure functions."""

from __future__ import annotations

from typing import Any

from ferry.ecosystems.npm.lockfile import build_tree, lock_packages, root_dependencies, select
from ferry.ecosystems.npm.model import Integrity
from ferry.targets import NodeTarget

LOCK: dict[str, Any] = {
    "lockfileVersion": 3,
    "packages": {
        "": {
            "name": "demo",
            "dependencies": {"app": "^1.0.0", "native": "^1.0.0"},
            "devDependencies": {"tester": "^1.0.0"},
        },
        "node_modules/app": {
            "version": "1.0.0",
            "dependencies": {"lib": "^2.0.0"},
            "integrity": "sha512-AAAA",
        },
        "node_modules/lib": {"version": "2.1.0", "dependencies": {"app": "^1.0.0"}},
        "node_modules/app/node_modules/lib": {"version": "1.0.0"},
        "node_modules/native": {
            "version": "1.0.0",
            "hasInstallScript": True,
            "optionalDependencies": {"@n/linux-x64": "1.0.0", "@n/win32-x64": "1.0.0"},
        },
        "node_modules/@n/linux-x64": {
            "version": "1.0.0",
            "optional": True,
            "os": ["linux"],
            "cpu": ["x64"],
            "libc": ["glibc"],
        },
        "node_modules/@n/win32-x64": {
            "version": "1.0.0",
            "optional": True,
            "os": ["win32"],
            "cpu": ["x64"],
        },
        "node_modules/tester": {"version": "1.0.0", "dev": True},
        "node_modules/tester/node_modules/helper": {"version": "1.0.0", "dev": True},
    },
}


def _kept(target: NodeTarget, **kw: bool) -> tuple[set[str], set[str], list[str]]:
    kept, left, problems = select(lock_packages(LOCK), target, **kw)
    return {p.path for p in kept}, {p.path for p in left}, [p.kind for p in problems]


def test_platform_and_dev_selection() -> None:
    linux = NodeTarget.parse("20", "linux", "x64", "glibc")
    kept, left, kinds = _kept(linux)
    assert "node_modules/@n/linux-x64" in kept and "node_modules/@n/win32-x64" in left
    assert "node_modules/tester" in left and "node_modules/tester/node_modules/helper" in left
    assert kinds.count("install-script") == 1 and "optional-platform-excluded" in kinds

    windows = NodeTarget.parse("20", "win32", "x64")
    kept, left, _ = _kept(windows, include_dev=True)
    assert "node_modules/@n/win32-x64" in kept and "node_modules/@n/linux-x64" in left
    assert "node_modules/tester/node_modules/helper" in kept

    musl = NodeTarget.parse("20", "linux", "x64", "musl")
    assert "node_modules/@n/linux-x64" in _kept(musl)[1]
    assert {"node_modules/@n/linux-x64", "node_modules/@n/win32-x64"} <= _kept(
        musl, all_platforms=True
    )[0]


def test_required_package_for_another_platform_is_an_error() -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {"": {}, "node_modules/winonly": {"version": "1.0.0", "os": ["win32"]}},
    }
    _, _, problems = select(lock_packages(lock), NodeTarget.parse("22", "darwin", "arm64"))
    assert [p.kind for p in problems] == ["platform-mismatch"]
    assert problems[0].severity == "error" and "winonly" in problems[0].message


def test_negated_platforms() -> None:
    target = NodeTarget.parse("20", "linux", "arm64")
    assert target.accepts(["!win32"], None, None)
    assert not target.accepts(["!linux"], None, None)
    assert not target.accepts(None, ["x64", "ia32"], None)


def test_tree_follows_node_resolution_and_dedupes() -> None:
    linux = NodeTarget.parse("20", "linux", "x64")
    kept, _, _ = select(lock_packages(LOCK), linux)
    tree = build_tree(root_dependencies(LOCK, include_dev=False), kept)
    app = next(n for n in tree if n.name == "app")
    # app gets its nested lib 1.0.0, not the top-level 2.1.0
    assert [(c.name, c.version, c.spec) for c in app.children] == [("lib", "1.0.0", "^2.0.0")]
    native = next(n for n in tree if n.name == "native")
    assert [c.name for c in native.children] == ["@n/linux-x64"]
    doc = app.to_dict()
    assert doc["children"][0]["name"] == "lib"  # type: ignore[index]


def test_integrity_picks_the_strongest_hash() -> None:
    sri = (
        "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk= sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0"
        "NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
    )
    integrity = Integrity.parse(sri)
    assert integrity is not None and integrity.algorithm == "sha512"
    assert integrity.sri == sri.split()[1]
    assert Integrity.parse("md5-xyz") is None


def test_deprecation_recorded_in_the_lock_is_read() -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {"": {}, "node_modules/old": {"version": "1.0.0", "deprecated": "use new"}},
    }
    (pkg,) = lock_packages(lock)
    assert pkg.deprecated == "use new"
