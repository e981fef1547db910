#!/usr/bin/env python3
"""One `ferry bundle` for a whole target matrix against a loop of `pip download`.

An ML project (bench/scenarios/matrix/ml-requirements.txt, ~160 packages per target) for
5 Pythons x 5 platforms: Ferry bundles the 25 targets in one command (each file fetched
once, shared across targets); the anchor is what people script today, one
`pip download` per target, 25 in a row. Cold caches, same run, alternating order, medians
and the pip/Ferry ratio, and a per-target comparison of the files each tool chose.
Standard library only; pip and Ferry come from the project's virtualenv. See
bench/README.md.

    .venv/bin/python bench/run_matrix.py [--rounds N] [--python X.Y ...] [--platform TAG ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# bench/ is sys.path[0] when this file is run as a script: share run.py's helpers.
from run import (
    REPO,
    SCENARIOS,
    _env_pair,
    _mb,
    _median,
    _run,
    _s,
    _tail,
    ferry_env,
    machine_info,
    pip_env,
    publish,
    say,
    source_fingerprint,
    venv_ferry,
    workspace,
)

REQUIREMENTS = SCENARIOS / "matrix" / "ml-requirements.txt"
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
# Every package has a wheel for each (see README: musllinux, manylinux2014 aarch64 and
# older macOS tags leave scikit-learn, numpy or scipy without one).
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_28_aarch64",
    "win_amd64",
    "macosx_14_0_arm64",
    "macosx_13_0_x86_64",
)
# pip's own tool names in the report: plain pip, and pip told the target's markers.
PIP = "pip"
PIP_MARKERS = "pip+markers"
FERRY = "ferry"
FERRY_WARM = "ferry-warm"

NOTE = (
    "pip download only resolves and downloads; Ferry also verifies every sha256 and writes "
    "one bundle archive (plus lock/installer) for all targets. Ferry's time includes all of "
    "that, so the comparison is conservative for Ferry."
)

# Runs pip with the target's marker environment instead of this machine's: pip evaluates
# environment markers (`sys_platform == "win32"`, `python_version < "3.12"`) for the host
# even with --platform/--python-version, so plain pip picks other files for a foreign
# target than its installer would need. Everything else is pip unchanged.
MARKER_SHIM = """\
import json, runpy, sys
from pip._vendor.packaging import markers
env = dict(markers.default_environment())
env.update(json.loads(sys.argv[1]))
markers.default_environment = lambda: dict(env)
sys.argv = ["pip", *sys.argv[2:]]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


# -- targets ------------------------------------------------------------------------------

_LEGACY = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


@dataclass(frozen=True)
class Target:
    python: str
    platform: str

    @property
    def key(self) -> str:  # as Ferry's --json names it
        return f"cp{self.python.replace('.', '')}-{self.platform}"

    def pip_platforms(self) -> list[str]:
        """pip's --platform values for the tags this target's installer accepts.

        pip takes a manylinux_2_X or musllinux tag literally (only macOS tags and the
        manylinux2014/2010 aliases are widened), so the older glibc/musl tags a
        manylinux_2_28 machine also installs are spelled out, as Ferry accepts them.
        """
        if m := re.fullmatch(r"manylinux(2014|2010|1)_(\w+)", self.platform):
            glibc = {"2014": 17, "2010": 12, "1": 5}[m[1]]
            return _manylinux(glibc, m[2])
        if m := re.fullmatch(r"manylinux_2_(\d+)_(\w+)", self.platform):
            return _manylinux(int(m[1]), m[2])
        if m := re.fullmatch(r"musllinux_1_(\d+)_(\w+)", self.platform):
            return [f"musllinux_1_{n}_{m[2]}" for n in range(int(m[1]), -1, -1)]
        return [self.platform]  # win_*, macosx_* (pip widens these itself)

    def markers(self) -> dict[str, str]:
        """The marker environment of a CPython of this version on this platform."""
        if self.platform.startswith("win"):
            os_name, sys_platform, system = "nt", "win32", "Windows"
            machine = {"win_amd64": "AMD64", "win_arm64": "ARM64", "win32": "x86"}[self.platform]
        elif self.platform.startswith("macosx"):
            os_name, sys_platform, system = "posix", "darwin", "Darwin"
            machine = "arm64" if self.platform.endswith("_arm64") else "x86_64"
        else:
            os_name, sys_platform, system = "posix", "linux", "Linux"
            machine = re.sub(r"^.*?_(x86_64|aarch64|i686)$", r"\1", self.platform)
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{self.python}.0",
            "os_name": os_name,
            "platform_machine": machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": system,
            "platform_version": "",
            "python_full_version": f"{self.python}.0",
            "python_version": self.python,
            "sys_platform": sys_platform,
        }


