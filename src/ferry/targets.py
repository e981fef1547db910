"""Target machines for Python bundles: version + platform tag + implementation.

Everything about a target is computed here from plain data — the wheel tags it accepts
(in preference order), the marker environment its installer would see, and the flags
that make uv resolve for it — so resolution never needs the target's interpreter.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from functools import cached_property

from packaging import tags

from ferry.errors import Hint, TargetError

SUPPORTED_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
IMPLEMENTATIONS = {"cp": ("cpython", "CPython")}

_MANYLINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
# Minor glibc versions uv accepts in --python-platform; others round down to the nearest.
_UV_GLIBC = {
    "x86_64": (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40),
    "aarch64": (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40),
}
_WINDOWS = {
    "win_amd64": ("x86_64-pc-windows-msvc", "AMD64"),
    "win_arm64": ("aarch64-pc-windows-msvc", "ARM64"),
    "win32": ("i686-pc-windows-msvc", "x86"),
}

EXAMPLE_PLATFORMS = (
    "manylinux2014_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_28_aarch64",
    "musllinux_1_2_x86_64",
    "win_amd64",
    "macosx_11_0_arm64",
    "macosx_10_13_x86_64",
)


@dataclass(frozen=True)
class _Platform:
    os: str  # linux | windows | macos
    arch: str  # wheel-tag arch: x86_64, aarch64, arm64, amd64, ...
    uv_platform: str
    machine: str  # platform.machine() on that OS
    tags: tuple[str, ...]  # platform tags accepted, best first
    env: tuple[tuple[str, str], ...] = ()  # extra environment for uv (macOS deployment target)


def _parse_platform(tag: str) -> _Platform:
    if tag in _WINDOWS:
        uv_platform, machine = _WINDOWS[tag]
        return _Platform("windows", tag, uv_platform, machine, (tag,))

    if m := re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(x86_64|aarch64|i686)", tag):
        major, minor = _MANYLINUX_LEGACY[m[1]]
        return _linux_glibc(m[2], major, minor)
    if m := re.fullmatch(r"manylinux_(\d+)_(\d+)_(x86_64|aarch64)", tag):
        return _linux_glibc(m[3], int(m[1]), int(m[2]))
    if m := re.fullmatch(r"musllinux_(\d+)_(\d+)_(x86_64|aarch64)", tag):
        major, minor, arch = int(m[1]), int(m[2]), m[3]
        accepted = tuple(f"musllinux_{major}_{n}_{arch}" for n in range(minor, -1, -1))
        return _Platform("linux", arch, f"{arch}-unknown-linux-musl", arch, (*accepted,))
    if m := re.fullmatch(r"linux_(x86_64|aarch64)", tag):
        return _Platform("linux", m[1], f"{m[1]}-unknown-linux-gnu", m[1], (tag,))
    if m := re.fullmatch(r"macosx_(\d+)_(\d+)_(arm64|x86_64)", tag):
        major, minor, arch = int(m[1]), int(m[2]), m[3]
        accepted = tuple(tags.mac_platforms((major, minor), arch))
        uv_arch = "aarch64" if arch == "arm64" else "x86_64"
        return _Platform(
            "macos",
            arch,
            f"{uv_arch}-apple-darwin",
            arch,
            accepted,
            env=(("MACOSX_DEPLOYMENT_TARGET", f"{major}.{minor}"),),
        )
    raise TargetError(
        f"unknown platform tag {tag!r}",
        hint=Hint("platform-tag", examples=", ".join(EXAMPLE_PLATFORMS)),
    )


def _linux_glibc(arch: str, major: int, minor: int) -> _Platform:
    if arch not in _UV_GLIBC:
        raise TargetError(f"platform manylinux for {arch} is not supported; use x86_64 or aarch64")
    uv_minor = max(m for m in _UV_GLIBC[arch] if m <= max(minor, 17))
    accepted: list[str] = []
    for n in range(minor, 4, -1):
        accepted.append(f"manylinux_{major}_{n}_{arch}")
        for legacy, (lmaj, lmin) in _MANYLINUX_LEGACY.items():
            if (lmaj, lmin) == (major, n):
                accepted.append(f"{legacy}_{arch}")
    accepted.append(f"linux_{arch}")
    return _Platform("linux", arch, f"{arch}-manylinux_{major}_{uv_minor}", arch, tuple(accepted))


@dataclass(frozen=True)
class PythonTarget:
    """One (Python version, platform tag, implementation) a bundle must install on."""

    python_version: str
    platform: str
    implementation: str = "cp"

    @classmethod
    def parse(cls, python_version: str, platform: str, implementation: str = "cp") -> PythonTarget:
        if python_version not in SUPPORTED_PYTHONS:
            raise TargetError(
                f"Python {python_version!r} is not a supported target",
                hint=Hint("choose-one", choices=", ".join(SUPPORTED_PYTHONS)),
            )
        if implementation not in IMPLEMENTATIONS:
            raise TargetError(f"implementation {implementation!r} is not supported; use 'cp'")
        target = cls(python_version, platform, implementation)
        _ = target._platform  # validate now, not at first use
        return target

    @cached_property
    def _platform(self) -> _Platform:
        return _parse_platform(self.platform)

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.python_version.split(".")
        return int(major), int(minor)

    @property
    def key(self) -> str:
        """Short id used in file names: ``cp312-win_amd64``."""
        return f"{self.implementation}{self.python_version.replace('.', '')}-{self.platform}"

    @property
    def uv_platform(self) -> str:
        return self._platform.uv_platform

    @property
    def uv_env(self) -> dict[str, str]:
        return dict(self._platform.env)

    @cached_property
    def wheel_tags(self) -> tuple[tags.Tag, ...]:
        """Tags this target's pip accepts, most preferred first (as ``packaging.tags.sys_tags``)."""
        version = self.version_tuple
        platforms = list(self._platform.tags)
        out = list(tags.cpython_tags(version, platforms=platforms))
        out += list(
            tags.compatible_tags(
                version, interpreter=f"cp{version[0]}{version[1]}", platforms=platforms
            )
        )
        return tuple(out)

    @cached_property
    def _tag_rank(self) -> dict[tags.Tag, int]:
        return {t: i for i, t in enumerate(self.wheel_tags)}

    def wheel_rank(self, filename: str) -> int | None:
        """Preference of a wheel for this target (lower is better), None if it cannot install."""
        from packaging.utils import parse_wheel_filename

        _, _, _, file_tags = parse_wheel_filename(filename)
        ranks = [self._tag_rank[t] for t in file_tags if t in self._tag_rank]
        return min(ranks) if ranks else None

    @cached_property
    def marker_environment(self) -> dict[str, str]:
        """What ``packaging.markers.default_environment()`` would return on the target."""
        impl_name, impl = IMPLEMENTATIONS[self.implementation]
        system = {"linux": "Linux", "windows": "Windows", "macos": "Darwin"}[self._platform.os]
        sys_platform = {"linux": "linux", "windows": "win32", "macos": "darwin"}[self._platform.os]
        return {
            "implementation_name": impl_name,
            "implementation_version": f"{self.python_version}.0",
            "os_name": "nt" if self._platform.os == "windows" else "posix",
            "platform_machine": self._platform.machine,
            "platform_release": "",
            "platform_system": system,
            "platform_version": "",
            "python_full_version": f"{self.python_version}.0",
            "platform_python_implementation": impl,
            "python_version": self.python_version,
            "sys_platform": sys_platform,
        }

    def __str__(self) -> str:
        return f"Python {self.python_version} ({self.implementation}) on {self.platform}"


