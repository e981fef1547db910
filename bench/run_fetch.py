#!/usr/bin/env python3
"""Ferry's download engine against the tools people fetch with, on the same files.

Three cases on loopback, each tool a fresh process with a fresh output directory (and, for
Ferry, a fresh data directory), alternating order, medians and ratios:

- ``large``: one 1 GiB file. Ferry (``ferry fetch --sha256``) vs ``curl`` (one stream),
  ``aria2c -x8 -s8`` (with ``--checksum``, so it verifies as Ferry does), and
  huggingface_hub's own single-stream ``http_get``.
- ``small``: 500 small wheels from a local PEP 503 index. Ferry (``ferry fetch -i`` with
  a sha256 per file, as from a lock) vs ``pip download --no-deps`` of the same pinned set
  and ``aria2c -i`` (the same list, checksums included, ``-j8``).
- ``throttled``: one 512 MiB file from a server that paces every connection to 50 MB/s:
  where fetching over several connections must pay off. Ferry vs curl, aria2c -x8 -s8,
  huggingface_hub.
- ``paced``: one 300 MB file, not a multiple of any piece size, from a server pacing every
  connection to 20 MB/s, fetched over 8 connections: how close each tool comes to the
  limit (size / (8 x 20 MB/s)), i.e. whether connections idle at the end of the file.
  Ferry (``-x 8``) vs ``aria2c -x8 -s8 -k1M`` (aria2's smallest split).
- ``stall``: one 64 MiB file whose first body to reach byte 20 MB hangs there for 90 s,
  connection open, no bytes (a server or middlebox hanging mid-body). Ferry with its
  default stall limit (15 s) vs aria2c with its defaults (``--timeout=60``) and with
  ``--timeout=15`` (the same limit), one connection each (``-x 1`` / ``-x1 -s1``).

``--network`` adds the same comparisons against the real index this machine's pip is
configured with (found at run time by Ferry's own discovery, never named here; printed
URLs have their host replaced by ``<host>``):

- ``net-large``: one big wheel of a pinned release (torch 2.5.1's cp311 manylinux x86_64
  wheel, ~900 MB; else the biggest wheel of the other pinned candidates). Same tools as
  ``large``.
- ``net-small``: up to 500 wheels of at most 2 MB: ``scenarios/net-small.in`` resolved
  for this interpreter by ``uv pip compile`` (with ``--exclude-newer``, so the set stays
  put), each pin's best wheel for this machine found with the index's JSON API (PEP 691).
  Same tools as ``small``.

    .venv/bin/python bench/run_fetch.py [--rounds 3] [--network]
        [--case large|small|throttled|paced|stall|net-large|net-small ...]

``--case`` picks exactly those cases (a ``net-*`` one implies the network); ``--network``
adds both network cases to whatever is picked. Ratios are tool time / Ferry time: above 1,
Ferry was faster. Before timing, Ferry's own modules are compiled to bytecode, as
``pip install`` does for an installed package (a source checkout run with
``PYTHONDONTWRITEBYTECODE`` would otherwise recompile them on every start); and before
every timed run the file system is synced, so no tool pays for the write-back of the
files the one before it left in the page cache (Ferry fsyncs every file; curl, aria2c and
pip do not). Standard library only, plus the project's own test helpers to build
wheels and serve the index, and (for the network cases) ``packaging``, Ferry's discovery
and uv from ``.venv``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import random
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = REPO / ".venv" / "bin"
PY = str(VENV / "python")
MB = 1_000_000
# Printed text never names a host: URLs become https://<host>/...
_HOST = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s\"'<>]+", re.IGNORECASE)

_FERRY_SUMMARY = re.compile(r"failed in ([0-9.]+) s")
LOOPBACK = ("large", "small", "throttled", "paced", "stall")
NETWORK = ("net-large", "net-small")

HF_GET = """
import sys
from huggingface_hub.file_download import http_get
url, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(out, "wb") as fh:
    http_get(url, fh, expected_size=size)
