"""Native addons: the target's prebuilt binary fetched at bundle time and placed by the
offline install, or a problem that says the target will compile it and what it needs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Npm, write
from ferry.ecosystems.npm.prebuilt import (
    NODE_ABI,
    PrebuiltError,
    native_addon,
    node_pre_gyp,
    prebuild_install,
    unpack,
)
from ferry.services.bundle import BundlePlan, bundle
from ferry.services.python_bundle import BundleOutcome
from ferry.settings import Settings
from ferry.targets import NodeTarget, host_node_target
from support.binhost import BinaryHost, tar_gz
from support.npmregistry import build_tarball
from support.offline import needs_unshare, offline

LINUX = NodeTarget.parse("20", "linux", "x64", "glibc")
ALPINE = NodeTarget.parse("22", "linux", "arm64", "musl")
WINDOWS = NodeTarget.parse("20", "win32", "x64")
INSTALL = {"install": "node-pre-gyp install --fallback-to-build"}

# the shape of sqlite3 5.0's package.json
SQLITE_LIKE = {
    "name": "sqlite3",
    "version": "5.0.11",
    "main": "./lib/sqlite3",
    "scripts": INSTALL,
    "binary": {
        "module_name": "node_sqlite3",
        "module_path": "./lib/binding/napi-v{napi_build_version}-{platform}-{libc}-{arch}",
        "host": "https://binaries.example/sqlite3",
        "remote_path": "v{version}",
        "package_name": "napi-v{napi_build_version}-{platform}-{libc}-{arch}.tar.gz",
        "napi_versions": [3, 6],
    },
}


# ------------------------------------------------------------------ the tools' URLs


@pytest.mark.parametrize(
    ("target", "url", "dest"),
    [
        (
            LINUX,
            "https://binaries.example/sqlite3/v5.0.11/napi-v6-linux-glibc-x64.tar.gz",
            "lib/binding/napi-v6-linux-glibc-x64",
        ),
        (
            ALPINE,
            "https://binaries.example/sqlite3/v5.0.11/napi-v6-linux-musl-arm64.tar.gz",
            "lib/binding/napi-v6-linux-musl-arm64",
        ),
        (
            WINDOWS,
            "https://binaries.example/sqlite3/v5.0.11/napi-v6-win32-unknown-x64.tar.gz",
            "lib/binding/napi-v6-win32-unknown-x64",
        ),
    ],
)
def test_node_pre_gyp_with_node_api(target: NodeTarget, url: str, dest: str) -> None:
    addon = native_addon(SQLITE_LIKE, {"package.json"}, target)
    assert addon is not None and (addon.tool, addon.url, addon.dest) == ("node-pre-gyp", url, dest)
    assert addon.strip == 1


def test_node_pre_gyp_defaults_use_the_targets_abi() -> None:
    pkg = {
        "name": "bcrypt",
        "version": "5.1.0-rc.1",
        "main": "bcrypt",
        "scripts": INSTALL,
        "binary": {
            "module_name": "bcrypt_lib",
            "module_path": "./lib/binding/{node_abi}",
            "host": "https://binaries.example/bcrypt/",
        },
    }
    addon = node_pre_gyp(pkg, ALPINE)
    assert addon.url == (
        "https://binaries.example/bcrypt/bcrypt_lib-v5.1.0-rc.1-node-v127-linux-arm64.tar.gz"
    )
    assert addon.dest == "lib/binding/node-v127"
    escaping = {**pkg, "binary": {**pkg["binary"], "module_path": "../../../etc"}}  # type: ignore[dict-item]
    assert node_pre_gyp(escaping, LINUX).url is None
    too_new = {**SQLITE_LIKE, "binary": {**SQLITE_LIKE["binary"], "napi_versions": [99]}}  # type: ignore[dict-item]
    assert "none of its Node-API versions" in node_pre_gyp(too_new, LINUX).reason


def test_prebuild_install_from_the_repository_or_its_host() -> None:
    pkg = {
        "name": "better-sqlite3",
        "version": "11.0.0",
        "scripts": {"install": "prebuild-install || node-gyp rebuild --release"},
        "repository": {"type": "git", "url": "git+https://github.com/WiseLibs/better-sqlite3.git"},
    }
    base = "https://github.com/WiseLibs/better-sqlite3/releases/download/v11.0.0/"
    assert (
        prebuild_install(pkg, LINUX).url
        == base + "better-sqlite3-v11.0.0-node-v115-linux-x64.tar.gz"
    )
    assert prebuild_install(pkg, ALPINE).url == (
        base + "better-sqlite3-v11.0.0-node-v127-linuxmusl-arm64.tar.gz"
    )
    napi = {
        **pkg,
        "name": "@corp/fast",
        "config": {"runtime": "napi"},
        "binary": {"napi_versions": [3, 6], "host": "https://binaries.example/fast/"},
    }
    assert prebuild_install(napi, WINDOWS).url == (
        "https://binaries.example/fast/fast-v11.0.0-napi-v6-win32-x64.tar.gz"
    )
    assert prebuild_install({"name": "x", "version": "1.0.0"}, LINUX).url is None
    # sqlite3 5.1: the runtime on the command line, Node-API versions in package.json
    sqlite = {
        "name": "sqlite3",
        "version": "5.1.7",
        "scripts": {"install": "prebuild-install -r napi || node-gyp rebuild"},
        "binary": {"napi_versions": [3, 6]},
        "repository": {"type": "git", "url": "https://github.com/TryGhost/node-sqlite3.git"},
    }
    assert prebuild_install(sqlite, LINUX).url == (
        "https://github.com/TryGhost/node-sqlite3/releases/download/v5.1.7/"
        "sqlite3-v5.1.7-napi-v6-linux-x64.tar.gz"
    )
    sqlite["scripts"] = {"install": "prebuild-install --runtime=napi --tag-prefix rel-"}
    assert "/download/rel-5.1.7/sqlite3-v5.1.7-napi-v6-" in str(prebuild_install(sqlite, LINUX).url)


def test_prebuildify_binaries_inside_the_tarball() -> None:
    pkg = {"name": "classic-level", "version": "1.0.0", "scripts": {"install": "node-gyp-build"}}
    members = {"package.json", "prebuilds/linux-x64/node.napi.glibc.node"}
    found = native_addon(pkg, members, LINUX)
    assert found is not None and found.bundled
    missing = native_addon(pkg, members, NodeTarget.parse("20", "linux", "x64", "musl"))
    assert (
        missing is not None and not missing.bundled and "no prebuilds/linux-x64" in missing.reason
    )
    gyp = native_addon(
        {"name": "g", "scripts": {"install": "node-gyp rebuild"}}, {"binding.gyp"}, LINUX
    )
    assert gyp is not None and gyp.tool == "node-gyp" and gyp.url is None
    assert (
        native_addon({"name": "plain", "scripts": {"postinstall": "node x.js"}}, set(), LINUX)
        is None
    )


def test_unpack_refuses_what_could_escape(tmp_path: Path) -> None:
    good = write(tmp_path / "good.tgz", "")
    good.write_bytes(tar_gz({"Release/x.node": b"BIN", "Release/sub/y.so": b"LIB"}))
    assert unpack(good, 1) == {"x.node": b"BIN", "sub/y.so": b"LIB"}
    for name, body in (
        ("link.tgz", tar_gz({"a/x.node": b"x"}, symlink=("a/evil", "/etc/passwd"))),
        ("dots.tgz", tar_gz({"a/../../outside": b"x"})),
        ("junk.tgz", b"not a tarball"),
    ):
        bad = tmp_path / name
        bad.write_bytes(body)
        with pytest.raises(PrebuiltError):
            unpack(bad, 1)


@pytest.mark.network
def test_urls_agree_with_the_tools_own_code(tmp_path: Path) -> None:
    """@mapbox/node-pre-gyp's versioning.evaluate and prebuild-install's getDownloadUrl,
    installed from the registry, run for this machine: the same URLs and folders."""
    done = subprocess.run(
        ["npm", "install", "--prefix", str(tmp_path), "--no-audit", "--no-fund",
         "@mapbox/node-pre-gyp@2", "prebuild-install@7"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    here = host_node_target()
    shapes = [
        SQLITE_LIKE,
        {**SQLITE_LIKE, "binary": {k: v for k, v in SQLITE_LIKE["binary"].items()  # type: ignore[attr-defined]
                                   if k not in ("napi_versions", "package_name", "remote_path")}
         | {"module_path": "./lib/binding/{node_abi}-{platform}-{arch}"}},
    ]  # fmt: skip
    script = """
