"""Offline installer shipped inside every Ferry bundle (runs on the target, Python 3.9+).

Standard library only, plus pip's own vendored ``packaging`` when it is there. It checks
the bundle's SHA256SUMS, picks the lock written for this interpreter's version and
platform, and refuses clearly when the bundle was made for another machine. pip runs
with ``--no-index --require-hashes``: the bundle is the only source, and every file must
match the hash recorded when it was fetched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

BUNDLE = Path(__file__).resolve().parent
EXIT_WRONG_TARGET = 3
EXIT_CORRUPT = 4
EXIT_FAILED = 5


def supported_platforms() -> set[str] | None:
    """Platform tags this interpreter accepts, or None when no tag library is available."""
    try:
        from pip._vendor.packaging import tags
    except ImportError:
        try:
            from packaging import tags  # type: ignore[no-redef]
        except ImportError:
            return None
    return {t.platform for t in tags.sys_tags()}


def describe_host() -> str:
    return (
        f"Python {sys.version_info.major}.{sys.version_info.minor} "
        f"on {platform.system()} {platform.machine()}"
    )


def coarse_match(target: dict[str, Any]) -> bool:
    """Without a tag library: compare OS and CPU only (the precise check runs in the venv)."""
    plat = target["platform"]
    system = platform.system()
    machine = platform.machine().lower()
    if plat.startswith("win"):
        return system == "Windows" and (("amd64" in plat) == (machine in ("amd64", "x86_64")))
    if plat.startswith("macosx"):
        return system == "Darwin" and plat.endswith(machine)
    return system == "Linux" and plat.endswith(machine)


def choose_target(manifest: dict[str, Any]) -> dict[str, Any] | None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    platforms = supported_platforms()
    for target in manifest["python"]["targets"]:
        if target["python"] != version:
            continue
        fits = coarse_match(target) if platforms is None else target["platform"] in platforms
        if fits:
            return dict(target)
    return None


def verify_checksums() -> list[str]:
    bad = []
    sums = BUNDLE / "SHA256SUMS"
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        path = BUNDLE / name
        h = hashlib.sha256()
        try:
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError:
            bad.append(f"{name}: missing")
            continue
        if h.hexdigest() != digest:
            bad.append(f"{name}: sha256 {h.hexdigest()} != {digest}")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description="Install this Ferry bundle with no network.")
    parser.add_argument("--check", action="store_true", help="only check this interpreter fits")
    args, pip_args = parser.parse_known_args()

    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    if "python" not in manifest:
        return 0
    target = choose_target(manifest)
    if target is None:
        made_for = "; ".join(
            f"Python {t['python']} on {t['platform']}" for t in manifest["python"]["targets"]
        )
        print(
            f"ferry: this bundle was made for {made_for}, but this is {describe_host()}.\n"
            "ferry: refusing to install. Run with the right interpreter (PYTHON=/path/to/python"
            " ./install.sh) or build a bundle for this machine.",
            file=sys.stderr,
        )
        return EXIT_WRONG_TARGET
    if args.check:
        return 0

    # install.sh / install.ps1 already checked every file when they could
    bad = [] if os.environ.get("FERRY_VERIFIED") else verify_checksums()
    if bad:
        print("ferry: the bundle is damaged:\n  " + "\n  ".join(bad), file=sys.stderr)
        return EXIT_CORRUPT

    lock = BUNDLE / target["requirements"]
    print(f"ferry: installing {lock.parent.name} into {sys.prefix}", file=sys.stderr)
    env = dict(os.environ)
    # The bundle is the only source: the machine's pip configuration (extra indexes,
    # constraints) must neither add sources nor veto the bundled pins.
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INPUT"] = "1"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--find-links",
        str(BUNDLE / "python-packages"),
        "--require-hashes",
        "--disable-pip-version-check",
        # every sdist builds in its own isolated environment, from its bundled build
        # requirements (setuptools and wheel for one without pyproject.toml): never by
        # `setup.py install` with whatever the target's environment holds (pip < 23.1
        # does that when wheel is not installed; Python 3.12's venvs have no setuptools)
        "--use-pep517",
        "-r",
        str(lock),
        *pip_args,
    ]
    status = subprocess.call(cmd, env=env)
    if status != 0:
        print(f"ferry: pip could not install the bundle (pip's exit {status})", file=sys.stderr)
        for line in source_builds(target):
            print(line, file=sys.stderr)
        return EXIT_FAILED
    return 0


def source_builds(target: dict[str, Any]) -> list[str]:
    """What pip had to build here, with what each build likely needs: a failed build is
    far more often a missing compiler or header than a damaged bundle."""
    sdists = [p for p in target.get("packages", []) if p.get("kind") == "sdist"]
    if not sdists:
        return []
    lines = ["ferry: these packages have no wheel for this machine and are built from source:"]
    for p in sdists:
        role = f" (to build {', '.join(p['build_for'])})" if p.get("build_for") else ""
        needs = f" needs {', '.join(p['needs'])}" if p.get("needs") else ""
        lines.append(f"  {p['name']} {p['version']}{role}{needs}")
    lines.append("ferry: install what they need (or build a bundle with wheels for them).")
    return lines


if __name__ == "__main__":
    sys.exit(main())