"""


@dataclass
class Run:
    tool: str
    seconds: float
    ok: bool
    note: str = ""
    round_no: int = 0
    # what `ferry fetch` itself reports as its fetch time (no interpreter start-up)
    engine_seconds: float | None = None


@dataclass
class Case:
    name: str
    files: int
    nbytes: int
    tools: dict[str, Callable[[Path], list[str]]]
    check: Callable[[str, Path], str | None]
    env: dict[str, str] = field(default_factory=dict)


# -- servers -----------------------------------------------------------------------------


@contextmanager
def served(args: list[str]) -> Iterator[str]:
    """Start a server process that prints its base URL on the first line."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"server did not start: {args}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def random_file(path: Path, size: int, seed: int) -> str:
    rng = random.Random(seed)
    hasher = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = rng.randbytes(min(left, 8 << 20))
            fh.write(block)
            hasher.update(block)
            left -= len(block)
    return hasher.hexdigest()


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# -- cases -------------------------------------------------------------------------------


def ferry_fetch_argv(url: str, digest: str, out: Path, extra: list[str]) -> list[str]:
    """`ferry fetch` of one verified file into ``out``, with a fresh data directory."""
    data = out.parent / (out.name + "-data")
    return [
        *[str(VENV / "ferry"), "fetch", url, "-o", str(out), "--sha256", digest],
        *["--data-dir", str(data), *extra],
    ]


def aria2c_argv(url: str, digest: str, out: Path, filename: str, extra: list[str]) -> list[str]:
    """aria2c of one file into ``out``, checking its digest as Ferry does."""
    quiet = ["--file-allocation=none", "--console-log-level=warn", "--summary-interval=0"]
    return [
        *["aria2c", *extra, *quiet, "--download-result=hide", f"--checksum=sha-256={digest}"],
        *["-d", str(out), "-o", filename, url],
    ]


def one_file_case(
    name: str, url: str, size: int, digest: str, filename: str, cert: Path | None = None
) -> Case:
    curl_ca = ["--cacert", str(cert)] if cert else []
    aria2_ca = [f"--ca-certificate={cert}"] if cert else []
    # huggingface_hub (httpx) and Ferry read the CA bundle from the environment/machine.
    ca_env = {"SSL_CERT_FILE": str(cert), "REQUESTS_CA_BUNDLE": str(cert)} if cert else {}

    def check(tool: str, out: Path) -> str | None:
        got = out / filename
        if not got.is_file():
            return f"{tool} left no {filename}"
        if sha256_of(got) != digest:
            return f"{tool}: wrong bytes"
        return None

    return Case(
        name=name,
        files=1,
        nbytes=size,
        tools={
            "ferry": lambda out: ferry_fetch_argv(url, digest, out, []),
            "curl": lambda out: [
                "curl",
                "-sS",
                "--fail",
                *curl_ca,
                "-o",
                str(out / filename),
                url,
            ],
            "aria2c -x8 -s8": lambda out: aria2c_argv(
                url, digest, out, filename, ["-x8", "-s8", *aria2_ca]
            ),
            "huggingface_hub": lambda out: [PY, "-c", HF_GET, url, str(out / filename), str(size)],
        },
        check=check,
        env={"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", **ca_env},
    )


def few_tools_case(
    name: str, url: str, size: int, digest: str, tools: dict[str, list[str]]
) -> Case:
    """One file, Ferry and aria2c only, each with its own extra arguments."""
    filename = url.rsplit("/", 1)[-1] or f"{name}.bin"

    def check(tool: str, out: Path) -> str | None:
        got = out / filename
        if not got.is_file():
            return f"{tool} left no {filename}"
        return None if sha256_of(got) == digest else f"{tool}: wrong bytes"

    def argv(tool: str, extra: list[str]) -> Callable[[Path], list[str]]:
        if tool == "ferry":
            return lambda out: ferry_fetch_argv(url, digest, out, extra)
        return lambda out: aria2c_argv(url, digest, out, filename, extra)

    return Case(
        name=name,
        files=1,
        nbytes=size,
        tools={tool: argv(tool, extra) for tool, extra in tools.items()},
        check=check,
    )


