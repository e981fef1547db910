"""Native addons: which prebuilt binary a package's install script would download for the
target, or what the target needs to compile it.

Offline, an install script that downloads a binary fails, and the fallback (`node-gyp
rebuild`) needs a compiler and Node's headers. Ferry reads each package that has an install
script the way its own tool would and computes, for the *target* (not this machine), the
URL that tool would fetch:

* **node-pre-gyp** (`binary` field: ``module_name``, ``module_path``, ``host``,
  ``remote_path``, ``package_name``, ``napi_versions``) — the templates evaluated as
  `@mapbox/node-pre-gyp`'s ``versioning.evaluate`` does; the tarball's contents go into
  ``module_path`` (one leading folder stripped), where `node-pre-gyp install` later finds
  them ("already installed") and ``binary.find`` loads them.
* **prebuild-install** — its URL template (``binary.host`` or the GitHub repository's
  release, ``{name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz``); the
  tarball unpacks into the package folder (``build/Release/*.node``).
* **node-gyp-build** (prebuildify) — the binaries are inside the npm tarball already
  (``prebuilds/<platform>-<arch>/``); Ferry only checks that the target's is there.
* anything else with a ``binding.gyp`` is compiled by node-gyp at install.

The tables below are Node's own numbers for the majors Ferry targets: the module ABI
(``process.versions.modules``) and the newest Node-API version of each major's current
releases (``process.versions.napi``).
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from ferry.targets import NodeTarget

NODE_ABI = {"18": "108", "20": "115", "22": "127", "24": "137"}
NODE_API = {"18": 9, "20": 9, "22": 10, "24": 10}

# what compiling a node-gyp addon takes, by the target's os
COMPILE_NEEDS = {
    "linux": "Python 3, make and a C/C++ compiler (Debian: build-essential; Alpine: "
    "build-base python3)",
    "darwin": "Python 3 and the Xcode command line tools",
    "win32": "Python 3 and Visual Studio Build Tools with the C++ workload",
}
HEADERS_NEED = (
    "Node's headers for node-gyp (offline: a headers tarball or source tree named by "
    "npm_config_nodedir)"
)
MAX_BINARY_BYTES = 512 * 1024 * 1024  # an extracted prebuilt larger than this is refused


class PrebuiltError(Exception):
    """A prebuilt tarball Ferry will not unpack, and why."""


@dataclass(frozen=True)
class NativeAddon:
    """What installing one package on the target takes, as its install tool would see it.

    ``url``: the prebuilt tarball for the target (None: nothing to download, or no way to
    know where). ``dest``: where its contents go, relative to the package folder, after
    ``strip`` leading path parts. ``bundled``: the binary ships inside the npm tarball.
    """

    tool: str  # node-pre-gyp | prebuild-install | node-gyp-build | node-gyp
    url: str | None = None
    dest: str = ""
    strip: int = 0
    bundled: bool = False
    reason: str = ""  # why there is no prebuilt, when there is none


def read_package(tarball: Path) -> tuple[dict[str, Any], set[str]]:
    """(package.json, every member's path relative to the package folder) of an npm
    tarball. The folder is ``package/`` for everything `npm pack` made, but older
    tarballs use other names; the package.json one level down is the package's."""
    with tarfile.open(tarball, "r:gz") as tf:
        members = [m for m in tf.getmembers() if m.isfile()]
        tops = [m for m in members if m.name.count("/") == 1 and m.name.endswith("/package.json")]
        if not tops:
            return {}, set()
        root = tops[0].name.split("/", 1)[0] + "/"
        handle = tf.extractfile(tops[0])
        raw = handle.read() if handle is not None else b"{}"
        names = {m.name[len(root) :] for m in members if m.name.startswith(root)}
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}, names
    return (doc if isinstance(doc, dict) else {}), names


def _install_commands(pkg: dict[str, Any]) -> str:
    scripts = pkg.get("scripts")
    if not isinstance(scripts, dict):
        return ""
    return " ".join(str(scripts.get(k, "")) for k in ("preinstall", "install", "postinstall"))


def _version_parts(version: str) -> dict[str, str]:
    m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$", version)
    if m is None:
        return {"version": version, "major": "", "minor": "", "patch": "", "prerelease": "",
                "build": ""}  # fmt: skip
    return {
        "version": f"{m[1]}.{m[2]}.{m[3]}" + (f"-{m[4]}" if m[4] else ""),
        "major": m[1],
        "minor": m[2],
        "patch": m[3],
        "prerelease": m[4] or "",
        "build": m[5] or "",
    }


def _best_napi(binary: dict[str, Any], target: NodeTarget) -> int | None:
    versions = binary.get("napi_versions")
    if not isinstance(versions, list):
        return None
    ours = NODE_API.get(target.node, 0)
    fitting = [int(v) for v in versions if isinstance(v, int) and 0 < v <= ours]
    return max(fitting) if fitting else None


