#!/usr/bin/env python3
"""Compare `ferry bundle` with `pip download` for the same cross-platform target.

Cold caches, same run, alternating order, medians and ratios. Standard library only; the
tools themselves come from the project's virtualenv. See bench/README.md.

    .venv/bin/python bench/run.py [--rounds N] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCENARIOS = BENCH / "scenarios"
OUT_ROOT = BENCH / "out"
HEADER = "# ferry-bench:"
MB = 1_000_000
# Logs keep what the tools printed, minus host names (URLs become https://<host>/...).
_HOST = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s\"'<>]+", re.IGNORECASE)

NOTE = (
    "pip download only resolves and downloads; Ferry also verifies every sha256 and writes "
    "the bundle archive (plus lock/installer). Ferry's time includes all of that, so the "
    "comparison is conservative for Ferry."
)


# -- scenarios ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    requirements: Path
    python: str
    platform: str

    @property
    def target(self) -> str:
        return f"cp{self.python.replace('.', '')}-{self.platform}"


def load_scenarios() -> dict[str, Scenario]:
    """Every bench/scenarios/NAME-requirements.txt with a `# ferry-bench:` header line."""
    found: dict[str, Scenario] = {}
    for path in sorted(SCENARIOS.glob("*-requirements.txt")):
        settings: dict[str, str] = {}
        for line in path.read_text().splitlines():
            if line.startswith(HEADER):
                for item in line[len(HEADER) :].split():
                    key, _, value = item.partition("=")
                    settings[key] = value
        if "python" not in settings or "platform" not in settings:
            raise SystemExit(f"{path}: needs a '{HEADER} python=X.Y platform=TAG' line")
        name = path.name.removesuffix("-requirements.txt")
        found[name] = Scenario(name, path, settings["python"], settings["platform"])
    return found


# -- running one tool ---------------------------------------------------------------------


@dataclass
class Run:
    tool: str  # pip | ferry | ferry-warm
    scenario: str
    round: int
    ok: bool
    seconds: float
    files: int = 0
    bytes: int = 0
    filenames: list[str] = field(default_factory=list)
    # Ferry only: what `ferry bundle --json` reported.
    timings: dict[str, float] = field(default_factory=dict)
    bytes_fetched: int | None = None
    from_cache: int | None = None
    archive_size: int | None = None
    exit_code: int | None = None
    error: str = ""


def _run(
    cmd: list[str], env: dict[str, str], log: Path, timeout: float, cwd: Path | None = None
) -> tuple[int, float, str]:
    """Run cmd, stdout+stderr to log files; return (exit code, wall seconds, stdout)."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd
        )
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        stdout = _text(exc.stdout)
        stderr = _text(exc.stderr) + f"\n[bench] timed out after {timeout:.0f} s\n"
    seconds = time.perf_counter() - started
    log.with_suffix(".cmd").write_text(" ".join(cmd) + "\n")
    log.with_suffix(".stdout").write_text(redact(stdout))
    log.with_suffix(".stderr").write_text(redact(stderr))
    return code, seconds, stdout


def redact(text: str) -> str:
    return _HOST.sub(lambda m: m[1] + ("" if m[1].lower() == "file://" else "<host>"), text)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _tail(log: Path, lines: int = 6) -> str:
    text = log.with_suffix(".stderr").read_text().strip().splitlines()
    return " | ".join(text[-lines:])


def pip_env() -> dict[str, str]:
    # No PIP_* variable (this machine sets PIP_FIND_LINKS, PIP_CERT, ...) and no pip
    # configuration file: pip's built-in default index only, like Ferry below.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def run_pip(python: Path, sc: Scenario, rnd: int, work: Path, logs: Path, timeout: float) -> Run:
    dest = work / f"pip-{sc.name}-{rnd}"
    dest.mkdir()
    cmd = [
        str(python),
        "-m",
        "pip",
        "download",
        "-r",
        str(sc.requirements),
        "-d",
        str(dest),
        "--only-binary=:all:",
        "--platform",
        sc.platform,
        "--python-version",
        sc.python,
        "--implementation",
        "cp",
        "--no-cache-dir",
        # Neither changes what is downloaded; the first skips a self-update query.
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
    ]
    log = logs / f"{sc.name}-r{rnd}-pip"
    code, seconds, _ = _run(cmd, pip_env(), log, timeout)
    files = sorted(p for p in dest.iterdir() if p.is_file())
    run = Run(
        "pip",
        sc.name,
        rnd,
        ok=code == 0 and bool(files),
        seconds=seconds,
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        filenames=[p.name for p in files],
        exit_code=code,
    )
    if not run.ok:
        run.error = f"pip exited {code}: {_tail(log)}"
    return run


