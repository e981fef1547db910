#!/usr/bin/env python3
"""Issue 20's benchmark: 200 small tasks on the one-process default against 2 API replicas
and 3 workers; throughput and the API's latency under that load.

    .venv/bin/python bench/run_scale.py [--tasks 200] [--rate 50] [--creators 8]
                                        [--threads 2] [--only one-process|scaled]

Both setups in the same run, one after the other, against the test suite's loopback
package index and npm registry (served by a process of their own, as in run_service.py):

- ``one-process``: one ``ferry serve`` (embedded SQLite, local files, a fresh data
  directory), the default; the anchor.
- ``scaled``: 2 ``ferry serve`` replicas and 3 ``ferry worker`` processes (``--threads``
  each, 2 by default), each with a data directory of its own, sharing a fresh PostgreSQL
  schema, Redis under a prefix of their own and a SeaweedFS bucket (a fresh ``weed
  server -s3``): started with the test suite's own helpers (tests/scale ``Cluster``,
  tests/db ``fresh_database``, tests/support/s3servers ``start_seaweedfs``), worker
  heartbeat and lease at their production defaults.

``max_concurrent_tasks`` is the default, 5, in both. Every request of the bench goes
through tests/support/rrproxy.py's round-robin TCP proxy, run in a process of its own (in
the bench's process it would share the timing client's GIL), with a new connection per
request so the proxy balances requests: the scaled setup's two replicas behind it, the
one-process setup's single ``ferry serve`` behind the same proxy, so both are measured
through the same path.

Each setup: one warm-up task (created, completed, not counted) and ``--idle`` seconds of
reading it with the service idle; then ``--tasks`` tasks (a package.json with one npm
dependency and a requirements.txt with one Python one, options ``auto_download: true``:
analyse, download, pack) created as fast as the API takes them: ``--creators`` clients,
each creating its next task as soon as its previous create is answered. From the first
create until every task has finished, ``GET /api/tasks/{id}`` is asked ``--rate`` times a
second, open loop (each latency counted from when the request was due, so a stall is not
hidden by the requests it held back), cycling through the tasks created so far; and the
task list is read once a second (two pages of 200) as the UI does, to see when all are
finished. Measured: the wall time from the first create to the last ``completed_at``,
tasks completed per minute, failed or unfinished tasks and refused creates, p50 / p95 /
p99 / max of the GETs (idle, under the load, and the part after the last create) and of
the creates themselves, each task's own time (created to completed), the load average, and
for the scaled setup which worker ran each task and how many connections each replica
took. Some archives are fetched and checked afterwards (not timed).

Prints a table and the ratios scaled / one-process; report.md, results.json and every
process's log go to bench/out/<UTC time>/. Everything it started (processes, the schema,
the Redis keys under its prefix, SeaweedFS and its data) is removed at the end, also on
an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from run import git_state, say, source_fingerprint, workspace  # noqa: E402
from run_service import percentile, serve_packages  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
REQUIREMENTS = "app\n"
OPTIONS = json.dumps(
    {
        "python_version": "3.11",
        "node_version": "20",
        "os": "linux",
        "cpu": "x64",
        "format": "zip",
        "auto_download": True,
    }
)
FINISHED = {"completed", "failed", "cancelled"}
SETUPS = ("one-process", "scaled")


# -- the proxy, in a process of its own ---------------------------------------------------


def run_proxy(backends: list[tuple[str, int]], conn: Connection) -> None:
    from support.rrproxy import RoundRobinProxy

    proxy = RoundRobinProxy(backends)
    conn.send(proxy.base)
    conn.recv()  # until told to stop
    conn.send(dict(proxy.connections))
    proxy.close()


class Proxy:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self._conn, theirs = multiprocessing.Pipe()
        self.proc = multiprocessing.get_context("spawn").Process(
            target=run_proxy, args=(backends, theirs), daemon=True
        )
        self.proc.start()
        if not self._conn.poll(60):
            raise RuntimeError("the round-robin proxy did not start")
        self.base: str = self._conn.recv()
        self.connections: dict[int, int] = {}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.send("stop")
            if self._conn.poll(10):
                self.connections = self._conn.recv()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


# -- the load -------------------------------------------------------------------------------


def _client(base: str, token: str, connections: int = 256) -> httpx.AsyncClient:
    # a new connection per request: the proxy balances connections
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=0)
    return httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60
    )


async def create(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/api/tasks",
        files=[
            ("files", ("package.json", PACKAGE.encode(), "application/json")),
            ("files", ("requirements.txt", REQUIREMENTS.encode(), "text/plain")),
        ],
        data={"options": OPTIONS},
    )


async def read_open_loop(
    client: httpx.AsyncClient, ids: list[str], rate: float, stop: asyncio.Event
) -> list[dict[str, Any]]:
    """``GET /api/tasks/{id}`` ``rate`` times a second until ``stop``, cycling through
    ``ids`` (which may grow meanwhile): due time, latency from it, status code."""
    loop = asyncio.get_running_loop()
    reads: list[dict[str, Any]] = []
    running: set[asyncio.Task[None]] = set()

    async def one(due: float, task_id: str) -> None:
        try:
            code = (await client.get(f"/api/tasks/{task_id}")).status_code
        except httpx.HTTPError as exc:
            code = type(exc).__name__
        reads.append({"due": due, "latency": loop.time() - due, "code": code})

    due = loop.time()
    count = 0
    while not stop.is_set():
        task = asyncio.create_task(one(due, ids[count % len(ids)]))
        running.add(task)
        task.add_done_callback(running.discard)
        count += 1
        due += 1 / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
    await asyncio.gather(*running)
    return reads


async def list_ours(client: httpx.AsyncClient, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """Our tasks as the task list shows them (newest first, 200 a page)."""
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        answer = await client.get("/api/tasks", params={"size": 200, "page": page})
        answer.raise_for_status()
        doc = answer.json()
        found.update({t["task_id"]: t for t in doc["tasks"] if t["task_id"] in wanted})
        if page * 200 >= doc["total"] or not doc["tasks"]:
            return found
        page += 1


async def wait_finished(
    client: httpx.AsyncClient, ids: list[str], seconds: float
) -> dict[str, dict[str, Any]]:
    """Until every task in ``ids`` has finished (or ``seconds``): the list once a second."""
    deadline = time.monotonic() + seconds
    wanted = set(ids)
    while True:
        try:
            docs = await list_ours(client, wanted)
        except httpx.HTTPError as exc:
            say(f"  the task list failed: {exc!r}")
            docs = {}
        if len(docs) == len(wanted) and all(d["status"] in FINISHED for d in docs.values()):
            return docs
        if time.monotonic() > deadline:
            say(f"  {sum(d['status'] not in FINISHED for d in docs.values())} unfinished")
            return docs
        await asyncio.sleep(1.0)


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def stats_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": statistics.median(values) * 1000,
        "p95": percentile(values, 95) * 1000,
        "p99": percentile(values, 99) * 1000,
        "max": max(values) * 1000,
    }


class LoadSampler:
    """The 1-minute load average every 5 s while a setup runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 5)

    async def stop(self) -> None:
        self._stop.set()
        if self._task:
            await self._task