def _eval_template(template: str, values: dict[str, str]) -> str:
    """node-pre-gyp's eval_template: every ``{key}`` of a known key, in order."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def _slash(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def _safe_dest(path: str) -> str | None:
    """A folder relative to the package, or None when it would leave the package."""
    cleaned = posixpath.normpath(path.replace("\\", "/"))
    if cleaned.startswith(("/", "../")) or cleaned == ".." or re.match(r"^[A-Za-z]:", cleaned):
        return None
    return "" if cleaned == "." else cleaned


def node_pre_gyp(pkg: dict[str, Any], target: NodeTarget) -> NativeAddon:
    binary = pkg.get("binary")
    assert isinstance(binary, dict)
    required = ("module_name", "module_path", "host")
    missing = [k for k in required if not isinstance(binary.get(k), str) or not binary.get(k)]
    if missing:
        return NativeAddon("node-pre-gyp", reason=f"its binary field lacks {', '.join(missing)}")
    abi = NODE_ABI.get(target.node)
    if abi is None:
        return NativeAddon(
            "node-pre-gyp", reason=f"Ferry knows no module ABI for Node {target.node}"
        )
    napi = _best_napi(binary, target)
    if isinstance(binary.get("napi_versions"), list) and napi is None:
        return NativeAddon(
            "node-pre-gyp",
            reason=f"none of its Node-API versions {binary['napi_versions']} runs on Node "
            f"{target.node}",
        )
    node_abi = f"node-v{abi}"
    values = {
        "name": str(pkg.get("name", "")),
        "configuration": "Release",
        "debug": "undefined",
        "module_name": binary["module_name"],
        **_version_parts(str(pkg.get("version", ""))),
        "runtime": "node",
        "node_abi": node_abi,
        "node_abi_napi": "napi",
        "napi_version": str(NODE_API.get(target.node, "")),
        "napi_build_version": str(napi) if napi else "",
        "node_napi_label": f"napi-v{napi}" if napi else node_abi,
        "target": "",
        "platform": target.os,
        "target_platform": target.os,
        "arch": target.cpu,
        "target_arch": target.cpu,
        "libc": target.libc if target.os == "linux" and target.libc else "unknown",
        "module_main": str(pkg.get("main", "")),
        "toolset": "",
        "bucket": str(binary.get("bucket", "")),
        "region": str(binary.get("region", "")),
        "s3ForcePathStyle": str(bool(binary.get("s3ForcePathStyle"))).lower(),
        "acl": str(binary.get("acl", "public-read")),
    }
    host = _slash(_eval_template(binary["host"], values))
    remote = binary.get("remote_path")
    remote_path = (
        _slash(_eval_template(remote, values)).replace("//", "/")
        if isinstance(remote, str) and remote
        else ""
    )
    name_template = binary.get("package_name")
    package_name = _eval_template(
        name_template
        if isinstance(name_template, str) and name_template
        else "{module_name}-v{version}-{node_abi}-{platform}-{arch}.tar.gz",
        values,
    )
    if binary.get("s3ForcePathStyle"):
        hosted_path = urljoin(host, f"{values['bucket']}/{remote_path}".replace("//", "/"))
    else:
        hosted_path = urljoin(host, remote_path)
    dest = _safe_dest(_eval_template(binary["module_path"], values))
    if dest is None:
        return NativeAddon("node-pre-gyp", reason="its module_path leaves the package folder")
    return NativeAddon("node-pre-gyp", urljoin(hosted_path, package_name), dest, strip=1)


def _github(pkg: dict[str, Any]) -> str | None:
    """github-from-package: the repository's URL, else any GitHub URL in package.json."""
    for text in (json.dumps(pkg.get("repository")), json.dumps(pkg)):
        m = re.search(r"\bgithub\.com[:/]([^/\"]+)/([^/\"]+)", text)
        if m:
            return f"https://github.com/{m[1]}/{m[2].removesuffix('.git')}"
    return None


def _prebuild_flags(commands: str) -> dict[str, str]:
    """The options given to prebuild-install in the install script (minimist's way:
    ``-r napi``, ``--runtime napi``, ``--runtime=napi``; ``--tag-prefix``)."""
    found: dict[str, str] = {}
    for call in re.findall(r"prebuild-install([^|&;]*)", commands):
        tokens = call.split()
        for i, token in enumerate(tokens):
            key, eq, value = token.partition("=")
            name = {"-r": "runtime", "--runtime": "runtime", "--tag-prefix": "tag-prefix"}.get(key)
            if name is None:
                continue
            if not eq:
                value = tokens[i + 1] if i + 1 < len(tokens) else ""
            if value and not value.startswith("-"):
                found[name] = value
    return found