def limits_line(case: Case, runs: list[Run], limit: float) -> str:
    """Each tool's median over the limit: 1.00 is the limit itself."""
    parts = []
    for tool in case.tools:
        times = [r.seconds for r in runs if r.tool == tool and r.ok]
        if times:
            parts.append(f"{tool} {statistics.median(times) / limit:.2f}x the limit")
    engine = [r.engine_seconds for r in runs if r.tool == "ferry" and r.engine_seconds]
    if engine:
        # the process also starts Python and fsyncs the file; the engine's own time is
        # what the pacing bounds
        parts.append(f"ferry's own fetch time {statistics.median(engine) / limit:.2f}x the limit")
    return "; ".join(parts) + "."


def small_files_case(
    index_url: str,
    artifacts: list[dict[str, object]],
    listing: Path,
    name: str = "small",
    cert: Path | None = None,
) -> Case:
    lines = []
    for a in artifacts:
        lines += [str(a["url"]), f"  out={a['filename']}", f"  checksum=sha-256={a['sha256']}"]
    listing.write_text("\n".join(lines) + "\n")
    pins = [f"{a['project']}=={a['version']}" for a in artifacts]
    reqs = listing.with_name("requirements.txt")
    reqs.write_text("\n".join(pins) + "\n")
    expected = {str(a["filename"]): str(a["sha256"]) for a in artifacts}

    def check(tool: str, out: Path) -> str | None:
        got = {p.name for p in out.iterdir() if p.suffix == ".whl"}
        if got != set(expected):
            return f"{tool}: {len(got)} wheels of {len(expected)}"
        for name in list(expected)[:: max(1, len(expected) // 25)]:
            if sha256_of(out / name) != expected[name]:
                return f"{tool}: wrong bytes in {name}"
        return None

    pip_ca = ["--cert", str(cert)] if cert else []
    aria2_ca = [f"--ca-certificate={cert}"] if cert else []
    return Case(
        name=name,
        files=len(artifacts),
        nbytes=sum(int(str(a["size"])) for a in artifacts),
        tools={
            "ferry": lambda out: [
                str(VENV / "ferry"),
                "fetch",
                "-i",
                str(listing),
                "-o",
                str(out),
                "--data-dir",
                str(out.parent / (out.name + "-data")),
            ],
            "pip download --no-deps": lambda out: [
                PY,
                "-m",
                "pip",
                "--isolated",
                "download",
                "--no-deps",
                "--no-cache-dir",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--only-binary=:all:",
                "-i",
                index_url,
                *pip_ca,
                "-d",
                str(out),
                "-r",
                str(reqs),
            ],
            "aria2c -i -j8": lambda out: [
                "aria2c",
                "-i",
                str(listing),
                "-j8",
                "-d",
                str(out),
                "--file-allocation=none",
                "--console-log-level=warn",
                "--summary-interval=0",
                "--download-result=hide",
                *aria2_ca,
            ],
        },
        check=check,
        # pip must see nothing of this machine's configuration (extra indexes, wheels):
        # --isolated ignores PIP_* variables, PIP_CONFIG_FILE=/dev/null every file.
        env={"PIP_CONFIG_FILE": os.devnull},
    )


def build_wheels(dest: Path, count: int) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from support.pyindex import build_wheel

    rng = random.Random(500)
    for i in range(count):
        # Sizes like real small wheels: mostly 10-100 KB, a few up to 400 KB.
        size = int(min(400_000, rng.lognormvariate(10.3, 0.8)))
        payload = rng.randbytes(size).hex()  # hex deflates to about half: size bytes
        build_wheel(
            dest,
            f"benchpkg{i:03d}",
            "1.0",
            modules={f"benchpkg{i:03d}/__init__.py": "", f"benchpkg{i:03d}/data.txt": payload},
        )


# -- the real index (--network) ----------------------------------------------------------

# Pinned releases with one big wheel each; the first with a wheel for this machine wins.
NET_LARGE = [("torch", "2.5.1"), ("jaxlib", "0.4.35"), ("tensorflow-cpu", "2.18.0")]
NET_SMALL_IN = BENCH / "scenarios" / "net-small.in"
# Resolve as of this date, so the pinned set does not move with new releases.
NET_SMALL_AS_OF = "2025-10-01T00:00:00Z"
NET_SMALL_MAX_BYTES = 2 * MB
JSON_API = "application/vnd.pypi.simple.v1+json"
_LOCAL = threading.local()


def redact(text: str) -> str:
    return _HOST.sub(lambda m: m[1] + ("" if m[1].lower() == "file://" else "<host>"), text)


@dataclass(frozen=True)
class RealIndex:
    """The index this machine's pip uses, as Ferry discovers it (no host name in here)."""

    url: str
    cert: Path | None

    @classmethod
    def discover(cls) -> RealIndex:
        from ferry.ecosystems.pypi.sources import discover_sources
        from ferry.settings import load_settings

        sources = discover_sources(load_settings())
        url = sources.index_url if sources.index_url.endswith("/") else sources.index_url + "/"
        return cls(url, Path(sources.cert) if sources.cert else None)

    @cached_property
    def context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.cert)) if self.cert else None

    def project(self, name: str) -> list[dict[str, Any]]:
        """A project's files from the PEP 691 JSON page, with absolute URLs."""
        from packaging.utils import canonicalize_name

        page = f"{self.url}{canonicalize_name(name)}/"
        files: list[dict[str, Any]] = json.loads(self._get(page))["files"]
        for f in files:
            f["url"] = urljoin(page, f["url"])
        return files

    def _get(self, url: str) -> bytes:
        """GET on a kept-alive connection per thread and host: one DNS lookup per connection
        (this machine's resolver drops part of a burst of lookups; a dropped one costs 5 s)."""
        parts = urlsplit(url)
        conns: dict[str, http.client.HTTPConnection] = _LOCAL.__dict__.setdefault("conns", {})
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in range(5):
            conn = conns.get(parts.netloc)
            if conn is None:
                if parts.scheme == "https":
                    conn = http.client.HTTPSConnection(
                        parts.netloc, timeout=60, context=self.context
                    )
                else:
                    conn = http.client.HTTPConnection(parts.netloc, timeout=60)
                conns[parts.netloc] = conn
            try:
                conn.request("GET", path, headers={"Accept": JSON_API})
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                del conns[parts.netloc]
                if attempt == 4:
                    raise
                time.sleep(0.5 * 2**attempt)
                continue
            if response.status != 200:
                raise RuntimeError(f"{redact(url)}: HTTP {response.status}")
            return body
        raise AssertionError("unreachable")