async def measure(base: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    async with (
        _client(base, token) as reader,
        _client(base, token, args.creators) as creator,
        _client(base, token, 4) as lister,
    ):
        # warm-up: one task through every step, then the service idle
        answer = await create(creator)
        answer.raise_for_status()
        probe = str(answer.json()["task_id"])
        warm = await wait_finished(lister, [probe], args.timeout)
        if warm.get(probe, {}).get("status") != "completed":
            raise RuntimeError(f"the warm-up task did not complete: {warm.get(probe)}")
        say(f"  warm-up task completed; {args.idle:g} s of idle reads")
        stop = asyncio.Event()
        reading = asyncio.create_task(read_open_loop(reader, [probe], args.rate, stop))
        await asyncio.sleep(args.idle)
        stop.set()
        idle = await reading

        sampler = LoadSampler()
        sampler.start()
        load_before = os.getloadavg()
        ids: list[str] = []
        creates: list[dict[str, Any]] = []
        remaining = [args.tasks]

        async def creating() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                began = loop.time()
                try:
                    answer = await create(creator)
                    code: int | str = answer.status_code
                except httpx.HTTPError as exc:
                    answer, code = None, type(exc).__name__
                creates.append({"at": began, "latency": loop.time() - began, "code": code})
                if answer is not None and answer.status_code == 201:
                    ids.append(str(answer.json()["task_id"]))
                elif answer is not None:
                    say(f"  create refused: {answer.status_code} {answer.text[:200]}")

        stop = asyncio.Event()
        first_create = time.time()
        start = loop.time()
        ids.append(probe)  # the reader has something to ask before the first create answers
        reading = asyncio.create_task(read_open_loop(reader, ids, args.rate, stop))
        await asyncio.gather(*(creating() for _ in range(args.creators)))
        all_created = loop.time()
        created_ids = [i for i in ids if i != probe]
        say(f"  {len(created_ids)} created in {all_created - start:.1f} s; waiting for them")
        docs = await wait_finished(lister, created_ids, args.timeout)
        seen_done = loop.time()
        stop.set()
        loaded = await reading
        await sampler.stop()
        load_after = os.getloadavg()

        # not timed: every task's own times, and some archives checked
        statuses: dict[str, int] = {}
        for task_id in created_ids:
            status = docs.get(task_id, {}).get("status", "missing")
            statuses[status] = statuses.get(status, 0) + 1
        done = [d for d in docs.values() if d["status"] == "completed"]
        ends = [e for e in (_epoch(d.get("completed_at")) for d in done) if e is not None]
        turnaround = [
            _epoch(d["completed_at"]) - _epoch(d["created_at"])  # type: ignore[operator]
            for d in done
            if d.get("completed_at") and d.get("created_at")
        ]
        wall = (max(ends) - first_create) if ends else None
        errors = [
            {"task_id": d["task_id"], "status": d["status"], "error": d.get("error")}
            for d in docs.values()
            if d["status"] != "completed"
        ]
        checked = await check_archives(creator, [d["task_id"] for d in done][:: args.check_every])

    get_loaded = [r["latency"] for r in loaded]
    return {
        "tasks": args.tasks,
        "created": len(created_ids),
        "refused_creates": sum(1 for c in creates if c["code"] != 201),
        "statuses": statuses,
        "completed": len(done),
        "not_completed": args.tasks - len(done),
        "wall_s": wall,
        "creating_s": all_created - start,
        "seen_done_s": seen_done - start,
        "per_minute": len(done) / wall * 60 if wall else 0.0,
        "turnaround_s": {
            "p50": statistics.median(turnaround),
            "p95": percentile(turnaround, 95),
            "max": max(turnaround),
        }
        if turnaround
        else None,
        "get_idle": stats_ms([r["latency"] for r in idle]),
        "get_loaded": stats_ms(get_loaded),
        "get_after_creates": stats_ms([r["latency"] for r in loaded if r["due"] >= all_created]),
        "get_errors": sum(1 for r in loaded + idle if r["code"] != 200),
        "create": stats_ms([c["latency"] for c in creates]),
        "load_before": load_before,
        "load_after": load_after,
        "load_samples": sampler.samples,
        "archives_checked": checked,
        "failures": errors[:20],
        "raw": {
            "get_loaded": [(round(r["due"] - start, 4), round(r["latency"], 5)) for r in loaded],
            "create": [(round(c["at"] - start, 4), round(c["latency"], 5)) for c in creates],
        },
    }


async def check_archives(client: httpx.AsyncClient, ids: list[str]) -> dict[str, int]:
    """Each archive has the npm tarballs and the Python wheels of its task."""
    good = bad = 0
    for task_id in ids:
        answer = await client.get(f"/api/tasks/{task_id}/archive")
        names: list[str] = []
        if answer.status_code == 200:
            with zipfile.ZipFile(io.BytesIO(answer.content)) as zf:
                names = zf.namelist()
        tgz = sum(n.endswith(".tgz") for n in names)
        whl = sum(n.endswith(".whl") for n in names)
        if tgz == 3 and whl >= 3:
            good += 1
        else:
            bad += 1
            say(f"  archive of {task_id}: {answer.status_code}, {tgz} .tgz, {whl} .whl")
    return {"good": good, "bad": bad}


# -- the two setups -------------------------------------------------------------------------


def _settings(root: Path, index_url: str, registry_url: str, name: str) -> Any:
    from ferry.settings import load_settings

    return load_settings(
        data_dir=root / name,
        index_url=index_url,
        npm_registry=registry_url,
        use_machine_config=False,
        sandbox_dir=Path(tempfile.mkdtemp(prefix="ferry-bench-box-")),
    )


# the same in both setups (an admin token is not bound by it anyway)
COMMON_ENV = {"FERRY_TOKEN_MAX_TASKS_PER_HOUR": "100000"}


def one_process(
    root: Path, index_url: str, registry_url: str, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    from support.serve import Server

    settings = _settings(root, index_url, registry_url, "one-process")
    server = Server(settings, env=COMMON_ENV)
    proxy = None
    try:
        proxy = Proxy([("127.0.0.1", int(server.base.rsplit(":", 1)[1]))])
        result = asyncio.run(measure(proxy.base, server.token, args))
    finally:
        if proxy:
            proxy.close()
        server.stop()
        shutil.copy(server.log_path, logs / "one-process-serve.log")
        shutil.rmtree(settings.sandbox_dir, ignore_errors=True)
    result["setup"] = "1 ferry serve (SQLite, local files)"
    return result


def scaled(
    root: Path, index_url: str, registry_url: str, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    import pytest
    import redis

    from db import fresh_database
    from scale import Cluster
    from support.s3servers import start_seaweedfs, use_credentials

    prefix = f"bench{uuid.uuid4().hex[:12]}"
    base = _settings(root, index_url, registry_url, "base")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, base.sandbox_dir, True)
        # the processes take the credentials from the environment, as an operator gives them
        use_credentials(stack.enter_context(pytest.MonkeyPatch.context()))
        say("  starting SeaweedFS ...")
        seaweed = start_seaweedfs(root / "seaweedfs")
        stack.callback(seaweed.stop)
        database_url = stack.enter_context(fresh_database("postgresql", root))

        def forget_redis() -> None:
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)
            client.close()

        stack.callback(forget_redis)
        env = {
            **COMMON_ENV,
            "FERRY_DATABASE_URL": database_url,
            "FERRY_TASK_QUEUE": REDIS_URL,
            "FERRY_TASK_QUEUE_PREFIX": prefix,
            "FERRY_BLOB_STORE": f"s3://{seaweed.bucket}/{prefix}",
            "FERRY_S3_ENDPOINT_URL": seaweed.endpoint,
            "FERRY_SECRET_KEY": secrets.token_hex(32),
        }
        cluster = Cluster(base, root / "cluster", env)

        def close_cluster() -> None:
            cluster.close()
            with contextlib.suppress(OSError):
                for server in cluster.apis:
                    shutil.copy(server.log_path, logs / f"scaled-{server.log_path.name}")
                for n, worker in enumerate(cluster.workers):
                    shutil.copy(worker.log_path, logs / f"scaled-worker{n}.log")

        stack.callback(close_cluster)
        say("  starting 2 replicas and 3 workers ...")
        apis = [cluster.api(), cluster.api()]
        workers = [cluster.worker(args.threads) for _ in range(3)]
        ports = [int(a.base.rsplit(":", 1)[1]) for a in apis]
        proxy = Proxy([("127.0.0.1", p) for p in ports])
        try:
            result = asyncio.run(measure(proxy.base, apis[0].token, args))
        finally:
            proxy.close()
        ran = [len(re.findall(r"step download: done", w.output)) for w in workers]
        result["download_steps_per_worker"] = ran
        result["connections_per_replica"] = [proxy.connections.get(p, 0) for p in ports]
        result["setup"] = (
            f"2 ferry serve + 3 ferry worker --threads {args.threads} "
            "(PostgreSQL, Redis, SeaweedFS)"
        )
    return result


# -- the report -----------------------------------------------------------------------------


def _ms(doc: dict[str, float], key: str) -> str:
    return f"{doc[key]:.1f}" if key in doc else "-"


def render(header: list[str], results: dict[str, dict[str, Any]]) -> str:
    lines = [*header, ""]
    lines += [
        "| setup | completed | failed / unfinished | refused creates | wall s | tasks/min "
        "| created→completed p50 s | p95 s | creating s | load 1-min (min-max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        load = r["load_samples"] or [r["load_before"][0]]
        turn = r["turnaround_s"] or {}
        lines.append(
            f"| {name} | {r['completed']}/{r['tasks']} | {r['not_completed']} "
            f"| {r['refused_creates']} | {r['wall_s'] or 0:.1f} | {r['per_minute']:.1f} "
            f"| {turn.get('p50', 0):.1f} | {turn.get('p95', 0):.1f} | {r['creating_s']:.1f} "
            f"| {min(load):.1f}-{max(load):.1f} |"
        )
    lines += [
        "",
        "| setup | requests | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        for label, key in (
            ("GET /api/tasks/{id}, idle", "get_idle"),
            ("GET /api/tasks/{id}, under load", "get_loaded"),
            ("GET /api/tasks/{id}, after the last create", "get_after_creates"),
            ("POST /api/tasks (the creates)", "create"),
        ):
            s = r[key]
            lines.append(
                f"| {name} | {label} | {s['n']} | {_ms(s, 'p50')} | {_ms(s, 'p95')} "
                f"| {_ms(s, 'p99')} | {_ms(s, 'max')} |"
            )
    if set(SETUPS) <= set(results):
        one, sc = results["one-process"], results["scaled"]
        lines.append("")
        if one["per_minute"]:
            ratio = sc["per_minute"] / one["per_minute"]
            lines.append(
                f"- throughput scaled / one-process: {sc['per_minute']:.1f} / "
                f"{one['per_minute']:.1f} tasks/min = **{ratio:.2f}x**"
            )
        for label, key in (
            ("GET p99 under load", "get_loaded"),
            ("GET p99 after the last create", "get_after_creates"),
            ("create p99", "create"),
        ):
            a, b = one[key].get("p99"), sc[key].get("p99")
            if a and b:
                lines.append(
                    f"- {label}, scaled / one-process: {b:.1f} / {a:.1f} ms = **{b / a:.2f}x**"
                )
    for name, r in results.items():
        extra = [f"statuses {r['statuses']}", f"GET errors {r['get_errors']}"]
        extra.append(
            f"archives checked {r['archives_checked']['good']} good, "
            f"{r['archives_checked']['bad']} bad"
        )
        if "download_steps_per_worker" in r:
            extra.append(f"download steps per worker {r['download_steps_per_worker']}")
            extra.append(f"proxy connections per replica {r['connections_per_replica']}")
        extra.append(
            f"load {r['load_before'][0]:.2f} before, {r['load_after'][0]:.2f} after; "
            f"all finished seen {r['seen_done_s']:.1f} s after the first create"
        )
        lines.append(f"- {name} ({r['setup']}): " + "; ".join(extra))
        for failure in r["failures"][:5]:
            lines.append(f"  - {failure}")
    return "\n".join(lines) + "\n"


def other_benches() -> str:
    swarm = subprocess.run(["pgrep", "-f", "run_swarm.py"], capture_output=True, text=True)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    spaces = sum(1 for line in netns.stdout.splitlines() if line.startswith("fswarm-"))
    running = bool(swarm.stdout.strip()) or spaces > 0
    return f"{'yes' if running else 'no'} ({spaces} fswarm-* namespaces)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="GETs per second.")
    parser.add_argument("--creators", type=int, default=8, help="Clients creating at once.")
    parser.add_argument("--threads", type=int, default=2, help="Each worker's threads.")
    parser.add_argument("--idle", type=float, default=5.0, help="Seconds of idle reading.")
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds per setup.")
    parser.add_argument("--check-every", type=int, default=20, help="Every nth archive.")
    parser.add_argument("--only", choices=SETUPS, action="append")
    args = parser.parse_args()

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    header = [
        f"# bench/run_scale.py {' '.join(sys.argv[1:])}",
        "",
        f"- date_utc: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"- host: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        f"- load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- another bench (run_swarm.py) running at start: {other_benches()}",
        f"- ferry: git {git_state()}; src sha256 {source_fingerprint()}",
        f"- {args.tasks} tasks (package.json + requirements.txt, auto_download), created by "
        f"{args.creators} clients as fast as the API answers; GET /api/tasks/{{id}} "
        f"{args.rate:g}/s open loop; max_concurrent_tasks 5 (the default); a new "
        "connection per request, through a round-robin proxy in both setups",
    ]
    logs, work, _config = workspace("ferry-bench-scale-")
    results: dict[str, dict[str, Any]] = {}
    ours, theirs = multiprocessing.Pipe()
    packages = multiprocessing.get_context("spawn").Process(
        target=serve_packages, args=(str(work / "packages"), theirs), daemon=True
    )
    try:
        packages.start()
        index_url, registry_url = ours.recv()
        for name in args.only or SETUPS:
            say(f"{name}: ...")
            run = one_process if name == "one-process" else scaled
            results[name] = run(work, index_url, registry_url, args, logs)
            r = results[name]
            say(
                f"{name}: {r['completed']}/{r['tasks']} completed in {r['wall_s'] or 0:.1f} s "
                f"({r['per_minute']:.1f}/min); GET p99 {r['get_loaded'].get('p99', 0):.1f} ms, "
                f"create p99 {r['create'].get('p99', 0):.1f} ms; load "
                f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            )
    finally:
        with contextlib.suppress(Exception):
            ours.send("stop")
        packages.join(10)
        if packages.is_alive():
            packages.kill()
        header.append(f"- load at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if results:
            report = render(header, results)
            print(report)
            (logs / "report.md").write_text(report)
            (logs / "results.json").write_text(
                json.dumps({"header": header, "results": results}, indent=1) + "\n"
            )
            say(f"report.md, results.json and the logs in {logs.relative_to(REPO)}")
        shutil.rmtree(work, ignore_errors=True)
    bad = any(r["not_completed"] or r["refused_creates"] for r in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