def prebuild_install(pkg: dict[str, Any], target: NodeTarget) -> NativeAddon:
    binary = pkg.get("binary") if isinstance(pkg.get("binary"), dict) else {}
    assert isinstance(binary, dict)
    config = pkg.get("config") if isinstance(pkg.get("config"), dict) else {}
    assert isinstance(config, dict)
    flags = _prebuild_flags(_install_commands(pkg))
    # the command line first, then package.json's config (prebuild-install's rc order)
    runtime = flags.get("runtime") or str(config.get("runtime") or "node")
    if runtime == "napi":
        napi = _best_napi(binary, target)
        if napi is None:
            return NativeAddon(
                "prebuild-install", reason=f"no Node-API version of it runs on Node {target.node}"
            )
        abi = str(napi)
    elif runtime == "node" and target.node in NODE_ABI:
        abi = NODE_ABI[target.node]
    else:
        return NativeAddon("prebuild-install", reason=f"runtime {runtime} is not Node's")
    name = re.sub(r"^@[a-zA-Z0-9_\-.~]+/", "", str(pkg.get("name", "")))
    version = str(pkg.get("version", ""))
    parts = version.split(".")

    def part(items: list[str], i: int) -> str:
        return items[i] if len(items) > i else "undefined"  # String(undefined), as JS does

    values = {
        "name": name,
        "package_name": name,
        "version": version,
        "major": part(parts, 0),
        "minor": part(parts, 1),
        "patch": part(parts, 2),
        "prerelease": part(version.split("-"), 1),
        "build": part(version.split("+"), 1),
        "abi": abi,
        "node_abi": NODE_ABI.get(target.node, ""),
        "runtime": runtime,
        "platform": target.os,
        "arch": target.cpu,
        "libc": "musl" if target.os == "linux" and target.libc == "musl" else "",
        "configuration": "Release",
        "module_name": str(binary.get("module_name", "undefined")),
        "tag_prefix": flags.get("tag-prefix", "v"),
    }
    file_name = "{name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz"
    host = binary.get("host")
    if isinstance(host, str) and host:
        pieces = [host, binary.get("remote_path"), binary.get("package_name") or file_name]
        template = "/".join(p.strip("/") for p in pieces if isinstance(p, str) and p.strip("/"))
    else:
        repo = _github(pkg)
        if repo is None:
            return NativeAddon("prebuild-install", reason="it names no binary host or repository")
        template = repo + "/releases/download/{tag_prefix}{version}/" + file_name
    url = template
    for key, value in values.items():
        url = re.sub(r"\{\s*" + re.escape(key) + r"\s*\}", value.replace("\\", "\\\\"), url)
    return NativeAddon("prebuild-install", url, "", strip=0)


def _has_prebuildify_binary(members: set[str], target: NodeTarget) -> bool:
    """node-gyp-build's lookup: prebuilds/<platform>-<arch>/*.node whose tags fit."""
    folder = f"prebuilds/{target.os}-{target.cpu}/"
    for member in members:
        if not member.startswith(folder) or not member.endswith(".node"):
            continue
        tags = member[len(folder) : -len(".node")].split(".")
        if target.os == "linux":
            libc_tags = {t for t in tags if t in ("glibc", "musl")}
            if libc_tags and target.libc not in libc_tags:
                continue
        return True
    return False


def native_addon(pkg: dict[str, Any], members: set[str], target: NodeTarget) -> NativeAddon | None:
    """What the package's install needs on ``target``; None: no native addon to speak of."""
    commands = _install_commands(pkg)
    if "node-pre-gyp" in commands and isinstance(pkg.get("binary"), dict):
        return node_pre_gyp(pkg, target)
    if "prebuild-install" in commands:
        return prebuild_install(pkg, target)
    if "node-gyp-build" in commands:
        if _has_prebuildify_binary(members, target):
            return NativeAddon("node-gyp-build", bundled=True)
        return NativeAddon(
            "node-gyp-build", reason=f"its tarball has no prebuilds/{target.os}-{target.cpu}/"
        )
    if "binding.gyp" in members or "node-gyp" in commands:
        return NativeAddon("node-gyp", reason="it has no prebuilt binaries")
    return None


def compile_needs(target: NodeTarget) -> str:
    return f"{COMPILE_NEEDS.get(target.os, COMPILE_NEEDS['linux'])}, and {HEADERS_NEED}"


def unpack(tarball: Path, strip: int) -> dict[str, bytes]:
    """The regular files of a prebuilt tarball, ``strip`` leading parts dropped, by
    relative path. Links, devices, absolute or escaping paths are refused: the files are
    written into the target's project."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(tarball, "r:*") as tf:
            for member in tf:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise PrebuiltError(f"{member.name} is a link or device, not a file")
                parts = [p for p in member.name.replace("\\", "/").split("/") if p not in ("", ".")]
                rel = "/".join(parts[strip:])
                if not rel:
                    continue
                if _safe_dest(rel) != rel:
                    raise PrebuiltError(f"{member.name} would be written outside its folder")
                total += member.size
                if total > MAX_BINARY_BYTES:
                    raise PrebuiltError("it unpacks to more than 512 MB")
                handle = tf.extractfile(member)
                files[rel] = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PrebuiltError(f"not a readable tar.gz ({exc})") from None
    if not files:
        raise PrebuiltError("it holds no files")
    return files