def _manylinux(glibc: int, arch: str) -> list[str]:
    out = []
    for minor in range(glibc, 4, -1):
        out.append(f"manylinux_2_{minor}_{arch}")
        if minor in _LEGACY:
            out.append(f"{_LEGACY[minor]}_{arch}")
    return [*out, f"linux_{arch}"]


def matrix(pythons: list[str], platforms: list[str]) -> list[Target]:
    return [Target(py, plat) for py in pythons for plat in platforms]


# -- runs ---------------------------------------------------------------------------------


@dataclass
class Run:
    tool: str  # pip | pip+markers | ferry | ferry-warm
    round: int
    ok: bool
    seconds: float  # pip: the whole loop (sum of its invocations); Ferry: the one command
    commands: int = 0
    # per target key: the file names chosen, and (pip) each invocation's seconds
    files: dict[str, list[str]] = field(default_factory=dict)
    target_seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # file name -> bytes
    failed_targets: list[str] = field(default_factory=list)
    # Ferry only, from its --json
    timings: dict[str, float] = field(default_factory=dict)
    distinct_files: int | None = None
    bytes_fetched: int | None = None
    from_cache: int | None = None
    archive_size: int | None = None
    problems: list[str] = field(default_factory=list)
    exit_code: int | None = None
    src: str = ""  # Ferry's source fingerprint when the run started (the tree is shared)
    load: float = 0.0  # 1-minute load average when the run started (other work shows here)
    error: str = ""

    @property
    def file_sum(self) -> int:
        return sum(len(v) for v in self.files.values())

    @property
    def bytes_sum(self) -> int:
        return sum(self.sizes.get(n, 0) for v in self.files.values() for n in v)

    @property
    def bytes_distinct(self) -> int:
        return sum(self.sizes.values())


def pip_loop(
    python: Path,
    tool: str,
    targets: list[Target],
    reqs: Path,
    rnd: int,
    work: Path,
    logs: Path,
    cache: str,
    timeout: float,
) -> Run:
    """One `pip download` per target, in a row, as a shell loop would; one fresh cache
    directory for the whole loop (or none), so pip reuses what an earlier target fetched."""
    root = work / f"{tool}-{rnd}"
    cache_dir = root / "cache"
    run = Run(tool, rnd, ok=True, seconds=0.0, load=os.getloadavg()[0])
    env = pip_env()
    for t in targets:
        dest = root / t.key
        dest.mkdir(parents=True)
        args = ["download", "-r", str(reqs), "-d", str(dest), "--only-binary=:all:"]
        for plat in t.pip_platforms():
            args += ["--platform", plat]
        args += ["--python-version", t.python, "--implementation", "cp"]
        args += ["--no-cache-dir"] if cache == "none" else ["--cache-dir", str(cache_dir)]
        # Neither changes what is downloaded; the first skips a self-update query.
        args += ["--disable-pip-version-check", "--progress-bar", "off"]
        if tool == PIP_MARKERS:
            cmd = [str(python), "-c", MARKER_SHIM, json.dumps(t.markers()), *args]
        else:
            cmd = [str(python), "-m", "pip", *args]
        log = logs / f"r{rnd}-{tool}-{t.key}"
        code, seconds, _ = _run(cmd, env, log, timeout)
        run.seconds += seconds
        run.commands += 1
        run.target_seconds[t.key] = seconds
        files = sorted(p for p in dest.iterdir() if p.is_file())
        run.files[t.key] = [p.name for p in files]
        for p in files:
            run.sizes[p.name] = p.stat().st_size
        if code != 0 or not files:
            run.ok = False
            run.failed_targets.append(t.key)
            run.error += f"[{t.key}] pip exited {code}: {_tail(log, 3)} "
        say(f"  round {rnd} {tool} {t.key}: {seconds:.2f} s, {len(files)} files")
    run.exit_code = 0 if run.ok else 1
    run.error = run.error.strip()
    return run