const path = require("path");
const v = require("@mapbox/node-pre-gyp/lib/util/versioning.js");
const napi = require("@mapbox/node-pre-gyp/lib/util/napi.js");
const util = require("prebuild-install/util");
const shapes = JSON.parse(process.argv[1]);
const prebuildPkg = JSON.parse(process.argv[2]);
const out = shapes.map((pkg) => {
  const best = napi.get_best_napi_build_version(pkg, {});
  const o = v.evaluate(pkg, { module_root: "/root" }, best);
  return { url: o.hosted_tarball, dest: path.relative("/root", o.module_path) };
});
const pb = util.getDownloadUrl({ pkg: prebuildPkg, platform: process.platform, arch: process.arch,
  abi: process.versions.modules, runtime: "node", libc: "", "tag-prefix": "v" });
console.log(JSON.stringify({ pre_gyp: out, prebuild: pb }));
"""
    prebuild_pkg = {
        "name": "better-sqlite3",
        "version": "11.0.0",
        "repository": "git+https://github.com/WiseLibs/better-sqlite3.git",
    }
    ran = subprocess.run(
        ["node", "-e", script, json.dumps(shapes), json.dumps(prebuild_pkg)],
        cwd=tmp_path / "node_modules", capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "NODE_PATH": str(tmp_path / "node_modules")},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    theirs = json.loads(ran.stdout)
    ours = [node_pre_gyp(s, here) for s in shapes]
    assert [{"url": a.url, "dest": a.dest} for a in ours] == theirs["pre_gyp"]
    assert prebuild_install(prebuild_pkg, here).url == theirs["prebuild"]


# ------------------------------------------------------------------ bundle and install


@pytest.fixture
def binhost() -> Iterator[BinaryHost]:
    with BinaryHost() as host:
        yield host


READER = (
    "const fs = require('fs'), path = require('path');\n"
    "const libc = process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';\n"
    "module.exports = fs.readFileSync(path.join(__dirname, {where}), 'utf8');\n"
)


def _publish_addons(npmreg: Npm, binhost: BinaryHost, target: NodeTarget) -> None:
    abi = NODE_ABI[target.node]
    reg, d = npmreg.registry, npmreg.dir
    pre_gyp = {
        "module_name": "nativemod",
        "module_path": "./lib/binding/{node_abi}-{platform}-{libc}-{arch}",
        "host": binhost.base + "/releases/",
        "remote_path": "v{version}",
        "package_name": "{module_name}-v{version}-{node_abi}-{platform}-{libc}-{arch}.tar.gz",
    }
    where = (
        "'lib/binding', `node-v${process.versions.modules}-${process.platform}-${libc}-"
        "${process.arch}`, 'nativemod.node'"
    )
    reg.publish(
        build_tarball(
            d, "nativemod", "1.0.0", scripts=INSTALL,
            files={"index.js": READER.replace("{where}", where)},
            extra={"binary": pre_gyp},
        )
    )  # fmt: skip
    binhost.put(
        f"/releases/v1.0.0/nativemod-v1.0.0-node-v{abi}-{target.os}-{target.libc}-{target.cpu}.tar.gz",
        tar_gz({"Release/nativemod.node": b"NATIVE-PRE-GYP"}),
    )
    reg.publish(
        build_tarball(
            d, "lostmod", "1.0.0", scripts=INSTALL,
            extra={"binary": {**pre_gyp, "module_name": "lostmod"}},
        )
    )  # fmt: skip
    reg.publish(
        build_tarball(
            d, "prebuiltmod", "2.0.0",
            scripts={"install": "prebuild-install || node-gyp rebuild"},
            files={"index.js": READER.replace("{where}", "'build/Release/prebuiltmod.node'")},
            extra={"binary": {"host": binhost.base + "/pb"}},
        )
    )  # fmt: skip
    binhost.put(
        f"/pb/prebuiltmod-v2.0.0-node-v{abi}-{target.os}"
        f"{'musl' if target.libc == 'musl' else ''}-{target.cpu}.tar.gz",
        tar_gz({"build/Release/prebuiltmod.node": b"NATIVE-PREBUILD"}),
    )
    reg.publish(
        build_tarball(
            d, "gypmod", "1.0.0", scripts={"install": "node-gyp rebuild"},
            files={"index.js": "module.exports = 1;\n", "binding.gyp": "{}\n"},
        )
    )  # fmt: skip


def _bundle(settings: Settings, target: NodeTarget, tmp_path: Path) -> tuple[BundleOutcome, Path]:
    pkg = write(
        tmp_path / "project" / "package.json",
        json.dumps(
            {
                "name": "demo",
                "version": "1.0.0",
                "dependencies": {
                    "nativemod": "1.0.0",
                    "lostmod": "1.0.0",
                    "prebuiltmod": "2.0.0",
                    "gypmod": "1.0.0",
                },
            }
        ),
    )
    out = tmp_path / "b.tar.gz"
    result = asyncio.run(bundle(settings, BundlePlan([pkg], node_target=target), out, "tar.gz"))
    with tarfile.open(out) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    (root,) = (tmp_path / "x").iterdir()
    return result, root


def test_the_targets_binaries_are_bundled(
    npm_settings: Settings, npmreg: Npm, binhost: BinaryHost, tmp_path: Path
) -> None:
    _publish_addons(npmreg, binhost, ALPINE)
    result, root = _bundle(npm_settings, ALPINE, tmp_path)
    assert result.npm is not None
    problems = {(p.kind, p.package): p for p in result.npm.problems}
    assert ("prebuilt-binary", "nativemod") in problems
    assert ("prebuilt-binary", "prebuiltmod") in problems
    lost = problems[("needs-compiling", "lostmod")]
    assert "could not be fetched" in lost.message and "404" in lost.message
    assert "build-base" in lost.message  # what an Alpine target needs to compile it
    gyp = problems[("needs-compiling", "gypmod")]
    assert "node-gyp" in gyp.message and "npm_config_nodedir" in gyp.message

    manifest = json.loads((root / "manifest.json").read_text())
    prebuilt = {e["package"]: e for e in manifest["npm"]["prebuilt"]}
    assert set(prebuilt) == {"nativemod", "prebuiltmod"}
    native = prebuilt["nativemod"]
    assert native["install_paths"] == ["node_modules/nativemod"]
    assert native["files"] == [
        {
            "path": "npm-packages/prebuilt/nativemod-1.0.0/nativemod.node",
            "to": "lib/binding/node-v127-linux-musl-arm64/nativemod.node",
        }
    ]
    assert (root / native["files"][0]["path"]).read_bytes() == b"NATIVE-PRE-GYP"
    sums = (root / "SHA256SUMS").read_text()
    assert "npm-packages/prebuilt/nativemod-1.0.0/nativemod.node" in sums
    assert "npm-packages/prebuilt/prebuiltmod-2.0.0.tar.gz" in sums
    assert prebuilt["prebuiltmod"]["files"][0]["to"] == "build/Release/prebuiltmod.node"


@pytest.mark.acceptance
@pytest.mark.slow
@needs_unshare
def test_prebuilt_binaries_are_in_place_after_the_offline_install(
    npm_settings: Settings, npmreg: Npm, binhost: BinaryHost, tmp_path: Path
) -> None:
    target = host_node_target()
    _publish_addons(npmreg, binhost, target)
    _, root = _bundle(npm_settings, target, tmp_path)
    project = tmp_path / "fresh"
    project.mkdir()
    done = offline(["sh", str(root / "install.sh"), str(project)], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "placed the prebuilt binary of nativemod@1.0.0 (node-pre-gyp)" in done.stderr
    script = "console.log(require('nativemod') + ' ' + require('prebuiltmod'))"
    loaded = offline(["node", "-e", script], project)
    assert loaded.stdout.strip() == "NATIVE-PRE-GYP NATIVE-PREBUILD", loaded.stderr


@pytest.mark.acceptance
@pytest.mark.slow
@needs_unshare
def test_install_scripts_run_after_the_binaries_are_placed(
    npm_settings: Settings, npmreg: Npm, binhost: BinaryHost, tmp_path: Path
) -> None:
    """FERRY_NPM_SCRIPTS=1: the install script finds the binary already there (as
    node-pre-gyp's "already installed"), so it never needs the network."""
    target = host_node_target()
    abi = NODE_ABI[target.node]
    check = (
        "const fs = require('fs');\n"
        "const found = fs.readdirSync('lib/binding').length > 0;\n"
        "fs.writeFileSync('script-ran.txt', found ? 'found' : 'missing');\n"
        "process.exit(found ? 0 : 1);\n"
    )
    npmreg.registry.publish(
        build_tarball(
            npmreg.dir, "checkmod", "1.0.0",
            scripts={"install": "node check.js || node-pre-gyp install --fallback-to-build"},
            files={"index.js": "module.exports = 1;\n", "check.js": check},
            extra={"binary": {
                "module_name": "checkmod", "module_path": "./lib/binding/{node_abi}",
                "host": binhost.base + "/r/",
            }},
        )
    )  # fmt: skip
    binhost.put(
        f"/r/checkmod-v1.0.0-node-v{abi}-{target.os}-{target.cpu}.tar.gz",
        tar_gz({"Release/checkmod.node": b"BIN"}),
    )
    pkg = write(
        tmp_path / "project" / "package.json",
        json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"checkmod": "1.0.0"}}),
    )
    out = tmp_path / "b.tar.gz"
    asyncio.run(bundle(npm_settings, BundlePlan([pkg], node_target=target), out, "tar.gz"))
    with tarfile.open(out) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    (root,) = (tmp_path / "x").iterdir()
    project = tmp_path / "fresh"
    project.mkdir()
    install = ["sh", str(root / "install.sh"), str(project)]
    done = offline(install, tmp_path, env={"FERRY_NPM_SCRIPTS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    marker = project / "node_modules" / "checkmod" / "script-ran.txt"
    assert marker.read_text() == "found"