def best_wheel(files: list[dict[str, Any]], version: str) -> dict[str, Any] | None:
    """The wheel of ``version`` pip would pick on this machine: best tag, then build."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.tags import sys_tags
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from packaging.version import Version

    rank = {tag: i for i, tag in enumerate(sys_tags())}
    python = platform.python_version()
    best: tuple[tuple[int, Any], dict[str, Any]] | None = None
    for f in files:
        if not f["filename"].endswith(".whl") or f.get("yanked") or "sha256" not in f["hashes"]:
            continue
        try:
            _, wheel_version, build, tags = parse_wheel_filename(f["filename"])
            if f.get("requires-python") and python not in SpecifierSet(f["requires-python"]):
                continue
        except (InvalidWheelFilename, InvalidSpecifier):
            continue
        ranks = [rank[t] for t in tags if t in rank]
        if wheel_version != Version(version) or not ranks:
            continue
        key = (-min(ranks), build)
        if best is None or key > best[0]:
            best = (key, f)
    return best[1] if best else None


def artifact(project: str, version: str, f: dict[str, Any]) -> dict[str, object]:
    return {
        "filename": f["filename"],
        "project": project,
        "version": version,
        "url": f["url"],
        "sha256": f["hashes"]["sha256"],
        "size": int(f["size"]),
    }


def net_large_artifact(index: RealIndex) -> tuple[dict[str, object], str]:
    """torch's wheel for this machine; else the biggest wheel of the pinned candidates."""
    pages = {(p, v): index.project(p) for p, v in NET_LARGE}
    for (project, version), files in pages.items():
        wheel = best_wheel(files, version)
        if wheel is not None:
            return artifact(project, version, wheel), "best wheel for this machine"
    candidates = [
        (f["size"], p, v, f)
        for (p, v), files in pages.items()
        for f in files
        if f["filename"].endswith(".whl") and f"-{v}-" in f["filename"] and f.get("size")
    ]
    if not candidates:
        raise RuntimeError(f"none of {NET_LARGE} has a wheel on the index")
    _, project, version, wheel = max(candidates, key=lambda c: c[0])
    return artifact(project, version, wheel), "no wheel for this machine: the biggest one"


