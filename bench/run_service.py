#!/usr/bin/env python3
"""How fast the service answers a task's status while other tasks resolve.

A real `ferry serve` (auth on, resolvers in their box) against the loopback index and
npm registry of the test suite. `GET /api/tasks/{id}` is asked at a steady rate (open
loop: like many pages and scripts polling, each latency counted from when the request
was due, so a stall is not hidden by the requests it held back), first with the service
idle (the anchor), then while N tasks are created at once and resolve (uv and npm in the
sandbox, `max_concurrent_tasks` at a time, the rest queued). Prints p50 / p95 / p99 / max
of each phase (idle; while the tasks resolve, all created; the same with the burst of
creating them all at once) and the resolving / idle ratio.

    .venv/bin/python bench/run_service.py [--tasks 30] [--rate 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import _publish, _publish_npm  # noqa: E402  (the test suite's fixtures)
from ferry.settings import load_settings  # noqa: E402
from support.npmregistry import LocalRegistry  # noqa: E402
from support.pyindex import LocalIndex  # noqa: E402
from support.serve import Server  # noqa: E402

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
REQUIREMENTS = "app\n"
OPTIONS = json.dumps({"python_version": "3.11", "node_version": "20", "os": "linux", "cpu": "x64"})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def serve_packages(root: str, conn: Connection) -> None:
    """In a process of its own: the index and the registry answer uv and npm with Python
    threads, which in the bench's process would take the GIL from the timing client."""
    (Path(root) / "dists").mkdir(parents=True)
    (Path(root) / "tarballs").mkdir()
    with LocalIndex() as index, LocalRegistry() as registry:
        _publish(index, Path(root) / "dists")
        _publish_npm(registry, Path(root) / "tarballs")
        conn.send((index.url, registry.url))
        conn.recv()  # until told to stop


async def read_until(
    client: httpx.AsyncClient, task_id: str, rate: float, stop: asyncio.Event
) -> list[tuple[float, float]]:
    """GET the task ``rate`` times a second until ``stop``: (due time, latency from it)."""
    loop = asyncio.get_running_loop()
    times: list[tuple[float, float]] = []
    running: set[asyncio.Task[None]] = set()

    async def one(due: float) -> None:
        answer = await client.get(f"/api/tasks/{task_id}")
        times.append((due, loop.time() - due))
        answer.raise_for_status()

    due = loop.time()
    while not stop.is_set():
        task = asyncio.create_task(one(due))
        running.add(task)
        task.add_done_callback(running.discard)
        due += 1 / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
    await asyncio.gather(*running)
    return times


async def create(client: httpx.AsyncClient) -> str:
    answer = await client.post(
        "/api/tasks",
        files=[
            ("files", ("package.json", PACKAGE.encode(), "application/json")),
            ("files", ("requirements.txt", REQUIREMENTS.encode(), "text/plain")),
        ],
        data={"options": OPTIONS},
    )
    answer.raise_for_status()
    return str(answer.json()["task_id"])


async def wait_all(client: httpx.AsyncClient, ids: list[str]) -> dict[str, int]:
    """Until every task in ``ids`` is resolved or failed: one list request a second, as
    the task list page of the UI asks."""
    wanted = set(ids)
    while True:
        page = (await client.get("/api/tasks", params={"size": 200})).json()
        statuses = {t["task_id"]: t["status"] for t in page["tasks"] if t["task_id"] in wanted}
        if len(statuses) == len(wanted) and all(
            s in ("resolved", "failed") for s in statuses.values()
        ):
            counts: dict[str, int] = {}
            for status in statuses.values():
                counts[status] = counts.get(status, 0) + 1
            return counts
        await asyncio.sleep(1.0)


async def one_round(base: str, token: str, tasks: int, rate: float, idle: float) -> dict:
    limits = httpx.Limits(max_connections=64)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:
        probe = await create(c)
        await wait_all(c, [probe])
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        reading = asyncio.create_task(read_until(c, probe, rate, stop))
        await asyncio.sleep(idle)
        stop.set()
        idle_times = [latency for _, latency in await reading]

        stop = asyncio.Event()
        reading = asyncio.create_task(read_until(c, probe, rate, stop))
        started = time.perf_counter()
        ids = await asyncio.gather(*(create(c) for _ in range(tasks)))
        all_created = loop.time()
        counts = await wait_all(c, list(ids))
        took = time.perf_counter() - started
        stop.set()
        loaded = await reading
    return {
        "idle": idle_times,
        # while the tasks are there: every one created, resolving or queued
        "resolving": [latency for due, latency in loaded if due >= all_created],
        # everything, the burst of creations included
        "loaded": [latency for _, latency in loaded],
        "took": took,
        "outcome": counts,
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": statistics.median(values) * 1000,
        "p95": percentile(values, 95) * 1000,
        "p99": percentile(values, 99) * 1000,
        "max": max(values) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--rate", type=float, default=50.0, help="GETs per second.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="Seconds of idle reading.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-service-") as tmp:
        root = Path(tmp)
        ours, theirs = multiprocessing.Pipe()
        packages = multiprocessing.get_context("spawn").Process(
            target=serve_packages, args=(str(root / "packages"), theirs), daemon=True
        )
        packages.start()
        index_url, registry_url = ours.recv()
        try:
            for number in range(args.rounds):
                settings = load_settings(
                    data_dir=root / f"data-{number}",
                    index_url=index_url,
                    npm_registry=registry_url,
                    use_machine_config=False,
                    sandbox_dir=Path(tempfile.mkdtemp(prefix="ferry-bench-box-")),
                )
                server = Server(settings, env={"FERRY_TOKEN_MAX_TASKS_PER_HOUR": "1000"})
                try:
                    result = asyncio.run(
                        one_round(server.base, server.token, args.tasks, args.rate, args.idle)
                    )
                finally:
                    server.stop()
                idle = summary(result["idle"])
                resolving = summary(result["resolving"])
                loaded = summary(result["loaded"])
                rows.append((idle, resolving, loaded, result["took"], result["outcome"]))
                print(
                    f"round {number + 1}: {args.tasks} tasks resolved in {result['took']:.1f} s "
                    f"{result['outcome']}; GET /api/tasks/{{id}} p99 {resolving['p99']:.1f} ms "
                    f"while they resolve, {loaded['p99']:.1f} ms with their creation, idle "
                    f"{idle['p99']:.1f} ms",
                    flush=True,
                )
        finally:
            ours.send("stop")
            packages.join(10)
    print()
    print(f"GET /api/tasks/{{id}} {args.rate:g}/s, {args.tasks} tasks created at once")
    print(f"{'':10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}{'reads':>8}")
    phases = (("idle", 0), ("resolving", 1), ("+creation", 2))
    for label, index in phases:
        med = {k: statistics.median(r[index][k] for r in rows) for k in rows[0][index]}
        print(
            f"{label:10}{med['p50']:>10.1f}{med['p95']:>10.1f}{med['p99']:>10.1f}"
            f"{med['max']:>10.1f}{int(med['n']):>8}"
        )
    ratio = statistics.median(r[1]["p99"] / r[0]["p99"] for r in rows)
    print(f"resolving / idle p99 (median of rounds): {ratio:.2f}x")
    print(
        "resolving: from the moment every task is created until all are resolved; "
        "+creation: the same, with the burst of creating them all at once"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