def ferry_bundle(
    ferry: Path,
    tool: str,
    targets: list[Target],
    reqs: Path,
    rnd: int,
    data_dir: Path,
    work: Path,
    logs: Path,
    config: Path,
    extra_env: dict[str, str],
    timeout: float,
) -> Run:
    """One `ferry bundle` with every --python and --platform: the cross product."""
    out = work / f"{tool}-{rnd}.zip"
    pythons = list(dict.fromkeys(t.python for t in targets))
    platforms = list(dict.fromkeys(t.platform for t in targets))
    cmd = [str(ferry), "bundle", str(reqs), "-o", str(out)]
    for py in pythons:
        cmd += ["--python", py]
    for plat in platforms:
        cmd += ["--platform", plat]
    cmd += ["--only-binary", ":all:", "--json"]
    env = ferry_env(data_dir, config, extra_env)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    log = logs / f"r{rnd}-{tool}"
    src, load = source_fingerprint(), os.getloadavg()[0]
    code, seconds, stdout = _run(cmd, env, log, timeout)
    run = Run(tool, rnd, False, seconds, commands=1, exit_code=code, src=src, load=load)
    # 0: clean; 3: written with warnings (e.g. an sdist to build on the target).
    if code not in (0, 3):
        run.error = f"ferry exited {code}: {_tail(log)}"
        return run
    try:
        doc: dict[str, Any] = json.loads(stdout[stdout.index("{") :])
    except ValueError as exc:
        run.error = f"ferry printed no JSON ({exc}); see {log}.stdout"
        return run
    py = doc["python"]
    for t in py["targets"]:
        key = t["target"]["key"]
        run.files[key] = sorted(p["filename"] for p in t["packages"])
        for p in t["packages"]:
            run.sizes[p["filename"]] = int(p.get("size") or 0)
    kinds = [p.get("kind", "?") for p in py.get("problems") or []]
    kinds += [p.get("kind", "?") for t in py["targets"] for p in t.get("problems") or []]
    run.problems = kinds
    run.distinct_files = int(doc["files"])
    run.timings = {k: float(v) for k, v in doc.get("timings", {}).items()}
    run.bytes_fetched = doc.get("bytes_fetched")
    run.from_cache = doc.get("from_cache")
    run.archive_size = doc.get("archive_size")
    missing = [t.key for t in targets if t.key not in run.files]
    run.failed_targets = missing
    run.ok = out.is_file() and not missing
    if not out.is_file():
        run.error = f"ferry exited {code} but {out} is missing"
    elif missing:
        run.error = f"no result for {', '.join(missing)}"
    elif code == 3:
        run.error = "written with warnings (exit 3)"
    return run


# -- report -------------------------------------------------------------------------------


def compare(a: Run, b: Run) -> dict[str, dict[str, list[str]]]:
    """Per target where the two runs chose different files: only-a and only-b names."""
    out = {}
    for key in sorted(set(a.files) | set(b.files)):
        fa, fb = set(a.files.get(key, [])), set(b.files.get(key, []))
        if fa != fb:
            out[key] = {"only_a": sorted(fa - fb), "only_b": sorted(fb - fa)}
    return out


def _project(filename: str) -> str:
    return filename.split("-", 1)[0].lower()


