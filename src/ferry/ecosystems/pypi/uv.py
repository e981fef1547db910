"""Drive uv's resolver for one target and read its PEP 751 output.

uv runs as a subprocess with an argument list (never a shell string), no configuration of
its own (`--no-config`, scrubbed ``UV_*`` variables: Ferry already decided the indexes),
interpreter downloads switched off, and a cache under Ferry's data directory.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from ferry.ecosystems.pypi.model import ArtifactFile, LockEntry
from ferry.ecosystems.pypi.sources import IndexSources
from ferry.errors import ResolutionError, ResolverUnavailableError
from ferry.targets import PythonTarget

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def find_uv(configured: Path | None = None) -> Path:
    if configured is not None:
        if not configured.is_file():
            raise ResolverUnavailableError(f"uv binary {configured} does not exist")
        return configured
    try:
        from uv import find_uv_bin
    except ImportError as exc:  # pragma: no cover - uv is a declared dependency
        raise ResolverUnavailableError(
            "uv is not installed", hint="Reinstall Ferry; uv is one of its dependencies."
        ) from exc
    return Path(find_uv_bin())


@dataclass(frozen=True)
class UvResult:
    entries: list[LockEntry]
    yanked: dict[str, str]  # canonical name -> reason ("" when none was given)


_YANKED = re.compile(r'warning: `([^`=\s]+)==[^`]+` is yanked(?: \(reason: "(.*)"\))?')


def yanked_from_warnings(stderr: str) -> dict[str, str]:
    """Yanked releases uv chose (only an exact pin makes it choose one), from its warnings.

    uv knows yanked status from the same index pages it resolved with; reading its warning
    spares Ferry a second download of every project page (13 MB of JSON for 33 packages).
    A test against the local index pins this format to the uv version Ferry installs.
    """
    return {canonicalize_name(m[1]): m[2] or "" for m in _YANKED.finditer(_ANSI.sub("", stderr))}


@dataclass(frozen=True)
class UvFailure:
    """uv could not resolve: its own explanation, which names who asked for what."""

    kind: str  # not-found | unsatisfiable | resolver-error
    message: str
    chain: tuple[str, ...] = ()


_DEPENDS = re.compile(
    r"(?:all versions of )?([\w.\-\[\]]+(?:[=<>!~]=?[\w.*+!]+)?) depends? on ([^\s,]+)"
)
_REQUIRE = re.compile(r"you require ((?:[^\s,]+)(?: and [^\s,]+)*)")


def derivation_chain(text: str) -> tuple[str, ...]:
    """The 'who asked' steps uv states in its explanation, in order, deduplicated."""
    steps = [f"{m[1]} → {m[2].rstrip('.')}" for m in _DEPENDS.finditer(text)]
    for m in _REQUIRE.finditer(text):
        steps += [f"you → {r.rstrip('.')}" for r in m[1].split(" and ")]
    return tuple(dict.fromkeys(steps))


def uv_environment(sources: IndexSources, target: PythonTarget, cache_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env.update(
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(cache_dir),
        UV_NO_PROGRESS="1",
        NO_COLOR="1",
    )
    if sources.cert is not None:
        env["SSL_CERT_FILE"] = str(sources.cert)
    if sources.proxy:
        env["HTTPS_PROXY"] = env["HTTP_PROXY"] = sources.proxy
    env.update(target.uv_env)
    return env


def compile_command(
    uv: Path,
    requirements: Path,
    constraints: Path | None,
    output: Path,
    target: PythonTarget,
    sources: IndexSources,
    *,
    no_deps: bool = False,
    prerelease: bool = False,
) -> list[str]:
    cmd = [
        str(uv),
        "pip",
        "compile",
        str(requirements),
        "--format",
        "pylock.toml",
        "-o",
        str(output),
        "--no-config",
        "--no-header",
        # not --quiet: uv's warnings carry the yanked releases it had to choose
        "--no-progress",
        "--python",
        sys.executable,  # only builds sdists for metadata; never the target's
        "--python-version",
        target.python_version,
        "--python-platform",
        target.uv_platform,
        "--index-url",
        sources.index_url,
        "--index-strategy",
        sources.strategy,
    ]
    if constraints is not None:
        cmd += ["--constraint", str(constraints)]
    for url in sources.extra_index_urls:
        cmd += ["--extra-index-url", url]
    for link in sources.find_links:
        cmd += ["--find-links", link]
    if no_deps:
        cmd.append("--no-deps")
    if prerelease:
        cmd += ["--prerelease", "allow"]
    return cmd


def classify_failure(stderr: str) -> UvFailure:
    text = _ANSI.sub("", stderr).strip()
    if "not found in the package registry" in text or "not found in the provided package" in text:
        return UvFailure("not-found", text, derivation_chain(text))
    if "No solution found" in text:
        return UvFailure("unsatisfiable", text, derivation_chain(text))
    return UvFailure("resolver-error", text)


def _artifact(raw: dict[str, object], base: Path) -> ArtifactFile:
    hashes = raw.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    url = raw.get("url")
    if url is None and isinstance(raw.get("path"), str):
        url = (base / str(raw["path"])).resolve().as_uri()
    if not isinstance(url, str) or not isinstance(sha256, str):
        raise ResolutionError(f"uv's lock output has a file without url or sha256: {raw!r}")
    size = raw.get("size")
    upload = raw.get("upload-time")
    return ArtifactFile(
        url=url,
        sha256=sha256.lower(),
        size=size if isinstance(size, int) else None,
        upload_time=str(upload) if upload is not None else None,
    )


def parse_pylock(text: str, base: Path) -> list[LockEntry]:
    data = tomllib.loads(text)
    entries: list[LockEntry] = []
    for pkg in data.get("packages", []):
        sdist = _artifact(pkg["sdist"], base) if pkg.get("sdist") else None
        wheels = tuple(_artifact(w, base) for w in pkg.get("wheels", []))
        if pkg.get("archive"):
            # a direct reference (URL or local file): one archive, wheel or sdist by name
            archive = _artifact(pkg["archive"], base)
            if archive.is_wheel:
                wheels += (archive,)
            else:
                sdist = archive
        entries.append(
            LockEntry(
                name=pkg["name"],
                version=str(pkg["version"]),
                wheels=wheels,
                sdist=sdist,
                marker=pkg.get("marker"),
            )
        )
    return entries


def _write_inputs(
    work: Path, cache_dir: Path, requirement_lines: Sequence[str], constraint_lines: Sequence[str]
) -> tuple[Path, Path | None]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    req = work / "requirements.in"
    req.write_text("\n".join(requirement_lines) + "\n")
    cons = None
    if constraint_lines:
        cons = work / "constraints.txt"
        cons.write_text("\n".join(constraint_lines) + "\n")
    return req, cons


async def compile_target(
    uv: Path,
    target: PythonTarget,
    requirement_lines: Sequence[str],
    constraint_lines: Sequence[str],
    sources: IndexSources,
    cache_dir: Path,
    *,
    no_deps: bool = False,
    prerelease: bool = False,
) -> UvResult | UvFailure:
    """Resolve ``requirement_lines`` for ``target``; a failure is returned, not raised,
    because it is a finding to show next to the other targets' results."""
    with tempfile.TemporaryDirectory(prefix="ferry-uv-") as tmp:
        work = Path(tmp)
        req, cons = _write_inputs(work, cache_dir, requirement_lines, constraint_lines)
        out = work / "pylock.toml"
        cmd = compile_command(
            uv, req, cons, out, target, sources, no_deps=no_deps, prerelease=prerelease
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=uv_environment(sources, target, cache_dir),
                cwd=work,
            )
        except OSError as exc:
            raise ResolverUnavailableError(f"could not run uv at {uv}: {exc}") from exc
        try:
            _, raw_stderr = await proc.communicate()
        except BaseException:
            # cancelled (a task timeout, a shutdown): uv must not outlive the request
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        stderr = raw_stderr.decode(errors="replace")
        if proc.returncode != 0:
            return classify_failure(stderr)
        entries = parse_pylock(await asyncio.to_thread(out.read_text), work)
        return UvResult(entries, yanked_from_warnings(stderr))
