#!/usr/bin/env python3
"""Compare `ferry bundle` with `npm ci` on the same package-lock.json.

Cold caches, same run, rotating order, medians and ratios; the npm counterpart of
bench/run.py. Standard library only; Ferry comes from the project's virtualenv, npm from
PATH. See bench/README.md.

    .venv/bin/python bench/run_npm.py [--rounds N] [--scenario NAME ...]
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# bench/ is sys.path[0] when this file is run as a script: share run.py's helpers.
from run import (
    MB,
    REPO,
    _mb,
    _median,
    _output,
    _run,
    _s,
    _tail,
    common_parser,
    publish,
    redact,
    say,
    source_fingerprint,
    venv_ferry,
    workspace,
)

BENCH = Path(__file__).resolve().parent
SCENARIOS = BENCH / "scenarios"
PREFIX = "npm-"  # scenario directories: bench/scenarios/npm-NAME/package.json
PROBE = BENCH / "ferry_probe.py"

NOTE = (
    "npm ci also unpacks every tarball into node_modules (and writes its cache); Ferry "
    "instead verifies every integrity, reads a registry document for each package whose "
    "lock entry lacks its URL or integrity, and writes the tar.gz bundle (plus lock, "
    "package.json and installer). Neither runs install scripts."
)


# -- scenarios ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    package_json: Path


def load_scenarios() -> dict[str, Scenario]:
    """Every bench/scenarios/npm-NAME/ that holds a package.json (and no lock: see README)."""
    found = {}
    for pkg in sorted(SCENARIOS.glob(f"{PREFIX}*/package.json")):
        found[pkg.parent.name] = Scenario(pkg.parent.name, pkg)
    return found


# -- npm, isolated ------------------------------------------------------------------------


def machine_registry() -> str:
    """The registry this machine's npm uses; read at run time, never written to a file."""
    proc = subprocess.run(
        ["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=60
    )
    registry = proc.stdout.strip()
    if proc.returncode != 0 or not registry.startswith(("http://", "https://")):
        raise SystemExit(f"`npm config get registry` failed: {proc.stderr.strip()[:300]}")
    return registry


def npm_env(userconfig: Path) -> dict[str, str]:
    # No npm_config_* variable in any case, and a user config holding only the registry:
    # this machine's ~/.npmrc sets omit-lockfile-registry-resolved=true, which would
    # otherwise leave the generated lock without tarball URLs.
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env["npm_config_userconfig"] = str(userconfig)
    return env


def write_userconfig(path: Path, registry: str, *extra: str) -> Path:
    path.write_text("\n".join([f"registry={registry}", *extra]) + "\n")
    return path


@dataclass
class LockInfo:
    path: Path
    seconds: float
    entries: int  # packages in the lock, the root excluded
    with_resolved: int
    names_host: bool  # does the lock text contain the registry's host name?


def make_lock(
    sc: Scenario,
    dest: Path,
    env: dict[str, str],
    cache: Path,
    logs: Path,
    label: str,
    timeout: float,
    extra_args: list[str] | None = None,
    start_from: Path | None = None,
    host: str = "",
) -> LockInfo:
    """`npm install --package-lock-only` in dest (package.json, and start_from's lock)."""
    dest.mkdir(parents=True)
    shutil.copyfile(sc.package_json, dest / "package.json")
    if start_from is not None:
        shutil.copyfile(start_from, dest / "package-lock.json")
    cmd = [
        "npm",
        "install",
        "--package-lock-only",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--cache",
        str(cache),
        *(extra_args or []),
    ]
    log = logs / f"{sc.name}-setup-{label}"
    code, seconds, _ = _run(cmd, env, log, timeout, cwd=dest)
    lock = dest / "package-lock.json"
    if code != 0 or not lock.is_file():
        raise SystemExit(f"{sc.name}: generating the lock ({label}) failed: {_tail(log)}")
    packages = json.loads(lock.read_text())["packages"]
    return LockInfo(
        path=lock,
        seconds=seconds,
        entries=sum(1 for k in packages if k),
        with_resolved=sum(1 for k, v in packages.items() if k and v.get("resolved")),
        names_host=bool(host) and host in lock.read_text(),
    )


# -- one run ------------------------------------------------------------------------------


@dataclass
class Run:
    tool: str  # npm-ci | ferry | ferry-nores | ferry-warm | ferry-probe | ferry-probe-nores
    scenario: str
    round: int
    ok: bool
    seconds: float
    packages: int = 0  # installed (npm) / bundled (Ferry) lock paths
    files: int = 0  # distinct tarballs
    bytes: int = 0
    keys: list[str] = field(default_factory=list)  # "path integrity" of each package
    # Ferry only: what `ferry bundle --json` reported.
    timings: dict[str, float] = field(default_factory=dict)
    bytes_fetched: int | None = None
    from_cache: int | None = None
    archive_size: int | None = None
    problems: dict[str, int] = field(default_factory=dict)  # kind -> count
    resolved_filled: int | None = None  # packages with a tarball URL after resolve
    probe: dict[str, Any] = field(default_factory=dict)
    src: str = ""  # sha256 prefix of src/ferry when this Ferry run started
    exit_code: int | None = None
    error: str = ""


def _installed(project: Path) -> list[dict[str, Any]]:
    """What npm ci installed: its hidden lockfile, cross-checked against the directories."""
    hidden = project / "node_modules" / ".package-lock.json"
    packages = json.loads(hidden.read_text())["packages"]
    entries = [
        {"path": k, "integrity": v.get("integrity", "")}
        for k, v in packages.items()
        if k.startswith("node_modules/") and not v.get("link")
    ]
    on_disk = {
        str(p.parent.relative_to(project))
        for p in (project / "node_modules").rglob("package.json")
        if _is_package_dir(p.parent.relative_to(project))
    }
    missing = [e["path"] for e in entries if e["path"] not in on_disk]
    if missing:
        raise ValueError(
            f"{len(missing)} packages in .package-lock.json not on disk: {missing[:5]}"
        )
    return entries


def _is_package_dir(rel: Path) -> bool:
    """node_modules/a, node_modules/@s/a, node_modules/a/node_modules/b, ... (not a/lib)."""
    parts = rel.parts
    i = 0
    while i < len(parts):
        if parts[i] != "node_modules" or i + 1 >= len(parts):
            return False
        i += 1
        if parts[i].startswith("@"):
            i += 1
            if i >= len(parts):
                return False
        i += 1
    return True


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_npm_ci(
    sc: Scenario,
    rnd: int,
    lock: Path,
    userconfig: Path,
    work: Path,
    logs: Path,
    timeout: float,
) -> Run:
    project = work / f"npm-ci-{sc.name}-{rnd}"
    cache = work / f"npm-cache-{sc.name}-{rnd}"
    project.mkdir()
    cache.mkdir()
    shutil.copyfile(sc.package_json, project / "package.json")
    shutil.copyfile(lock, project / "package-lock.json")
    cmd = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--cache", str(cache)]
    log = logs / f"{sc.name}-r{rnd}-npm-ci"
    code, seconds, _ = _run(cmd, npm_env(userconfig), log, timeout, cwd=project)
    run = Run("npm-ci", sc.name, rnd, ok=False, seconds=seconds, exit_code=code)
    if code != 0:
        run.error = f"npm ci exited {code}: {_tail(log)}"
        return run
    try:
        entries = _installed(project)
    except (OSError, ValueError, KeyError) as exc:
        run.error = f"cannot read what npm ci installed: {exc}"
        return run
    run.packages = len(entries)
    run.files = len({e["integrity"] for e in entries})
    run.keys = sorted(f"{e['path']} {e['integrity']}" for e in entries)
    # the tarballs npm downloaded are the content of its cache (plus a few small index files)
    content = cache / "_cacache" / "content-v2"
    run.bytes = _dir_bytes(content) if content.is_dir() else 0
    run.ok = run.packages > 0
    # the project and its cache can be big; only the numbers are kept
    shutil.rmtree(project, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return run


def ferry_env(data_dir: Path, config: Path, extra: dict[str, str]) -> dict[str, str]:
    # Ferry reads this machine's npm configuration itself (registry, CA); only Ferry's own
    # settings are isolated: no FERRY_* variable, an empty settings file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update(FERRY_DATA_DIR=str(data_dir), FERRY_CONFIG=str(config))
    env.update(extra)
    return env


def run_ferry(
    ferry_cmd: list[str],
    sc: Scenario,
    rnd: int,
    tool: str,
    lock: Path,
    data_dir: Path,
    work: Path,
    logs: Path,
    config: Path,
    extra_env: dict[str, str],
    timeout: float,
) -> Run:
    # package.json and the lock side by side, as in a project
    project = work / f"{tool}-{sc.name}-{rnd}-project"
    project.mkdir(exist_ok=True)
    shutil.copyfile(sc.package_json, project / "package.json")
    shutil.copyfile(lock, project / "package-lock.json")
    out = work / f"{tool}-{sc.name}-{rnd}.tar.gz"
    cmd = [
        *ferry_cmd,
        "bundle",
        str(project / "package.json"),
        str(project / "package-lock.json"),
        "-o",
        str(out),
        "--json",
        # npm ci installs devDependencies too; Ferry leaves them out unless asked
        "--group",
        "dev",
    ]
    log = logs / f"{sc.name}-r{rnd}-{tool}"
    src = source_fingerprint()  # the tree is shared: note which Ferry this run measured
    code, seconds, stdout = _run(cmd, ferry_env(data_dir, config, extra_env), log, timeout)
    run = Run(tool, sc.name, rnd, ok=False, seconds=seconds, exit_code=code, src=src)
    # 0: clean; 3: written with warnings (an install script, platform packages left out)
    if code not in (0, 3):
        run.error = f"ferry exited {code}: {_tail(log)}"
        return run
    try:
        doc: dict[str, Any] = json.loads(stdout[stdout.index("{") :])
    except ValueError as exc:
        run.error = f"ferry printed no JSON ({exc}); see {log}.stdout"
        return run
    npm = doc.get("npm") or {}
    packages = npm.get("packages", [])
    run.packages = len(packages)
    run.files = int(doc["files"])
    # distinct tarballs, as in `files`
    run.bytes = sum({p["integrity"]: int(p.get("size") or 0) for p in packages}.values())
    run.keys = sorted(f"{p['path']} {p['integrity']}" for p in packages)
    run.timings = {k: float(v) for k, v in doc.get("timings", {}).items()}
    run.bytes_fetched = doc.get("bytes_fetched")
    run.from_cache = doc.get("from_cache")
    run.archive_size = doc.get("archive_size")
    run.resolved_filled = sum(1 for p in packages if p.get("resolved"))
    for p in npm.get("problems", []):
        run.problems[p["kind"]] = run.problems.get(p["kind"], 0) + 1
    run.ok = out.is_file() and run.files > 0
    if not run.ok:
        run.error = f"ferry exited {code} but {out} is missing or empty"
    out.unlink(missing_ok=True)
    return run


# -- machine and versions -----------------------------------------------------------------


def tree_state() -> str:
    head = _output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    status = _output(["git", "-C", str(REPO), "status", "--porcelain"]).splitlines()
    src = [line for line in status if line[3:].startswith("src/")]
    if not status:
        return f"{head} (clean tree)"
    return (
        f"{head} + uncommitted changes: {len(status)} paths, "
        f"{'including' if src else 'none in'} src/"
    )


def machine_info(ferry: Path, registry: str) -> dict[str, str]:
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs (nproc)",
        "node": _output(["node", "--version"]),
        "npm": _output(["npm", "--version"]),
        "ferry": f"{_output([str(ferry), '--version'])} (git {tree_state()}; "
        f"src sha256 {source_fingerprint()})",
        "registry": f"{redact(registry)} (`npm config get registry`)",
    }


# -- report -------------------------------------------------------------------------------


def _phases(runs: list[Run]) -> dict[str, float | None]:
    out = {
        k: _median([r.timings[k] for r in runs if k in r.timings])
        for k in ("resolve", "fetch", "pack", "total")
    }
    out["startup"] = _median([r.seconds - r.timings["total"] for r in runs if "total" in r.timings])
    return out


def summarize(sc: Scenario, runs: list[Run], locks: dict[str, LockInfo]) -> dict[str, Any]:
    npm = [r for r in runs if r.tool == "npm-ci" and r.ok]
    cold = [r for r in runs if r.tool == "ferry" and r.ok]
    nores = [r for r in runs if r.tool == "ferry-nores" and r.ok]
    warm = [r for r in runs if r.tool == "ferry-warm" and r.ok]
    probes = [r for r in runs if r.tool.startswith("ferry-probe") and r.ok]
    npm_s = _median([r.seconds for r in npm])
    checks: list[tuple[bool, str]] = []

    def same(label: str, a: list[Run], b: list[Run]) -> None:
        if not a or not b:
            return
        ka, kb = set(a[0].keys), set(b[0].keys)
        if ka == kb:
            checks.append((True, f"{label}: same {len(ka)} packages (lock path + integrity)"))
        else:
            checks.append(
                (
                    False,
                    f"{label}: DIFFERENT packages: only first {sorted(ka - kb)[:5]} "
                    f"({len(ka - kb)}), only second {sorted(kb - ka)[:5]} ({len(kb - ka)})",
                )
            )

    # other people edit the same tree: medians over two versions of Ferry mean nothing
    versions = sorted({r.src for r in runs if r.src})
    if len(versions) > 1:
        changed = [f"{r.tool} r{r.round}: {r.src}" for r in runs if r.src]
        checks.append(
            (False, f"Ferry's source changed during the run ({'; '.join(changed)}): run again")
        )
    # every round of a tool must agree with its first round, and the tools with npm ci
    for tool_runs in (npm, cold, nores):
        for r in tool_runs[1:]:
            if set(r.keys) != set(tool_runs[0].keys):
                checks.append((False, f"{r.tool} round {r.round} installed another set"))
    same("npm ci vs ferry (lock with URLs)", npm, cold)
    same("npm ci vs ferry (lock without URLs)", npm, nores)
    if npm and cold:
        checks.append(
            (
                npm[0].files == cold[0].files,
                f"tarballs: npm ci installed {npm[0].packages} packages from {npm[0].files} "
                f"distinct tarballs; Ferry's `files` = {cold[0].files}",
            )
        )
    if nores:
        filled = nores[0].resolved_filled
        checks.append(
            (
                filled == nores[0].packages,
                f"lock without URLs: Ferry found a tarball URL for {filled} of "
                f"{nores[0].packages} packages from the registry",
            )
        )
    if warm:
        w = warm[0]
        checks.append(
            (
                w.bytes_fetched == 0,
                f"warm Ferry run fetched {_mb(w.bytes_fetched)} MB "
                f"({w.from_cache} files from its cache)",
            )
        )
    rows = []
    for label, ferry_runs, lock in (
        ("lock with URLs", cold, locks["with URLs"]),
        ("lock without URLs", nores, locks["without URLs"]),
    ):
        if not ferry_runs and label == "lock without URLs":
            continue
        ferry_s = _median([r.seconds for r in ferry_runs])
        rows.append(
            {
                "lock": label,
                "lock_entries": lock.entries,
                "lock_resolved": lock.with_resolved,
                "npm_s": npm_s,
                "ferry_s": ferry_s,
                "ratio": npm_s / ferry_s if npm_s and ferry_s else None,
                "warm_s": warm[0].seconds if warm and label == "lock with URLs" else None,
                "npm_packages": npm[0].packages if npm else None,
                "npm_files": npm[0].files if npm else None,
                "npm_bytes": npm[0].bytes if npm else None,
                "ferry_files": ferry_runs[0].files if ferry_runs else None,
                "ferry_bytes": ferry_runs[0].bytes if ferry_runs else None,
                "phases": _phases(ferry_runs),
            }
        )
    return {
        "scenario": sc.name,
        "rows": rows,
        "warm_phases": _phases(warm),
        "warm_fetched": warm[0].bytes_fetched if warm else None,
        "problems": cold[0].problems if cold else {},
        "probes": [
            {
                "lock": "lock without URLs" if r.tool.endswith("nores") else "lock with URLs",
                "seconds": r.seconds,
                **r.probe,
            }
            for r in probes
        ],
        "locks": {
            k: {**asdict(v), "path": str(v.path.relative_to(REPO))} for k, v in locks.items()
        },
        "checks": [{"ok": ok, "text": text} for ok, text in checks],
        "rounds": len(npm),
    }


def render(summaries: list[dict[str, Any]], runs: list[Run], info: dict[str, str], cmd: str) -> str:
    lines = [
        f"command: {cmd}",
        *(f"{k}: {v}" for k, v in info.items()),
        "",
        "| scenario | lock | lock entries | npm ci s (median) | ferry cold s (median) | "
        "npm/ferry | ferry warm s | npm ci packages / tarballs / MB | ferry files / MB | "
        "ferry cold phases: resolve / fetch / pack / startup s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        for row in s["rows"]:
            ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}×"
            p = row["phases"]
            lines.append(
                f"| {s['scenario']} | {row['lock']} | {row['lock_entries']} | "
                f"{_s(row['npm_s'])} | {_s(row['ferry_s'])} | {ratio} | {_s(row['warm_s'])} | "
                f"{row['npm_packages'] or '—'} / {row['npm_files'] or '—'} / "
                f"{_mb(row['npm_bytes'])} | {row['ferry_files'] or '—'} / "
                f"{_mb(row['ferry_bytes'])} | {_s(p['resolve'])} / {_s(p['fetch'])} / "
                f"{_s(p['pack'])} / {_s(p['startup'])} |"
            )
    lines += [
        "",
        "npm/ferry > 1 means Ferry was faster. Both columns use the same npm ci runs (on the "
        "lock with URLs). startup = wall clock minus Ferry's own `total` (interpreter start, "
        "imports, printing the JSON). npm ci MB = its cache's content after the run.",
        NOTE,
    ]
    for s in summaries:
        lines += ["", f"Setup and warm run ({s['scenario']}):", ""]
        for key, lock in s["locks"].items():
            lines.append(
                f"- lock {key}: `npm install --package-lock-only` {lock['seconds']:.2f} s "
                f"(setup, not compared), {lock['entries']} entries, {lock['with_resolved']} "
                f"with a resolved URL, names the registry host: "
                f"{'yes' if lock['names_host'] else 'no'}; {lock['path']}"
            )
        wp = s["warm_phases"]
        if wp["total"] is not None:
            lines.append(
                f"- warm Ferry phases: resolve {_s(wp['resolve'])} / fetch {_s(wp['fetch'])} / "
                f"pack {_s(wp['pack'])} / startup {_s(wp['startup'])} s"
            )
        if s["problems"]:
            kinds = ", ".join(f"{k} ×{n}" for k, n in sorted(s["problems"].items()))
            lines.append(f"- Ferry's problems (cold, lock with URLs): {kinds}")
        for probe in s["probes"]:
            lines += ["", *render_probe(s["scenario"], probe)]
    lines += [
        "",
        "Per run (wall seconds; Ferry phases from its --json timings):",
        "",
        "| scenario | round | tool | s | packages | files | MB | resolve | fetch | pack | "
        "MB fetched | from cache | note |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        t = r.timings
        fetched = "" if r.bytes_fetched is None else _mb(r.bytes_fetched)
        cached = "" if r.from_cache is None else str(r.from_cache)
        lines.append(
            f"| {r.scenario} | {r.round} | {r.tool} | {r.seconds:.2f} | {r.packages} | "
            f"{r.files} | {_mb(r.bytes)} | {_s(t.get('resolve')) if t else ''} | "
            f"{_s(t.get('fetch')) if t else ''} | {_s(t.get('pack')) if t else ''} | "
            f"{fetched} | {cached} | {r.error if r.error else ('ok' if r.ok else 'FAILED')} |"
        )
    lines.append("")
    for s in summaries:
        for c in s["checks"]:
            lines.append(f"- {s['scenario']}: {'ok' if c['ok'] else 'CHECK FAILED'}: {c['text']}")
    return "\n".join(lines) + "\n"


def render_probe(name: str, probe: dict[str, Any]) -> list[str]:
    lines = [
        f"Where a cold Ferry run's time goes ({name}, {probe['lock']}; one extra cold run "
        f"under bench/ferry_probe.py, {_s(probe['seconds'])} s wall): `span` = first call's "
        "start to "
        "last call's end, `cpu` = Ferry's own CPU time in that span (child processes such as "
        "npm and node not counted), `starts at` = seconds after the probe's first line.",
        "",
        "| step | calls | span s | cpu s | starts at s |",
        "|---|---:|---:|---:|---:|",
        f"| Python imports (after interpreter start) | 1 | {probe['imports_s']:.2f} | | 0.00 |",
    ]
    for label, st in sorted(probe["steps"].items(), key=lambda kv: kv[1]["start_s"]):
        if label == "one version document GET":
            continue  # the same span as _enrich; its waits are in the HTTP lines below
        lines.append(
            f"| {label} | {st['calls']} | {st['span_s']:.2f} | {st.get('cpu_s', 0):.2f} | "
            f"{st['start_s']:.2f} |"
        )
    last_end = max((st["start_s"] + st["span_s"] for st in probe["steps"].values()), default=0.0)
    lines.append(
        f"| after the archive (printing the JSON, exit) | 1 | "
        f"{probe['wall_s'] - last_end:.2f} | | {last_end:.2f} |"
    )
    lines.append("")
    if "cpu_total_s" in probe:
        lines.append(
            f"- Ferry's process used {probe['cpu_total_s']:.2f} s of CPU in "
            f"{probe['wall_s']:.2f} s (from the probe's first line)"
        )
    for kind, h in sorted(probe.get("http", {}).items()):
        lines.append(
            f"- HTTP {kind} requests: {h['count']}, {h['bytes'] / MB:.2f} MB, time to response "
            f"headers median {h['headers_s_median']:.3f} s, max {h['headers_s_max']:.3f} s "
            f"({', '.join(probe.get('http_versions', []))})"
        )
    if probe.get("not_found"):
        lines.append(f"- not timed (no longer in Ferry): {', '.join(probe['not_found'])}")
    return lines


# -- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    scenarios = load_scenarios()
    parser = common_parser(__doc__ or "", list(scenarios), "FERRY_CONCURRENCY=32")
    parser.add_argument(
        "--no-nores", action="store_true", help="skip the Ferry runs on the lock without URLs"
    )
    parser.add_argument(
        "--no-probe", action="store_true", help="skip the extra instrumented Ferry runs"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not scenarios:
        parser.error(f"no {SCENARIOS}/{PREFIX}*/package.json")
    if shutil.which("npm") is None:
        parser.error("npm is not on PATH")

    python, ferry = venv_ferry(parser)
    chosen = [scenarios[n] for n in (args.scenario or sorted(scenarios))]
    extra_env = dict(args.ferry_env)
    registry = machine_registry()
    host = urlsplit(registry).hostname or ""

    logs, work, config = workspace("ferry-bench-npm-")
    userconfig = write_userconfig(work / "npmrc", registry)
    cmdline = " ".join([".venv/bin/python", "bench/run_npm.py", *(argv or sys.argv[1:])])
    info = machine_info(ferry, registry)
    if extra_env:
        info["ferry extra env"] = " ".join(f"{k}={v}" for k, v in extra_env.items())

    runs: list[Run] = []
    summaries: list[dict[str, Any]] = []
    try:
        for sc in chosen:
            # Setup, once per run: the lock both tools read, generated now (it names the
            # registry host in its URLs, so it is not kept in the repository).
            setup_cache = work / f"setup-cache-{sc.name}"
            lock_dir = logs / sc.name
            resolved = make_lock(
                sc,
                lock_dir / "lock-with-urls",
                npm_env(userconfig),
                setup_cache,
                logs,
                "with-urls",
                args.timeout,
                host=host,
            )
            say(
                f"{sc.name} setup: lock with URLs in {resolved.seconds:.2f} s, "
                f"{resolved.entries} entries, {resolved.with_resolved} with URLs"
            )
            # The same versions without tarball URLs: npm rewrites the lock above with
            # omit-lockfile-registry-resolved (what this machine's ~/.npmrc sets).
            nores_rc = write_userconfig(
                work / "npmrc-omit", registry, "omit-lockfile-registry-resolved=true"
            )
            noresolved = make_lock(
                sc,
                lock_dir / "lock-without-urls",
                npm_env(nores_rc),
                setup_cache,
                logs,
                "without-urls",
                args.timeout,
                start_from=resolved.path,
                host=host,
            )
            say(
                f"{sc.name} setup: lock without URLs in {noresolved.seconds:.2f} s, "
                f"{noresolved.entries} entries, {noresolved.with_resolved} with URLs"
            )
            locks = {"with URLs": resolved, "without URLs": noresolved}

            sc_runs: list[Run] = []
            last_data: Path | None = None
            tools = ["npm-ci", "ferry"] + ([] if args.no_nores else ["ferry-nores"])
            for rnd in range(1, args.rounds + 1):
                # rotate the order so no tool always runs first or last
                shift = (rnd - 1) % len(tools)
                for tool in tools[shift:] + tools[:shift]:
                    if tool == "npm-ci":
                        run = run_npm_ci(
                            sc, rnd, resolved.path, userconfig, work, logs, args.timeout
                        )
                    else:
                        data_dir = work / f"{tool}-data-{sc.name}-{rnd}"
                        lock = resolved.path if tool == "ferry" else noresolved.path
                        run = run_ferry(
                            [str(ferry)],
                            sc,
                            rnd,
                            tool,
                            lock,
                            data_dir,
                            work,
                            logs,
                            config,
                            extra_env,
                            args.timeout,
                        )
                        if tool == "ferry":
                            last_data = data_dir if run.ok else last_data
                        else:
                            shutil.rmtree(data_dir, ignore_errors=True)
                    sc_runs.append(run)
                    say(
                        f"{sc.name} round {rnd}/{args.rounds} {tool}: {run.seconds:.2f} s, "
                        f"{run.packages} packages {run.error}".rstrip()
                    )
            if last_data is not None:
                # Warm: the same data directory again; the store is full, so nothing
                # should be downloaded.
                run = run_ferry(
                    [str(ferry)],
                    sc,
                    args.rounds,
                    "ferry-warm",
                    resolved.path,
                    last_data,
                    work,
                    logs,
                    config,
                    extra_env,
                    args.timeout,
                )
                sc_runs.append(run)
                say(f"{sc.name} warm ferry: {run.seconds:.2f} s {run.error}".rstrip())
            probes = [] if args.no_probe else [("ferry-probe", resolved.path)]
            if not args.no_probe and not args.no_nores:
                probes.append(("ferry-probe-nores", noresolved.path))
            for tool, lock in probes:
                # One more cold run per lock, with timers around Ferry's steps
                # (bench/ferry_probe.py); not part of the medians.
                probe_out = logs / f"{sc.name}-{tool}.json"
                run = run_ferry(
                    [str(python), str(PROBE), str(probe_out)],
                    sc,
                    0,
                    tool,
                    lock,
                    work / f"{tool}-data-{sc.name}",
                    work,
                    logs,
                    config,
                    extra_env,
                    args.timeout,
                )
                if run.ok and probe_out.is_file():
                    run.probe = json.loads(probe_out.read_text())
                elif run.ok:
                    run.ok, run.error = False, "the probe wrote no timings"
                sc_runs.append(run)
                say(f"{sc.name} {tool}: {run.seconds:.2f} s {run.error}".rstrip())
            runs += sc_runs
            summaries.append(summarize(sc, sc_runs, locks))
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    raw = {
        "info": info,
        "summaries": summaries,
        "runs": [{**asdict(r), "keys": len(r.keys)} for r in runs],
    }
    report = render(summaries, runs, info, cmdline)
    failed = publish(report, raw, logs, "logs, locks and results.json")
    bad = [(s["scenario"], c["text"]) for s in summaries for c in s["checks"] if not c["ok"]]
    for name, text in bad:
        say(f"CHECK FAILED: {name}: {text}")
    return 1 if failed or bad else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