def summarize(runs: list[Run], targets: list[Target], pip_tools: list[str]) -> dict[str, Any]:
    ok = {tool: [r for r in runs if r.tool == tool and r.ok] for tool in (*pip_tools, FERRY)}
    ferry_s = _median([r.seconds for r in ok[FERRY]])
    tools = {}
    for tool, rs in ok.items():
        s = _median([r.seconds for r in rs])
        first = rs[0] if rs else None
        tools[tool] = {
            "median_s": s,
            "ratio": s / ferry_s if s and ferry_s and tool != FERRY else None,
            "rounds": len(rs),
            "commands": first.commands if first else None,
            "file_sum": first.file_sum if first else None,
            "files_distinct": len(first.sizes) if first else None,
            "bytes_sum": first.bytes_sum if first else None,
            "bytes_distinct": first.bytes_distinct if first else None,
        }
    per_target = []
    for t in targets:
        row: dict[str, Any] = {"target": t.key}
        for tool in pip_tools:
            row[f"{tool}_s"] = _median([r.target_seconds[t.key] for r in ok[tool]])
        for tool in (*pip_tools, FERRY):
            first = ok[tool][0] if ok[tool] else None
            row[f"{tool}_files"] = len(first.files.get(t.key, [])) if first else None
        per_target.append(row)
    mismatches = {}
    if ok[FERRY]:
        for tool in pip_tools:
            if ok[tool]:
                mismatches[tool] = compare(ok[tool][0], ok[FERRY][0])
    phases = {
        k: _median([r.timings[k] for r in ok[FERRY] if k in r.timings])
        for k in ("resolve", "fetch", "pack", "total")
    }
    phases["startup"] = _median(
        [r.seconds - r.timings["total"] for r in ok[FERRY] if "total" in r.timings]
    )
    first_ferry = ok[FERRY][0] if ok[FERRY] else None
    return {
        "tools": tools,
        "per_target": per_target,
        "mismatches": mismatches,
        "ferry_phases": phases,
        "ferry_bytes_fetched": first_ferry.bytes_fetched if first_ferry else None,
        "ferry_archive_size": first_ferry.archive_size if first_ferry else None,
        "ferry_problems": sorted(set(first_ferry.problems)) if first_ferry else [],
    }