def resolve_pins(index: RealIndex, dest: Path) -> list[tuple[str, str]]:
    """``scenarios/net-small.in`` resolved for this interpreter by uv (setup, not timed)."""
    import uv

    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
    if index.cert:
        env["SSL_CERT_FILE"] = str(index.cert)
    argv = [
        uv.find_uv_bin(),
        "pip",
        "compile",
        str(NET_SMALL_IN),
        "--python",
        PY,
        "--index-url",
        index.url,
        "--only-binary",
        ":all:",
        "--exclude-newer",
        NET_SMALL_AS_OF,
        "--no-header",
        "--no-annotate",
        "--quiet",
        "-o",
        str(dest),
    ]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"uv pip compile failed: {redact(proc.stderr[-2000:])}")
    pins = []
    for line in dest.read_text().splitlines():
        requirement = line.split("#")[0].split(";")[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            pins.append((name.split("[")[0].strip(), version.strip()))
    return pins


def net_small_artifacts(
    index: RealIndex, pins: list[tuple[str, str]], count: int
) -> tuple[list[dict[str, object]], str]:
    """Each pin's wheel for this machine, the first ``count`` (by name) of at most 2 MB."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(lambda pin: index.project(pin[0]), pins))
    no_wheel, too_big, chosen = 0, 0, []
    for (project, version), files in sorted(zip(pins, pages, strict=True), key=lambda x: x[0]):
        wheel = best_wheel(files, version)
        if wheel is None:
            no_wheel += 1
        elif int(wheel["size"]) > NET_SMALL_MAX_BYTES:
            too_big += 1
        else:
            chosen.append(artifact(project, version, wheel))
    summary = (
        f"{len(pins)} pins resolved as of {NET_SMALL_AS_OF[:10]}: {no_wheel} without a wheel"
        f" for this machine, {too_big} over {NET_SMALL_MAX_BYTES / MB:.0f} MB,"
        f" {len(chosen)} left"
    )
    if len(chosen) < count:
        summary += f" (fewer than the {count} asked for: all of them are fetched)"
    else:
        summary += f", the first {count} by name fetched"
    return chosen[:count], summary


# -- running -----------------------------------------------------------------------------


def run_case(case: Case, rounds: int, work: Path, first_round: int = 0) -> list[Run]:
    runs: list[Run] = []
    tools = list(case.tools)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(case.env)
    for round_no in range(first_round, first_round + rounds):
        order = tools if round_no % 2 == 0 else list(reversed(tools))
        for tool in order:
            out = work / f"{case.name}-{round_no}-{tools.index(tool)}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            argv = case.tools[tool](out)
            os.sync()  # the previous run's dirty pages are written now, not during this one
            began = time.perf_counter()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - began
            problem = case.check(tool, out)
            if proc.returncode != 0:
                problem = f"exit {proc.returncode}: {proc.stderr[-400:]}"
            problem = redact(problem) if problem else None
            reported = _FERRY_SUMMARY.search(proc.stderr) if tool == "ferry" else None
            engine = float(reported.group(1)) if reported else None
            runs.append(Run(tool, seconds, problem is None, problem or "", round_no, engine))
            print(
                f"  {case.name:9} round {round_no + 1} {tool:24} {seconds:7.2f} s"
                f"{'' if problem is None else '  FAILED ' + problem}",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(out.parent / (out.name + "-data"), ignore_errors=True)
    return runs


def table(case: Case, runs: list[Run]) -> str:
    """Medians per tool, and the median of the per-round ratios: each round runs every
    tool back to back, so a ratio within a round is immune to a machine that gets slower
    or faster over the run (this VM's disk does, for everyone)."""
    medians = {}
    for tool in case.tools:
        times = [r.seconds for r in runs if r.tool == tool and r.ok]
        medians[tool] = statistics.median(times) if times else None
    ferry = medians.get("ferry")
    ferry_by_round = {r.round_no: r.seconds for r in runs if r.tool == "ferry" and r.ok}
    rows = [
        f"### {case.name}: {case.files} file(s), {case.nbytes / MB:.1f} MB",
        "",
        "| tool | median s | MB/s | tool / ferry | same round |",
        "|---|---:|---:|---:|---:|",
    ]
    for tool, median in medians.items():
        if median is None:
            rows.append(f"| {tool} | failed | | | |")
            continue
        ratio = "1.00×" if tool == "ferry" else (f"{median / ferry:.2f}×" if ferry else "")
        paired = [
            r.seconds / ferry_by_round[r.round_no]
            for r in runs
            if r.tool == tool and r.ok and r.round_no in ferry_by_round
        ]
        same = f"{statistics.median(paired):.2f}×" if paired and tool != "ferry" else ""
        rows.append(
            f"| {tool} | {median:.2f} | {case.nbytes / MB / median:.0f} | {ratio} | {same} |"
        )
    return "\n".join(rows)


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--case", action="append", choices=[*LOOPBACK, *NETWORK])
    parser.add_argument(
        "--network",
        action="store_true",
        help="add net-large and net-small: the real index this machine's pip uses",
    )
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--throttled-mib", type=int, default=512)
    parser.add_argument("--rate", type=float, default=50e6, help="bytes/s per connection")
    parser.add_argument("--small-count", type=int, default=500)
    args = parser.parse_args()
    cases = args.case or list(LOOPBACK)
    if args.network:
        cases += [c for c in NETWORK if c not in cases]
    for tool in ("curl", "aria2c"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install {tool.replace('aria2c', 'aria2')})")
            return 1

    # As an installed Ferry starts: its bytecode compiled at install time.
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "src")], check=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"# bench/run_fetch.py {' '.join(sys.argv[1:])}")
    print(f"date_utc: {stamp}")
    print(f"host: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"git: {_output(['git', 'rev-parse', '--short', 'HEAD'])}")
    for tool in ("curl", "aria2c"):
        print(f"{tool}: {_output([tool, '--version']).splitlines()[0]}")
    index = None
    if any(c in NETWORK for c in cases):
        index = RealIndex.discover()
        print(f"index: {redact(index.url)} (this machine's, from Ferry's discovery)")

    reports: list[str] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="ferry-bench-fetch-") as tmp:
        root = Path(tmp)
        files = root / "files"
        files.mkdir()
        work = root / "work"
        if "large" in cases:
            size = args.large_mib << 20
            digest = random_file(files / "large.bin", size, 1)
            with served([PY, str(BENCH / "fetch_server.py"), str(files)]) as base:
                case = one_file_case("large", f"{base}/large.bin", size, digest, "large.bin")
                runs = run_case(case, args.rounds, work)
            failed |= not all(r.ok for r in runs)
            reports.append(table(case, runs))
        if "throttled" in cases:
            size = args.throttled_mib << 20
            digest = random_file(files / "throttled.bin", size, 2)
            server = [PY, str(BENCH / "fetch_server.py"), str(files), "--rate", str(args.rate)]
            with served(server) as base:
                case = one_file_case(
                    "throttled", f"{base}/throttled.bin", size, digest, "throttled.bin"
                )
                runs = run_case(case, args.rounds, work)
            failed |= not all(r.ok for r in runs)
            pace = f"server paces each connection to {args.rate / MB:.0f} MB/s."
            reports.append(table(case, runs) + "\n\n" + pace)
        if "paced" in cases:
            size = 300 * MB + 12_345  # not a multiple of any piece size
            digest = random_file(files / "paced.bin", size, 3)
            rate = 20 * MB
            server = [PY, str(BENCH / "fetch_server.py"), str(files), "--rate", str(rate)]
            with served(server) as base:
                case = few_tools_case(
                    "paced",
                    f"{base}/paced.bin",
                    size,
                    digest,
                    {"ferry": ["-x", "8"], "aria2c -x8 -s8 -k1M": ["-x8", "-s8", "-k1M"]},
                )
                runs = run_case(case, args.rounds, work)
            failed |= not all(r.ok for r in runs)
            limit = size / (8 * rate)
            reports.append(
                table(case, runs)
                + f"\n\nserver paces each connection to {rate / MB:.0f} MB/s; the limit over 8"
                f" connections is {limit:.2f} s. " + limits_line(case, runs, limit)
            )
        if "stall" in cases:
            size = 64 << 20
            digest = random_file(files / "stall.bin", size, 4)
            tools = {
                "ferry": ["-x", "1"],
                "aria2c (defaults)": ["-x1", "-s1"],
                "aria2c --timeout=15": ["-x1", "-s1", "--timeout=15"],
            }
            runs = []
            for round_no in range(args.rounds):
                # a fresh server per round: the stall happens once per server
                server = [
                    PY,
                    str(BENCH / "fetch_server.py"),
                    str(files),
                    "--stall-after",
                    str(20 * MB),
                    "--stall",
                    "90",
                ]
                for tool in tools:
                    with served(server) as base:
                        case = few_tools_case(
                            "stall", f"{base}/stall.bin", size, digest, {tool: tools[tool]}
                        )
                        runs += run_case(case, 1, work / f"stall-{round_no}", round_no)
            case = few_tools_case("stall", "", size, digest, tools)
            failed |= not all(r.ok for r in runs)
            reports.append(
                table(case, runs)
                + "\n\nthe first body past byte 20 MB hangs 90 s with the connection open."
            )
        if "small" in cases:
            wheels = root / "wheels"
            build_wheels(wheels, args.small_count)
            manifest = root / "artifacts.json"
            with served([PY, str(BENCH / "index_server.py"), str(wheels), str(manifest)]) as url:
                artifacts = json.loads(manifest.read_text())
                case = small_files_case(url, artifacts, root / "list.txt")
                runs = run_case(case, args.rounds, work)
            failed |= not all(r.ok for r in runs)
            reports.append(table(case, runs))
        if "net-large" in cases:
            assert index is not None
            big, how = net_large_artifact(index)
            name, size = str(big["filename"]), int(str(big["size"]))
            print(f"net-large: {name}, {size / MB:.1f} MB ({how})", flush=True)
            case = one_file_case(
                "net-large", str(big["url"]), size, str(big["sha256"]), name, index.cert
            )
            runs = run_case(case, args.rounds, work)
            failed |= not all(r.ok for r in runs)
            reports.append(table(case, runs) + f"\n\n{name} from the real index.")
        if "net-small" in cases:
            assert index is not None
            began = time.perf_counter()
            pins = resolve_pins(index, root / "net-pins.txt")
            resolved = time.perf_counter()
            artifacts, summary = net_small_artifacts(index, pins, args.small_count)
            setup = (
                f"setup, not timed: resolve {resolved - began:.0f} s,"
                f" {len(pins)} JSON pages {time.perf_counter() - resolved:.0f} s"
            )
            print(f"net-small: {summary} ({setup})", flush=True)
            if not artifacts:
                raise RuntimeError("net-small: no wheel to fetch")
            net_root = root / "net-small"
            net_root.mkdir()
            case = small_files_case(
                index.url, artifacts, net_root / "list.txt", "net-small", index.cert
            )
            runs = run_case(case, args.rounds, work)
            failed |= not all(r.ok for r in runs)
            reports.append(table(case, runs) + f"\n\n{summary}; from the real index.")
    print()
    print("\n\n".join(reports))
    print(
        "\ntool / ferry > 1 means Ferry was faster (medians of successful runs); same round:"
        " the median of each round's tool / ferry."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
