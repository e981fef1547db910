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
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from packaging.utils import canonicalize_name

from ferry.ecosystems.pypi.model import ArtifactFile, LockEntry
from ferry.ecosystems.pypi.options import TORCH_PACKAGES, PythonOptions
from ferry.ecosystems.pypi.sources import IndexSources
from ferry.errors import Hint, ResolutionError, ResolverUnavailableError
from ferry.sandbox.runner import Runner
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
        raise ResolverUnavailableError("uv is not installed", hint=Hint("reinstall-uv")) from exc
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

    kind: str  # not-found | unsatisfiable | index-unreachable | resolver-error
    message: str
    chain: tuple[str, ...] = ()
    url: str | None = None  # index-unreachable: the URL uv could not fetch


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


def uv_environment(
    sources: IndexSources, target: PythonTarget, cache_dir: str, *, http_retries: int = 3
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env.update(
        UV_PYTHON_DOWNLOADS="never",
        UV_HTTP_RETRIES=str(http_retries),
        UV_CACHE_DIR=cache_dir,
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
    requirements: str,
    constraints: str | None,
    output: str,
    target: PythonTarget,
    sources: IndexSources,
    *,
    python: str = sys.executable,
    no_deps: bool = False,
    prerelease: bool = False,
    builds: bool = True,
    options: PythonOptions | None = None,
) -> list[str]:
    cmd = [
        str(uv),
        "pip",
        "compile",
        requirements,
        "--format",
        "pylock.toml",
        "-o",
        output,
        "--no-config",
        "--no-header",
        # not --quiet: uv's warnings carry the yanked releases it had to choose
        "--no-progress",
        "--python",
        python,  # only builds sdists for metadata; never the target's
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
        cmd += ["--constraint", constraints]
    for url in sources.extra_index_urls:
        cmd += ["--extra-index-url", url]
    for link in sources.find_links:
        cmd += ["--find-links", link]
    if no_deps:
        cmd.append("--no-deps")
    if prerelease:
        cmd += ["--prerelease", "allow"]
    if not builds:
        cmd.append("--no-build")  # no sdist's code runs to read its metadata
    if options is not None:
        cmd += options.formats.uv_args()
        if options.exclude_newer:
            cmd += ["--exclude-newer", options.exclude_newer]
        if options.torch_backend and not sources.torch_index:
            # no mirror configured: uv's own PyTorch index (in a service task, only if
            # the operator allowed its host)
            cmd += ["--torch-backend", options.torch_backend]
    return cmd


def torch_index_url(sources: IndexSources, backend: str) -> str:
    template = sources.torch_index or ""
    return template.replace("{backend}", backend) if "{backend}" in template else template


def torch_project(requirement_lines: Sequence[str], index_url: str) -> str:
    """The requirements as a project whose PyTorch packages come from ``index_url`` only
    (an explicit index, as uv's own ``--torch-backend`` does): torch never falls back to
    the CUDA build on the normal index, and the PyTorch index's copies of other projects
    (jinja2, numpy) are never used."""
    return tomli_w.dumps(
        {
            "project": {
                "name": "ferry-resolution",
                "version": "0",
                "dependencies": list(requirement_lines),
            },
            "tool": {
                "uv": {
                    "index": [{"name": "ferry-torch", "url": index_url, "explicit": True}],
                    "sources": {name: {"index": "ferry-torch"} for name in TORCH_PACKAGES},
                }
            },
        }
    )


_FAILED_FETCH = re.compile(r"Failed to fetch: `?(\S+?)`?\s*$", re.MULTILINE)
# what uv's causes say when the index itself is out of reach (not a 404: a missing
# project is "not found" and resolution goes on)
_UNREACHABLE = (
    "error sending request",
    "dns error",
    "tcp connect error",
    "connection refused",
    "operation timed out",
    "failed to lookup address",
    "certificate",
    "502 bad gateway",
    "503 service unavailable",
    "504 gateway timeout",
)


def classify_failure(stderr: str) -> UvFailure:
    text = _ANSI.sub("", stderr).strip()
    fetched = _FAILED_FETCH.search(text)
    if fetched and any(s in text.lower() for s in _UNREACHABLE):
        return UvFailure("index-unreachable", text, url=fetched[1])
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
    work: Path,
    requirement_lines: Sequence[str],
    constraint_lines: Sequence[str],
    torch_index: str | None = None,
) -> tuple[Path, Path | None]:
    if torch_index:
        req = work / "pyproject.toml"
        req.write_text(torch_project(requirement_lines, torch_index))
    else:
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
    runner: Runner,
    *,
    no_deps: bool = False,
    prerelease: bool = False,
    builds: bool = True,
    options: PythonOptions | None = None,
    http_retries: int = 3,
) -> UvResult | UvFailure:
    """Resolve ``requirement_lines`` for ``target``; a failure is returned, not raised,
    because it is a finding to show next to the other targets' results. uv runs in the
    ``runner``'s workspace (on a service task: the sandbox); ``builds=False`` lets no
    sdist be built to read its metadata."""
    async with runner.workspace() as ws:
        work = ws.host
        backend = options.torch_backend if options is not None else None
        torch_index = torch_index_url(sources, backend) if backend and sources.torch_index else None
        req, cons = await asyncio.to_thread(
            _write_inputs, work, requirement_lines, constraint_lines, torch_index
        )
        out = work / "pylock.toml"
        cmd = compile_command(
            uv,
            ws.inside(req),
            ws.inside(cons) if cons is not None else None,
            ws.inside(out),
            target,
            sources,
            python=ws.python,
            no_deps=no_deps,
            prerelease=prerelease,
            builds=builds,
            options=options,
        )
        env = uv_environment(sources, target, ws.inside(ws.cache("uv")), http_retries=http_retries)
        try:
            done = await ws.run(cmd, env=env, cwd=work)
        except OSError as exc:
            raise ResolverUnavailableError(f"could not run uv at {uv}: {exc}") from exc
        if done.returncode != 0:
            return classify_failure(done.explained(done.stderr))
        entries = parse_pylock(await asyncio.to_thread(out.read_text), work)
        return UvResult(entries, yanked_from_warnings(done.stderr))