def render(
    summary: dict[str, Any],
    runs: list[Run],
    targets: list[Target],
    pip_tools: list[str],
    info: dict[str, str],
    cmdline: str,
) -> str:
    tools = summary["tools"]
    lines = [
        f"command: {cmdline}",
        *(f"{k}: {v}" for k, v in info.items()),
        "",
        "| tool | commands | median s | pip/ferry | files (sum over targets) | "
        "distinct files | MB (sum over targets) | distinct MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, s in tools.items():
        ratio = "—" if s["ratio"] is None else f"{s['ratio']:.2f}×"
        lines.append(
            f"| {tool} | {s['commands'] or '—'} | {_s(s['median_s'])} | {ratio} | "
            f"{s['file_sum'] or '—'} | {s['files_distinct'] or '—'} | "
            f"{_mb(s['bytes_sum'])} | {_mb(s['bytes_distinct'])} |"
        )
    p = summary["ferry_phases"]
    warm = [r for r in runs if r.tool == FERRY_WARM]
    lines += [
        "",
        f"{len(targets)} targets. pip/ferry > 1 means Ferry was faster. pip's time is the "
        f"sum of its {len(targets)} invocations; `{PIP_MARKERS}` is the same pip told each "
        "target's marker environment (see README).",
        NOTE,
        "",
        f"Ferry cold phases (median): resolve {_s(p['resolve'])} / fetch {_s(p['fetch'])} / "
        f"pack {_s(p['pack'])} / startup {_s(p['startup'])} s; fetched "
        f"{_mb(summary['ferry_bytes_fetched'])} MB, archive {_mb(summary['ferry_archive_size'])}"
        f" MB; problems: {', '.join(summary['ferry_problems']) or 'none'}",
    ]
    if warm:
        w = warm[0]
        lines.append(
            f"Ferry warm (same data directory): {w.seconds:.2f} s, resolve "
            f"{_s(w.timings.get('resolve'))} / fetch {_s(w.timings.get('fetch'))} / pack "
            f"{_s(w.timings.get('pack'))} s, fetched {_mb(w.bytes_fetched)} MB, "
            f"{w.from_cache} files from its cache"
        )
    head = " | ".join(f"{t} s" for t in pip_tools)
    files_head = " | ".join(f"{t} files" for t in (*pip_tools, FERRY))
    lines += [
        "",
        "Per target (pip: median seconds of that invocation; files: first successful round):",
        "",
        f"| target | {head} | {files_head} |",
        "|---|" + "---:|" * (len(pip_tools) * 2 + 1),
    ]
    for row in summary["per_target"]:
        cells = [_s(row[f"{t}_s"]) for t in pip_tools]
        cells += [str(row[f"{t}_files"] or "—") for t in (*pip_tools, FERRY)]
        lines.append(f"| {row['target']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per run (load: the 1-minute load average when it started):",
        "",
        "| round | tool | s | commands | files (sum) | distinct files | distinct MB | "
        "resolve | fetch | pack | MB fetched | from cache | load | note |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        t = r.timings
        lines.append(
            f"| {r.round} | {r.tool} | {r.seconds:.2f} | {r.commands} | {r.file_sum} | "
            f"{len(r.sizes)} | {_mb(r.bytes_distinct)} | {_s(t.get('resolve')) if t else ''} | "
            f"{_s(t.get('fetch')) if t else ''} | {_s(t.get('pack')) if t else ''} | "
            f"{'' if r.bytes_fetched is None else _mb(r.bytes_fetched)} | "
            f"{'' if r.from_cache is None else r.from_cache} | {r.load:.2f} | "
            f"{r.error[:300] if r.error else ('ok' if r.ok else 'FAILED')} |"
        )
    return "\n".join([*lines, "", *checks(summary, runs, targets, pip_tools)]) + "\n"


def checks(
    summary: dict[str, Any], runs: list[Run], targets: list[Target], pip_tools: list[str]
) -> list[str]:
    out = ["Checks:", ""]
    for tool in pip_tools:
        if tool not in summary["mismatches"]:
            out.append(f"- {tool} vs ferry: not compared (no successful run of one of them)")
            continue
        diff = summary["mismatches"][tool]
        if not diff:
            n = summary["tools"][FERRY]["file_sum"]
            out.append(f"- {tool} vs ferry: the same files for all {len(targets)} targets ({n})")
            continue
        only_pip = {n for d in diff.values() for n in d["only_a"]}
        only_ferry = {n for d in diff.values() for n in d["only_b"]}
        out.append(
            f"- {tool} vs ferry: different files for {len(diff)} of {len(targets)} targets; "
            f"projects only {tool} took: "
            f"{', '.join(sorted({_project(n) for n in only_pip})) or 'none'}; only Ferry: "
            f"{', '.join(sorted({_project(n) for n in only_ferry})) or 'none'}"
        )
        for key, d in diff.items():
            out.append(
                f"  - {key}: only {tool} {', '.join(d['only_a']) or '—'}; "
                f"only ferry {', '.join(d['only_b']) or '—'}"
            )
    warm = [r for r in runs if r.tool == FERRY_WARM]
    if warm and warm[0].ok:
        fetched = warm[0].bytes_fetched
        verdict = "0 bytes" if fetched == 0 else f"{_mb(fetched)} MB (expected 0)"
        out.append(f"- warm Ferry run fetched {verdict}")
    srcs = {r.src for r in runs if r.src}
    if len(srcs) > 1:
        out.append(f"- Ferry's source changed during the run ({', '.join(sorted(srcs))})")
    return out


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="cold rounds (3)")
    parser.add_argument(
        "--python",
        action="append",
        metavar="X.Y",
        help=f"target Python (repeatable; default {' '.join(PYTHONS)})",
    )
    parser.add_argument(
        "--platform",
        action="append",
        metavar="TAG",
        help=f"target platform tag (repeatable; default {' '.join(PLATFORMS)})",
    )
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS, help="requirements file")
    parser.add_argument(
        "--pip",
        choices=("both", "plain", "markers"),
        default="both",
        help=f"which pip loops: plain `pip download` ({PIP}), pip with each target's "
        f"markers ({PIP_MARKERS}), or both (default)",
    )
    parser.add_argument(
        "--pip-cache",
        choices=("shared", "none"),
        default="shared",
        help="shared: one fresh --cache-dir per loop, so later targets reuse what earlier "
        "ones fetched (default); none: --no-cache-dir for every invocation",
    )
    parser.add_argument("--no-warm", action="store_true", help="skip the warm Ferry run")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per command before it fails (900)"
    )
    parser.add_argument(
        "--ferry-env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for Ferry runs, e.g. FERRY_CONCURRENCY=4 (repeatable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.requirements.is_file() or "requirements" not in args.requirements.name:
        parser.error(f"{args.requirements}: needs an existing *requirements*.txt file")
    args.venv = venv_ferry(parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python, ferry = args.venv
    targets = matrix(args.python or list(PYTHONS), args.platform or list(PLATFORMS))
    pip_tools = {"both": [PIP, PIP_MARKERS], "plain": [PIP], "markers": [PIP_MARKERS]}[args.pip]
    extra_env = dict(args.ferry_env)
    reqs = args.requirements.resolve()

    logs, work, config = workspace("ferry-bench-matrix-")
    cmdline = " ".join([".venv/bin/python", "bench/run_matrix.py", *(argv or sys.argv[1:])])
    info = machine_info(python, ferry)
    info["targets"] = f"{len(targets)}: {' '.join(t.key for t in targets)}"
    info["requirements"] = str(reqs.relative_to(REPO) if reqs.is_relative_to(REPO) else reqs)
    info["pip cache"] = args.pip_cache
    info["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if extra_env:
        info["ferry extra env"] = " ".join(f"{k}={v}" for k, v in extra_env.items())

    runs: list[Run] = []
    last_data: Path | None = None
    started = time.perf_counter()
    try:
        for rnd in range(1, args.rounds + 1):
            order = [*pip_tools, FERRY] if rnd % 2 else [FERRY, *reversed(pip_tools)]
            for tool in order:
                if tool == FERRY:
                    data_dir = work / f"ferry-data-{rnd}"
                    run = ferry_bundle(
                        ferry,
                        FERRY,
                        targets,
                        reqs,
                        rnd,
                        data_dir,
                        work,
                        logs,
                        config,
                        extra_env,
                        args.timeout,
                    )
                    if run.ok:
                        if last_data is not None and not args.keep:
                            shutil.rmtree(last_data, ignore_errors=True)
                        last_data = data_dir
                    _drop(work / f"{FERRY}-{rnd}.zip", args.keep)
                else:
                    run = pip_loop(
                        python,
                        tool,
                        targets,
                        reqs,
                        rnd,
                        work,
                        logs,
                        args.pip_cache,
                        args.timeout,
                    )
                    _drop(work / f"{tool}-{rnd}", args.keep)
                runs.append(run)
                say(
                    f"round {rnd}/{args.rounds} {tool}: {run.seconds:.2f} s, "
                    f"{run.file_sum} files ({len(run.sizes)} distinct) {run.error[:200]}".rstrip()
                )
        if last_data is not None and not args.no_warm:
            # Warm: the same data directory again, so uv's cache and the blob store are
            # full; nothing should be downloaded.
            run = ferry_bundle(
                ferry,
                FERRY_WARM,
                targets,
                reqs,
                args.rounds,
                last_data,
                work,
                logs,
                config,
                extra_env,
                args.timeout,
            )
            _drop(work / f"{FERRY_WARM}-{args.rounds}.zip", args.keep)
            runs.append(run)
            say(f"ferry warm: {run.seconds:.2f} s {run.error}".rstrip())
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    info["bench wall clock"] = f"{time.perf_counter() - started:.0f} s"
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    summary = summarize(runs, targets, pip_tools)
    raw = {
        "info": info,
        "summary": summary,
        "runs": [
            {**asdict(r), "file_sum": r.file_sum, "bytes_distinct": r.bytes_distinct} for r in runs
        ],
    }
    report = render(summary, runs, targets, pip_tools, info, cmdline)
    failed = publish(report, _for_publish(raw), logs, "logs and results.json")
    return 1 if failed else 0


def _drop(path: Path, keep: bool) -> None:
    """Free the disk as soon as a run is counted (a round writes several GB)."""
    if keep:
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _for_publish(raw: dict[str, Any]) -> dict[str, Any]:
    """publish() lists failed runs by scenario/round/tool/error."""
    for r in raw["runs"]:
        r.setdefault("scenario", "matrix")
    return raw


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