def ferry_env(data_dir: Path, config: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update(
        FERRY_DATA_DIR=str(data_dir),  # fresh: empty uv cache and blob store
        FERRY_USE_MACHINE_CONFIG="false",  # default index only (no local file:// indexes)
        FERRY_CONFIG=str(config),  # an empty settings file: no user settings leak in
    )
    env.update(extra)
    return env


def run_ferry(
    ferry: Path,
    sc: Scenario,
    rnd: int,
    tool: str,
    data_dir: Path,
    work: Path,
    logs: Path,
    config: Path,
    extra_env: dict[str, str],
    timeout: float,
) -> Run:
    out = work / f"{tool}-{sc.name}-{rnd}.zip"
    cmd = [
        str(ferry),
        "bundle",
        str(sc.requirements),
        "-o",
        str(out),
        "--python",
        sc.python,
        "--platform",
        sc.platform,
        "--json",
    ]
    log = logs / f"{sc.name}-r{rnd}-{tool}"
    code, seconds, stdout = _run(cmd, ferry_env(data_dir, config, extra_env), log, timeout)
    run = Run(tool, sc.name, rnd, ok=False, seconds=seconds, exit_code=code)
    # 0: clean; 3: written with warnings (e.g. an sdist to build on the target).
    if code not in (0, 3):
        run.error = f"ferry exited {code}: {_tail(log)}"
        return run
    try:
        doc: dict[str, Any] = json.loads(stdout[stdout.index("{") :])
    except ValueError as exc:
        run.error = f"ferry printed no JSON ({exc}); see {log}.stdout"
        return run
    packages = [p for t in doc["python"]["targets"] for p in t["packages"]]
    run.files = int(doc["files"])
    run.bytes = sum(int(p.get("size") or 0) for p in packages)
    run.filenames = sorted(p["filename"] for p in packages)
    run.timings = {k: float(v) for k, v in doc.get("timings", {}).items()}
    run.bytes_fetched = doc.get("bytes_fetched")
    run.from_cache = doc.get("from_cache")
    run.archive_size = doc.get("archive_size")
    run.ok = out.is_file() and run.files > 0
    if not run.ok:
        run.error = f"ferry exited {code} but {out} is missing or empty"
    elif code == 3:
        run.error = "written with warnings (exit 3)"
    return run


# -- machine and versions -----------------------------------------------------------------


def _output(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"? ({exc})"
    return (proc.stdout or proc.stderr).strip()


def source_fingerprint() -> str:
    """sha256 over src/ferry/**/*.py: which Ferry was measured, in a tree without commits."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "src" / "ferry").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def git_state() -> str:
    head = _output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    if not re.fullmatch(r"[0-9a-f]{4,40}", head):
        return "no commit"
    dirty = _output(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"])
    return f"{head}{' + uncommitted changes in src/' if dirty else ''}"


def machine_info(python: Path, ferry: Path) -> dict[str, str]:
    uv = _output([str(python), "-c", "from uv import find_uv_bin; print(find_uv_bin())"])
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs (nproc)",
        "python": _output([str(python), "-V"]),
        "pip": _output([str(python), "-m", "pip", "--version"]).split(" from ")[0],
        "ferry": f"{_output([str(ferry), '--version'])} (git {git_state()}; "
        f"src sha256 {source_fingerprint()})",
        "uv": _output([uv, "--version"]),
    }


# -- report -------------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _mb(nbytes: float | None) -> str:
    return "—" if nbytes is None else f"{nbytes / MB:.1f}"


def summarize(sc: Scenario, runs: list[Run]) -> dict[str, Any]:
    pip = [r for r in runs if r.tool == "pip" and r.ok]
    cold = [r for r in runs if r.tool == "ferry" and r.ok]
    warm = [r for r in runs if r.tool == "ferry-warm" and r.ok]
    pip_s = _median([r.seconds for r in pip])
    ferry_s = _median([r.seconds for r in cold])
    phases = {
        k: _median([r.timings[k] for r in cold if k in r.timings])
        for k in ("resolve", "fetch", "pack", "total")
    }
    startup = _median([r.seconds - r.timings["total"] for r in cold if "total" in r.timings])
    # Compared only when both tools succeeded at least once.
    pip_names = {n for r in pip for n in r.filenames} if cold else set()
    ferry_names = {n for r in cold for n in r.filenames} if pip else set()
    return {
        "scenario": sc.name,
        "target": sc.target,
        "pip_s": pip_s,
        "ferry_s": ferry_s,
        "ratio": pip_s / ferry_s if pip_s and ferry_s else None,
        "warm_s": warm[0].seconds if warm else None,
        "warm_fetched": warm[0].bytes_fetched if warm else None,
        "warm_from_cache": warm[0].from_cache if warm else None,
        "pip_files": pip[0].files if pip else None,
        "pip_bytes": pip[0].bytes if pip else None,
        "ferry_files": cold[0].files if cold else None,
        "ferry_bytes": cold[0].bytes if cold else None,
        "phases": phases,
        "startup": startup,
        "only_pip": sorted(pip_names - ferry_names),
        "only_ferry": sorted(ferry_names - pip_names),
        "rounds": len(pip),
    }


def render(
    summaries: list[dict[str, Any]], runs: list[Run], info: dict[str, str], cmdline: str
) -> str:
    lines = [
        f"command: {cmdline}",
        *(f"{k}: {v}" for k, v in info.items()),
        "",
        "| scenario | target | pip s (median) | ferry cold s (median) | pip/ferry | "
        "ferry warm s | pip files / MB | ferry files / MB | "
        "ferry cold phases: resolve / fetch / pack / startup s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        ratio = "—" if s["ratio"] is None else f"{s['ratio']:.2f}×"
        p = s["phases"]
        lines.append(
            f"| {s['scenario']} | {s['target']} | {_s(s['pip_s'])} | {_s(s['ferry_s'])} | "
            f"{ratio} | {_s(s['warm_s'])} | {s['pip_files'] or '—'} / {_mb(s['pip_bytes'])} | "
            f"{s['ferry_files'] or '—'} / {_mb(s['ferry_bytes'])} | "
            f"{_s(p['resolve'])} / {_s(p['fetch'])} / {_s(p['pack'])} / {_s(s['startup'])} |"
        )
    lines += [
        "",
        "pip/ferry > 1 means Ferry was faster. startup = wall clock minus Ferry's own "
        "`total` (interpreter start, imports, JSON output).",
        NOTE,
        "",
        "Per run (wall seconds; Ferry phases from its --json timings):",
        "",
        "| scenario | round | tool | s | files | MB | resolve | fetch | pack | "
        "MB fetched | from cache | note |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        t = r.timings
        fetched = "" if r.bytes_fetched is None else _mb(r.bytes_fetched)
        cached = "" if r.from_cache is None else str(r.from_cache)
        lines.append(
            f"| {r.scenario} | {r.round} | {r.tool} | {r.seconds:.2f} | {r.files} | "
            f"{_mb(r.bytes)} | {_s(t.get('resolve')) if t else ''} | "
            f"{_s(t.get('fetch')) if t else ''} | {_s(t.get('pack')) if t else ''} | "
            f"{fetched} | {cached} | {r.error if r.error else ('ok' if r.ok else 'FAILED')} |"
        )
    checks = []
    for s in summaries:
        if s["only_pip"] or s["only_ferry"]:
            checks.append(
                f"- {s['scenario']}: the two tools chose different files: only pip "
                f"{s['only_pip'] or '[]'}, only Ferry {s['only_ferry'] or '[]'}"
            )
        elif s["pip_files"] and s["ferry_files"]:
            checks.append(f"- {s['scenario']}: both tools chose the same {s['pip_files']} files")
        if s["warm_fetched"] not in (None, 0):
            checks.append(
                f"- {s['scenario']}: warm Ferry run still fetched {_mb(s['warm_fetched'])} MB"
            )
        elif s["warm_fetched"] == 0:
            checks.append(
                f"- {s['scenario']}: warm Ferry run fetched 0 bytes "
                f"({s['warm_from_cache']} files from its cache)"
            )
    return "\n".join([*lines, "", *checks]) + "\n"


# -- main ---------------------------------------------------------------------------------


def _env_pair(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def common_parser(doc: str, scenarios: list[str], env_example: str) -> argparse.ArgumentParser:
    """The options every bench shares (bench/run.py, bench/run_npm.py)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="cold rounds per scenario (3)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(scenarios),
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="seconds per command before it fails (240)"
    )
    parser.add_argument(
        "--ferry-env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"extra environment for Ferry runs, e.g. {env_example} (repeatable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    return parser


def venv_ferry(parser: argparse.ArgumentParser) -> tuple[Path, Path]:
    """The venv's python and ferry (the Ferry under test)."""
    venv_bin = REPO / ".venv" / "bin"
    python = venv_bin / "python" if (venv_bin / "python").exists() else Path(sys.executable)
    ferry = python.parent / "ferry"
    if not ferry.exists():
        parser.error(f"{ferry} not found: install Ferry into the venv first")
    return python, ferry


def workspace(prefix: str) -> tuple[Path, Path, Path]:
    """A fresh log directory under bench/out/, a scratch directory, and in it an empty
    Ferry settings file (no user settings leak into a run)."""
    logs = OUT_ROOT / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    config = work / "empty-ferry.toml"
    config.write_text("")
    return logs, work, config


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def publish(report: str, raw: dict[str, Any], logs: Path, what: str) -> list[Any]:
    """Print the report, keep it and the raw results in ``logs``; the failed runs."""
    print(report)
    (logs / "results.json").write_text(json.dumps(raw, indent=2) + "\n")
    (logs / "report.md").write_text(report)
    say(f"{what} in {logs.relative_to(REPO)}")
    failed = [r for r in raw["runs"] if not r["ok"]]
    for r in failed:
        say(f"FAILED: {r['scenario']} round {r['round']} {r['tool']}: {r['error']}")
    return failed


def main(argv: list[str] | None = None) -> int:
    scenarios = load_scenarios()
    parser = common_parser(__doc__ or "", list(scenarios), "FERRY_CONCURRENCY=4")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    python, ferry = venv_ferry(parser)
    chosen = [scenarios[n] for n in (args.scenario or sorted(scenarios))]
    extra_env = dict(args.ferry_env)

    logs, work, config = workspace("ferry-bench-")
    cmdline = " ".join([".venv/bin/python", "bench/run.py", *(argv or sys.argv[1:])])
    info = machine_info(python, ferry)
    if extra_env:
        info["ferry extra env"] = " ".join(f"{k}={v}" for k, v in extra_env.items())

    runs: list[Run] = []
    summaries: list[dict[str, Any]] = []
    try:
        for sc in chosen:
            sc_runs: list[Run] = []
            last_data: Path | None = None
            for rnd in range(1, args.rounds + 1):
                data_dir = work / f"ferry-data-{sc.name}-{rnd}"
                order = ("pip", "ferry") if rnd % 2 else ("ferry", "pip")
                for tool in order:
                    if tool == "pip":
                        run = run_pip(python, sc, rnd, work, logs, args.timeout)
                    else:
                        run = run_ferry(
                            ferry,
                            sc,
                            rnd,
                            "ferry",
                            data_dir,
                            work,
                            logs,
                            config,
                            extra_env,
                            args.timeout,
                        )
                        last_data = data_dir if run.ok else last_data
                    sc_runs.append(run)
                    say(
                        f"{sc.name} round {rnd}/{args.rounds} {tool}: {run.seconds:.2f} s, "
                        f"{run.files} files {run.error}".rstrip()
                    )
            if last_data is not None:
                # Warm: the same data directory again, so uv's cache and the blob store
                # are full; nothing should be downloaded.
                run = run_ferry(
                    ferry,
                    sc,
                    args.rounds,
                    "ferry-warm",
                    last_data,
                    work,
                    logs,
                    config,
                    extra_env,
                    args.timeout,
                )
                sc_runs.append(run)
                say(f"{sc.name} warm ferry: {run.seconds:.2f} s {run.error}".rstrip())
            runs += sc_runs
            summaries.append(summarize(sc, sc_runs))
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    raw = {"info": info, "summaries": summaries, "runs": [asdict(r) for r in runs]}
    failed = publish(render(summaries, runs, info, cmdline), raw, logs, "logs and results.json")
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
