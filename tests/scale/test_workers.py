"""Tasks on `ferry worker` processes: real `ferry serve` replicas and workers, each with a
data directory of its own, sharing only PostgreSQL, Redis and a SeaweedFS bucket.

What must hold: every task completes with a correct archive whichever worker ran it and
whichever replica is asked; a watcher on one replica sees the progress a worker reports; a
worker SIGKILLed mid-download loses nothing (another worker finishes the task); a cancel
sent to a replica stops the worker running the task."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import httpx
import pytest

from conftest import Npm
from scale import Cluster, Worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.s3, pytest.mark.timeout(300)]

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
OPTIONS = {"node_version": "20", "os": "linux", "cpu": "x64", "format": "zip"}


def _create(client: httpx.Client, **options: Any) -> str:
    answer = client.post(
        "/api/tasks",
        files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
        data={"options": json.dumps({**OPTIONS, **options})},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["task_id"])


def _status(client: httpx.Client, task_id: str) -> dict[str, Any]:
    return client.get(f"/api/tasks/{task_id}").json()  # type: ignore[no-any-return]


def _download_under_way(
    client: httpx.Client, task_id: str, npmreg: Npm, delay: float, worker: Worker
) -> None:
    """Start the task's download with the registry answering in ``delay`` seconds, and
    return once its first tarball is asked for."""
    npmreg.registry.delay(delay)
    npmreg.registry.clear_log()
    client.post(f"/api/tasks/{task_id}/download").raise_for_status()
    deadline = time.monotonic() + 30
    while not any(p.endswith(".tgz") for _, p in npmreg.registry.requests):
        assert time.monotonic() < deadline, worker.output
        time.sleep(0.05)


def _archive_names(client: httpx.Client, task_id: str) -> list[str]:
    answer = client.get(f"/api/tasks/{task_id}/archive")
    assert answer.status_code == 200, answer.text
    with zipfile.ZipFile(io.BytesIO(answer.content)) as zf:
        return zf.namelist()


def test_tasks_run_on_the_workers_and_any_replica_serves_them(cluster: Cluster) -> None:
    api_a, api_b = cluster.api(), cluster.api()
    workers = [cluster.worker(), cluster.worker()]
    ids = [_create((api_a if i % 2 else api_b).client, auto_download=True) for i in range(6)]
    for task_id in ids:
        doc = wait_for(lambda t=task_id: _status(api_a.client, t), "completed", "failed")
        assert doc["status"] == "completed", doc["error"]
        # the archive is in the bucket: the replica that did not create the task serves it
        names = _archive_names(api_b.client, task_id)
        assert any(n.endswith(".tgz") for n in names)
        assert _status(api_b.client, task_id)["progress"]["npm"]["completed"] == 3
    logs = "".join(w.output for w in workers)
    for task_id in ids:  # each step ran once, on some worker (not always the same one)
        assert logs.count(f"task {task_id}, step analyse: done") == 1, logs
        assert logs.count(f"task {task_id}, step download: done") == 1, logs
        assert task_id not in api_a.output + api_b.output  # never in an API
    # both workers took some (6 tasks, 2 threads each; the limit is 5 at once)
    assert all(any(t in w.output for t in ids) for w in workers)
    # and kept nothing of them: uploads in the database, archives in the bucket
    for worker in workers:
        tasks = worker.data_dir / "tasks"
        assert not tasks.exists() or not any(tasks.iterdir())


def test_a_watcher_on_one_replica_sees_what_a_worker_does(cluster: Cluster, npmreg: Npm) -> None:
    from websockets.sync.client import connect

    api_a, api_b = cluster.api(), cluster.api()
    cluster.worker()
    npmreg.registry.delay(0.3)  # time to watch the tarballs arrive
    task_id = _create(api_a.client, auto_download=True)
    events: list[dict[str, Any]] = []
    with connect(f"{api_b.ws}/ws/tasks/{task_id}", open_timeout=10) as socket:
        socket.send(json.dumps({"type": "auth", "token": api_b.token}))
        while not events or events[-1]["type"] not in ("complete", "error"):
            events.append(json.loads(socket.recv(timeout=60)))
    statuses = [e["status"] for e in events if e["type"] == "status"]
    assert statuses[-1] == "completed", events
    assert "downloading" in statuses
    progress = [e for e in events if e["type"] == "progress" and e["ecosystem"] == "npm"]
    assert progress and progress[-1]["current"] == 3


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_worker_killed_mid_download_loses_nothing(
    cluster: Cluster, npmreg: Npm, how: str
) -> None:
    api = cluster.api()
    first = cluster.worker()
    task_id = _create(api.client)
    wait_for(lambda: _status(api.client, task_id), "resolved")
    # each tarball takes a while: time to kill mid-way
    _download_under_way(api.client, task_id, npmreg, 1.5, first)
    if how == "SIGKILL":
        first.kill()
    else:  # stops at once, and gives its step back to the queue
        started = time.monotonic()
        first.stop()
        assert time.monotonic() - started < 20
        assert f"task {task_id}, step download: stopped" not in first.output
    npmreg.registry.delay(0)
    assert _status(api.client, task_id)["status"] == "downloading"
    second = cluster.worker()
    # the broker gives the dead worker's step back once its heartbeat is missed, and the
    # lease it held expires: then the second worker runs it
    doc = wait_for(lambda: _status(api.client, task_id), "completed", "failed", seconds=120)
    assert doc["status"] == "completed", doc["error"]
    assert task_id in second.output
    assert sum(n.endswith(".tgz") for n in _archive_names(api.client, task_id)) == 3


def test_a_cancel_on_a_replica_stops_the_worker(cluster: Cluster, npmreg: Npm) -> None:
    api_a, api_b = cluster.api(), cluster.api()
    worker = cluster.worker()
    task_id = _create(api_a.client)
    wait_for(lambda: _status(api_a.client, task_id), "resolved")
    _download_under_way(api_a.client, task_id, npmreg, 3.0, worker)
    api_b.client.post(f"/api/tasks/{task_id}/cancel").raise_for_status()
    deadline = time.monotonic() + 20
    while f"task {task_id}, step download: stopped" not in worker.output:
        assert time.monotonic() < deadline, worker.output
        time.sleep(0.1)
    assert _status(api_a.client, task_id)["status"] == "cancelled"


def test_fifty_tasks_through_two_replicas_one_killed_midway(cluster: Cluster) -> None:
    """Issue 20's own: 2 replicas behind a round-robin proxy, 3 workers; 50 tasks created
    through the proxy, one replica SIGKILLed after the first 25: clients carry on through
    the other, and every task completes with its archive."""
    from support.rrproxy import RoundRobinProxy

    apis = [cluster.api(), cluster.api()]
    for _ in range(3):
        cluster.worker()
    proxy = RoundRobinProxy([("127.0.0.1", int(a.base.rsplit(":", 1)[1])) for a in apis])
    # a new connection per request: the proxy balances connections
    client = httpx.Client(
        base_url=proxy.base,
        headers=apis[0].headers,
        timeout=30,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    try:
        ids = [_create(client, auto_download=True) for _ in range(25)]
        assert all(proxy.connections[int(a.base.rsplit(":", 1)[1])] >= 10 for a in apis)
        apis[0].kill()
        ids += [_create(client, auto_download=True) for _ in range(25)]
        for task_id in ids:
            doc = wait_for(lambda t=task_id: _status(client, t), "completed", "failed", seconds=240)
            assert doc["status"] == "completed", doc["error"]
        for task_id in ids[::7]:
            assert sum(n.endswith(".tgz") for n in _archive_names(client, task_id)) == 3
    finally:
        client.close()
        proxy.close()
    logs = "".join(w.output for w in cluster.workers)
    assert all(logs.count(f"task {t}, step download: done") == 1 for t in ids)


def test_the_limits_hold_across_workers_and_replicas(cluster: Cluster, npmreg: Npm) -> None:
    """max_concurrent_tasks counts every worker's tasks; a token's quota counts what it
    made through any replica; task_timeout ends a step on whichever worker runs it."""
    from sqlalchemy import create_engine, text

    cluster.env.update(FERRY_MAX_CONCURRENT_TASKS="2", FERRY_TASK_TIMEOUT="20")
    api_a, api_b = cluster.api(), cluster.api()
    for _ in range(2):
        cluster.worker(threads=3)  # 6 threads, room for 6 at once: the limit says 2
    npmreg.registry.delay(0.4)
    ids = [_create((api_a, api_b)[i % 2].client, auto_download=True) for i in range(6)]
    engine = create_engine(cluster.env["FERRY_DATABASE_URL"])
    most, seen = 0, set()
    try:
        deadline = time.monotonic() + 180
        while not all(_status(api_a.client, t)["status"] == "completed" for t in ids):
            assert time.monotonic() < deadline
            with engine.connect() as connection:
                live = connection.execute(
                    text("SELECT task_id FROM task_leases WHERE expires_at > now()")
                ).all()
            most = max(most, len(live))
            seen |= {row[0] for row in live}
            time.sleep(0.05)
    finally:
        engine.dispose()
    assert most == 2  # never more; and two did run at once
    assert len(seen) >= 4

    # a quota: one task at a time for this token, whichever replica it asks
    made = api_a.client.post(
        "/api/tokens", json={"name": "one", "role": "write", "max_active_tasks": 1}
    )
    assert made.status_code == 201, made.text
    one = {"Authorization": f"Bearer {made.json()['token']}"}
    npmreg.registry.delay(12.0)  # the first stays busy
    # packages no task fetched yet: every worker's cache and the bucket's lack them
    fresh = json.dumps({"name": "e", "version": "1.0.0", "dependencies": {"old": "^1.0.0"}})
    first = api_a.client.post(
        "/api/tasks",
        files=[("files", ("package.json", fresh.encode(), "application/json"))],
        data={"options": json.dumps({**OPTIONS, "auto_download": True})},
        headers=one,
    )
    assert first.status_code == 201, first.text
    second = api_b.client.post(
        "/api/tasks",
        files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
        data={"options": json.dumps(OPTIONS)},
        headers=one,
    )
    assert second.status_code == 429, second.text
    # and the time limit: at 12 s a request, neither of its steps can end within 20 s
    doc = wait_for(lambda: _status(api_b.client, first.json()["task_id"]), "failed", "completed")
    assert doc["status"] == "failed", doc
    assert doc["error"]["params"].get("limit") == "time", doc["error"]


def test_a_step_the_queue_lost_is_sent_again(cluster: Cluster) -> None:
    """Redis restarted without its data: the tasks waiting in it are sent again by a
    replica's sweep once nothing has changed for a cleanup interval."""
    import redis

    cluster.env["FERRY_CLEANUP_INTERVAL"] = "3"
    api = cluster.api()
    task_id = _create(api.client, auto_download=True)  # no worker yet: it waits in Redis
    prefix = cluster.env["FERRY_TASK_QUEUE_PREFIX"]
    client = redis.Redis.from_url(cluster.env["FERRY_TASK_QUEUE"])
    try:
        lost = [key for key in client.scan_iter(f"{prefix}-dramatiq*")]
        assert lost  # the queue had the step
        client.delete(*lost)
    finally:
        client.close()
    worker = cluster.worker()
    doc = wait_for(lambda: _status(api.client, task_id), "completed", "failed", seconds=120)
    assert doc["status"] == "completed", doc["error"]
    # sent again by each sweep while it waited: run once, the other deliveries dropped
    assert worker.output.count(f"task {task_id}, step analyse: done") == 1