def parse_targets(
    pythons: list[str], platforms: list[str], implementation: str = "cp"
) -> list[PythonTarget]:
    """Every combination of the given versions and platforms, in the order given."""
    if not pythons:
        raise TargetError("no target Python version given", hint=Hint("pass-python"))
    if not platforms:
        raise TargetError("no target platform given", hint=Hint("pass-platform"))
    seen: dict[str, PythonTarget] = {}
    for version in pythons:
        for platform in platforms:
            target = PythonTarget.parse(version, platform, implementation)
            seen.setdefault(target.key, target)
    return list(seen.values())


@functools.cache
def host_target() -> PythonTarget:
    """The machine Ferry runs on, as a target: its Python version and best platform tag.
    Worked out once per process (the machine does not change under it)."""
    import sys

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for tag in tags.sys_tags():
        # linux_* is the tag of locally built wheels, not a portable target.
        if tag.platform != "any" and not tag.platform.startswith("linux_"):
            try:
                return PythonTarget.parse(version, tag.platform)
            except TargetError:
                continue
    raise TargetError("this machine's platform has no supported wheel tag")


NODE_MAJORS = ("18", "20", "22", "24")
NODE_OS = ("linux", "win32", "darwin")
NODE_CPU = ("x64", "arm64")
NODE_LIBC = ("glibc", "musl")


