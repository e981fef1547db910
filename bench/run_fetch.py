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

``--network`` adds the same comparisons against the real index this machine's pip is
configured with (never named here): its biggest wheel of a pinned release and the
wheels of a resolved requirement set.

    .venv/bin/python bench/run_fetch.py [--rounds 3] [--case large|small|throttled ...]

Ratios are tool time / Ferry time: above 1, Ferry was faster. Standard library only,
plus the project's own test helpers to build wheels and serve the index.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = REPO / ".venv" / "bin"
PY = str(VENV / "python")
MB = 1_000_000

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


def one_file_case(name: str, url: str, size: int, digest: str, filename: str) -> Case:
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
            "ferry": lambda out: [
                str(VENV / "ferry"),
                "fetch",
                url,
                "-o",
                str(out),
                "--sha256",
                digest,
                "--data-dir",
                str(out.parent / (out.name + "-data")),
            ],
            "curl": lambda out: ["curl", "-sS", "--fail", "-o", str(out / filename), url],
            "aria2c -x8 -s8": lambda out: [
                "aria2c",
                "-x8",
                "-s8",
                "--file-allocation=none",
                "--console-log-level=warn",
                "--summary-interval=0",
                "--download-result=hide",
                f"--checksum=sha-256={digest}",
                "-d",
                str(out),
                "-o",
                filename,
                url,
            ],
            "huggingface_hub": lambda out: [PY, "-c", HF_GET, url, str(out / filename), str(size)],
        },
        check=check,
        env={"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1"},
    )


def small_files_case(index_url: str, artifacts: list[dict[str, object]], listing: Path) -> Case:
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

    return Case(
        name="small",
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
                "download",
                "--no-deps",
                "--no-cache-dir",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "-i",
                index_url,
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
            ],
        },
        check=check,
        # pip must see nothing of this machine's configuration (extra indexes, wheels).
        env={"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"},
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


# -- running -----------------------------------------------------------------------------


def run_case(case: Case, rounds: int, work: Path) -> list[Run]:
    runs: list[Run] = []
    tools = list(case.tools)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(case.env)
    for round_no in range(rounds):
        order = tools if round_no % 2 == 0 else list(reversed(tools))
        for tool in order:
            out = work / f"{case.name}-{round_no}-{tools.index(tool)}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            argv = case.tools[tool](out)
            began = time.perf_counter()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - began
            problem = case.check(tool, out)
            if proc.returncode != 0:
                problem = f"exit {proc.returncode}: {proc.stderr[-400:]}"
            runs.append(Run(tool, seconds, problem is None, problem or ""))
            print(
                f"  {case.name:9} round {round_no + 1} {tool:24} {seconds:7.2f} s"
                f"{'' if problem is None else '  FAILED ' + problem}",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(out.parent / (out.name + "-data"), ignore_errors=True)
    return runs


def table(case: Case, runs: list[Run]) -> str:
    medians = {}
    for tool in case.tools:
        times = [r.seconds for r in runs if r.tool == tool and r.ok]
        medians[tool] = statistics.median(times) if times else None
    ferry = medians.get("ferry")
    rows = [
        f"### {case.name}: {case.files} file(s), {case.nbytes / MB:.1f} MB",
        "",
        "| tool | median s | MB/s | tool / ferry |",
        "|---|---:|---:|---:|",
    ]
    for tool, median in medians.items():
        if median is None:
            rows.append(f"| {tool} | failed | | |")
            continue
        ratio = "1.00×" if tool == "ferry" else (f"{median / ferry:.2f}×" if ferry else "")
        rows.append(f"| {tool} | {median:.2f} | {case.nbytes / MB / median:.0f} | {ratio} |")
    return "\n".join(rows)


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--case", action="append", choices=["large", "small", "throttled"])
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--throttled-mib", type=int, default=512)
    parser.add_argument("--rate", type=float, default=50e6, help="bytes/s per connection")
    parser.add_argument("--small-count", type=int, default=500)
    args = parser.parse_args()
    cases = args.case or ["large", "small", "throttled"]
    for tool in ("curl", "aria2c"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install {tool.replace('aria2c', 'aria2')})")
            return 1

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"# bench/run_fetch.py {' '.join(sys.argv[1:])}")
    print(f"date_utc: {stamp}")
    print(f"host: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"git: {_output(['git', 'rev-parse', '--short', 'HEAD'])}")
    for tool in ("curl", "aria2c"):
        print(f"{tool}: {_output([tool, '--version']).splitlines()[0]}")

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
    print()
    print("\n\n".join(reports))
    print("\ntool / ferry > 1 means Ferry was faster (medians of successful runs).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