@dataclass(frozen=True)
class NodeTarget:
    """The Node machine an npm bundle installs on: major version, os, cpu, libc.

    The names are Node's own (``process.platform``, ``process.arch``), which is what npm
    matches a package's ``os`` / ``cpu`` / ``libc`` fields against.
    """

    node: str
    os: str
    cpu: str
    libc: str | None = "glibc"  # only meaningful on linux

    @classmethod
    def parse(cls, node: str, os: str, cpu: str, libc: str | None = None) -> NodeTarget:
        node = node.removeprefix("v").split(".")[0]
        for value, allowed, what in (
            (node, NODE_MAJORS, "Node version"),
            (os, NODE_OS, "os"),
            (cpu, NODE_CPU, "cpu"),
        ):
            if value not in allowed:
                raise TargetError(
                    f"{what} {value!r} is not a supported target",
                    hint=Hint("choose-one", choices=", ".join(allowed)),
                )
        if os != "linux":
            libc = None
        elif libc is None:
            libc = "glibc"
        elif libc not in NODE_LIBC:
            raise TargetError(f"libc {libc!r} is not supported", hint=Hint("libc"))
        return cls(node, os, cpu, libc)

    @property
    def key(self) -> str:
        libc = f"-{self.libc}" if self.libc else ""
        return f"node{self.node}-{self.os}-{self.cpu}{libc}"

    def accepts(self, os: list[str] | None, cpu: list[str] | None, libc: list[str] | None) -> bool:
        """npm's platform check (npm-install-checks): lists allow, ``!x`` entries deny."""
        return (
            _allowed(self.os, os)
            and _allowed(self.cpu, cpu)
            and (self.libc is None or _allowed(self.libc, libc))
        )

    def __str__(self) -> str:
        libc = f" ({self.libc})" if self.libc else ""
        return f"Node {self.node} on {self.os}-{self.cpu}{libc}"


def _allowed(value: str, spec: list[str] | None) -> bool:
    if not spec:
        return True
    if f"!{value}" in spec:
        return False
    positive = [s for s in spec if not s.startswith("!")]
    return not positive or value in positive or "any" in positive


@functools.cache
def host_node_target() -> NodeTarget:
    """This machine as a Node target (the Node on PATH, or 20 when none is). Once per
    process: it starts node and reads the interpreter's binary for its libc, ~0.1 s that
    a service must not spend on its event loop for every task."""
    import platform as _platform
    import shutil
    import subprocess

    node = "20"
    if shutil.which("node"):
        out = subprocess.run(
            ["node", "-p", "process.versions.node"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if out.returncode == 0 and out.stdout.strip():
            node = out.stdout.strip().split(".")[0]
    os_name = {"Linux": "linux", "Windows": "win32", "Darwin": "darwin"}.get(
        _platform.system(), "linux"
    )
    cpu = {"x86_64": "x64", "AMD64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        _platform.machine(), "x64"
    )
    libc = "musl" if os_name == "linux" and _platform.libc_ver()[0] != "glibc" else "glibc"
    if node not in NODE_MAJORS:
        node = max(NODE_MAJORS, key=int) if int(node) > int(max(NODE_MAJORS, key=int)) else "18"
    return NodeTarget.parse(node, os_name, cpu, libc)
