"""Live task events: the EventHub on its own (pure asyncio), then over a websocket.

The websocket tests build a tiny app with only `add_websocket_routes`, so they need no
database, index or task manager (a stub answers for the one task there is; who may watch
is tested against the real app in test_auth.py). Events are published on the app's own
event loop through the TestClient's portal, as the task manager will publish them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ferry.db.repository import TaskRecord
from ferry.errors import FerryError
from ferry.server.ws import CLOSE_OVERLOADED, CLOSE_UNKNOWN_TASK, add_websocket_routes
from ferry.tasks.events import EventHub, HubProgress, Subscription, TaskEvent
from ferry.tasks.progress import TaskProgress, planned

# a hang here (a receive that never gets its message) should fail fast, not in 10 minutes
pytestmark = pytest.mark.timeout(20)

TASK = "0" * 31 + "1"
WAIT = 5.0  # for one event; only ever reached when something is broken


def progress(current: int, *, total: int = 500, ecosystem: str = "pypi") -> TaskEvent:
    return TaskEvent(
        type="progress",
        ecosystem=ecosystem,
        current=current,
        total=total,
        bytes_done=current * 10,
        bytes_total=total * 10,
    )


async def take(sub: Subscription, n: int) -> list[TaskEvent]:
    return [await asyncio.wait_for(anext(sub), WAIT) for _ in range(n)]


async def until_complete(sub: Subscription) -> list[TaskEvent]:
    events: list[TaskEvent] = []
    while not events or events[-1].type != "complete":
        events.append(await asyncio.wait_for(anext(sub), WAIT))
    return events


# the hub, without websockets


def test_event_json_has_every_field() -> None:
    doc = json.loads(TaskEvent.status_changed("resolving", "analysis started").to_json())
    assert doc["type"] == "status" and doc["status"] == "resolving"
    assert doc["message"] == "analysis started"
    assert set(doc) == {
        "type",
        "phase",
        "current",
        "total",
        "bytes_done",
        "bytes_total",
        "speed",
        "eta",
        "message",
        "package_name",
        "timestamp",
        "ecosystem",
        "status",
        "code",
        "params",
    }
    assert doc["timestamp"].endswith("+00:00")


async def test_snapshot_is_status_then_progress_per_ecosystem_then_logs() -> None:
    hub = EventHub(progress_interval=0)  # every progress event goes out at once
    hub.publish(TASK, TaskEvent.status_changed("resolving"))
    hub.publish(TASK, progress(1, ecosystem="pypi"))
    hub.publish(TASK, TaskEvent.log("fetched a"))
    hub.publish(TASK, progress(2, ecosystem="pypi"))
    hub.publish(TASK, progress(7, ecosystem="npm"))
    hub.publish(TASK, TaskEvent.log("fetched b"))
    hub.publish(TASK, TaskEvent.status_changed("downloading"))

    snap = hub.snapshot(TASK)
    assert [(e.type, e.status or e.ecosystem or e.message) for e in snap] == [
        ("status", "downloading"),
        ("progress", "pypi"),
        ("progress", "npm"),
        ("log", "fetched a"),
        ("log", "fetched b"),
    ]
    assert snap[1].current == 2
    assert hub.snapshot("other") == []


async def test_snapshot_keeps_the_last_logs_and_the_final_event() -> None:
    hub = EventHub(log_history=5)
    for i in range(12):
        hub.publish(TASK, TaskEvent.log(f"line {i}"))
    hub.publish(TASK, TaskEvent.complete("archive written"))
    snap = hub.snapshot(TASK)
    assert [e.message for e in snap] == [f"line {i}" for i in range(7, 12)] + ["archive written"]


async def test_a_task_running_again_drops_its_old_failure_from_the_snapshot() -> None:
    hub = EventHub()
    hub.publish(TASK, TaskEvent.error("fetch failed"))
    hub.publish(TASK, TaskEvent.status_changed("failed"))
    assert [e.type for e in hub.snapshot(TASK)] == ["status", "error"]
    hub.publish(TASK, TaskEvent.status_changed("downloading", "retry"))
    assert [e.type for e in hub.snapshot(TASK)] == ["status"]


async def test_late_subscriber_gets_the_snapshot_then_live_events() -> None:
    hub = EventHub(progress_interval=0)
    hub.publish(TASK, TaskEvent.status_changed("downloading"))
    hub.publish(TASK, progress(3))
    hub.publish(TASK, TaskEvent.log("fetched a"))
    async with hub.subscribe(TASK) as sub:
        hub.publish(TASK, TaskEvent.log("fetched b"))
        events = await take(sub, 4)
    assert [e.type for e in events] == ["status", "progress", "log", "log"]
    assert [e.message for e in events[2:]] == ["fetched a", "fetched b"]
    assert hub.subscriber_count(TASK) == 0


async def test_progress_is_coalesced_to_a_few_a_second() -> None:
    hub = EventHub()
    async with hub.subscribe(TASK) as sub:
        started = time.monotonic()
        for i in range(1, 501):
            hub.publish(TASK, progress(i))
            if i % 5 == 0:
                await asyncio.sleep(0.01)  # 500 events over about one second
        elapsed = time.monotonic() - started
        hub.publish(TASK, TaskEvent.complete())
        events = await until_complete(sub)
    got = [e for e in events if e.type == "progress"]
    assert 0 < len(got) < 30
    # 4 a second, plus the first one at once and the one flushed by "complete"
    assert len(got) <= 4 * elapsed + 3
    assert got[-1].current == 500 and got[-1].bytes_done == 5000
    assert [e.current for e in got] == sorted(e.current or 0 for e in got)


async def test_the_timer_delivers_the_last_progress_without_another_event() -> None:
    hub = EventHub(progress_interval=0.05)
    async with hub.subscribe(TASK) as sub:
        for i in range(1, 101):
            hub.publish(TASK, progress(i))
        first, last = await take(sub, 2)
    assert (first.current, last.current) == (1, 100)


async def test_a_status_change_is_never_ahead_of_older_progress() -> None:
    hub = EventHub(progress_interval=10)  # the timer never fires during the test
    async with hub.subscribe(TASK) as sub:
        hub.publish(TASK, progress(1))  # first one: out at once
        hub.publish(TASK, progress(2))  # pending
        hub.publish(TASK, progress(3))  # replaces it
        hub.publish(TASK, TaskEvent.status_changed("packing"))
        events = await take(sub, 3)
    assert [(e.type, e.current or e.status) for e in events] == [
        ("progress", 1),
        ("progress", 3),
        ("status", "packing"),
    ]


async def test_logs_are_never_dropped_and_stay_in_order() -> None:
    hub = EventHub()
    async with hub.subscribe(TASK) as sub:
        for i in range(300):
            hub.publish(TASK, TaskEvent.log(f"line {i}"))
            hub.publish(TASK, progress(i))
        hub.publish(TASK, TaskEvent.complete())
        events = await until_complete(sub)
    assert [e.message for e in events if e.type == "log"] == [f"line {i}" for i in range(300)]


async def test_two_subscribers_get_everything() -> None:
    hub = EventHub()
    a, b = hub.subscribe(TASK), hub.subscribe(TASK)
    assert hub.subscriber_count(TASK) == 2
    for i in range(50):
        hub.publish(TASK, TaskEvent.log(f"line {i}"))
    hub.publish(TASK, TaskEvent.complete())
    got_a, got_b = await until_complete(a), await until_complete(b)
    assert [e.message for e in got_a] == [e.message for e in got_b]
    assert len(got_a) == 51
    a.close()
    b.close()


async def test_a_closed_subscriber_affects_nobody() -> None:
    hub = EventHub()
    a, b = hub.subscribe(TASK), hub.subscribe(TASK)
    hub.publish(TASK, TaskEvent.log("one"))
    a.close()
    a.close()  # idempotent
    hub.publish(TASK, TaskEvent.log("two"))
    hub.publish(TASK, TaskEvent.complete())
    assert [e.message for e in await until_complete(b)] == ["one", "two", None]
    with pytest.raises(StopAsyncIteration):
        await anext(a)
    assert hub.subscriber_count(TASK) == 1


async def test_a_broken_subscriber_is_dropped_and_publishing_goes_on() -> None:
    hub = EventHub()
    broken, ok = hub.subscribe(TASK), hub.subscribe(TASK)

    def explode(event: TaskEvent) -> bool:
        raise RuntimeError("boom")

    broken._push = explode  # type: ignore[method-assign]
    hub.publish(TASK, TaskEvent.log("one"))  # must not raise
    hub.publish(TASK, TaskEvent.complete())
    assert len(await until_complete(ok)) == 2
    assert hub.subscriber_count(TASK) == 1
    assert broken.closed


async def test_an_overflowing_subscriber_is_cut_off_with_an_error() -> None:
    hub = EventHub(max_queue=10)
    slow, fast = hub.subscribe(TASK), hub.subscribe(TASK)
    received: list[TaskEvent] = []
    for i in range(40):
        hub.publish(TASK, TaskEvent.log(f"line {i}"))
        received += await take(fast, 1)  # fast keeps up, slow never reads
    assert slow.overflowed and slow.closed
    assert hub.subscriber_count(TASK) == 1
    # what was queued is dropped (its memory with it): only the final error remains
    rest = [event async for event in slow]
    assert len(rest) == 1 and rest[0].type == "error"
    assert "reconnect" in (rest[0].message or "")
    assert [e.message for e in received] == [f"line {i}" for i in range(40)]


async def test_forget_ends_the_streams_and_the_history() -> None:
    hub = EventHub()
    sub = hub.subscribe(TASK)
    hub.publish(TASK, TaskEvent.log("one"))
    hub.forget(TASK)
    assert [e.message async for e in sub] == ["one"]
    assert sub.end_reason == "forgotten"
    assert hub.snapshot(TASK) == []
    assert hub.subscriber_count(TASK) == 0
    hub.forget("never-seen")


async def test_subscribing_to_a_silent_task_leaves_nothing_behind() -> None:
    hub = EventHub()
    with_nothing = hub.subscribe("silent")
    with_nothing.close()
    assert "silent" not in hub._topics


def test_publish_without_a_running_loop_delivers_at_once() -> None:
    hub = EventHub()
    hub.publish(TASK, progress(1))
    hub.publish(TASK, progress(2))
    assert [e.current for e in hub.snapshot(TASK)] == [2]


# HubProgress


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.ecosystem = "pypi"

    def start(self, total_files: int, total_bytes: int) -> None:
        self.calls.append(("start", total_files, total_bytes))

    def advance(self, name: str, nbytes: int) -> None:
        self.calls.append(("advance", name, nbytes))

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        self.calls.append(("file_done", name, from_cache))

    def file_failed(self, name: str, error: FerryError) -> None:
        self.calls.append(("file_failed", name, error.message))

    def finish(self) -> None:
        self.calls.append(("finish",))


async def test_hub_progress_publishes_counts_speed_eta_and_logs() -> None:
    hub = EventHub(progress_interval=0)
    now = [100.0]
    inner = Recorder()
    listener = HubProgress(hub, TASK, inner=inner, clock=lambda: now[0])
    async with hub.subscribe(TASK) as sub:
        listener.announce("fetching npm")
        assert inner.ecosystem == "npm"  # the wrapped counts follow the ecosystem
        listener.start(2, 2000)
        for _ in range(10):
            now[0] += 0.2
            listener.advance("a.tgz", 50)  # 250 bytes/s
        listener.file_done("a.tgz", from_cache=False)
        listener.file_failed("b.tgz", FerryError("boom"))
        listener.finish()
        listener.announce("packing")
        events = [e async for e in _drain(sub)]

    logs = [e for e in events if e.type == "log"]
    assert [e.message for e in logs] == [
        "fetching npm",
        "fetched a.tgz",
        "failed b.tgz: boom",
        "packing",
    ]
    assert logs[1].package_name == "a.tgz" and logs[1].ecosystem == "npm"
    # a phase of no one ecosystem is not labelled with the last one fetched
    assert logs[-1].ecosystem is None
    last = [e for e in events if e.type == "progress"][-1]
    assert (last.ecosystem, last.phase) == ("npm", "fetching npm")
    assert (last.current, last.total, last.bytes_done, last.bytes_total) == (2, 2, 500, 2000)
    assert last.speed == pytest.approx(250)
    assert last.eta == pytest.approx(1500 / 250)
    assert [c[0] for c in inner.calls] == ["start"] + ["advance"] * 10 + [
        "file_done",
        "file_failed",
        "finish",
    ]


async def test_hub_progress_speed_follows_a_moving_window() -> None:
    hub = EventHub(progress_interval=0)
    now = [0.0]
    listener = HubProgress(hub, TASK, window=2.0, clock=lambda: now[0])
    listener.start(1, 100_000)
    for _ in range(50):  # 1000 bytes/s for 5 s
        now[0] += 0.1
        listener.advance("x", 100)
    for _ in range(30):  # then 100 bytes/s for 3 s: the old rate has left the window
        now[0] += 0.1
        listener.advance("x", 10)
    speed = hub.snapshot(TASK)[-1].speed
    assert speed == pytest.approx(100, rel=0.1)


async def test_hub_progress_rows_wait_with_the_analysis_totals_then_count_files_in_place() -> None:
    hub = EventHub(progress_interval=0)
    now = [0.0]
    inner = TaskProgress()
    listener = HubProgress(hub, TASK, inner=inner, clock=lambda: now[0])
    # the analysis said: 3 Python files of 3000 bytes, 5 npm tarballs of 500 bytes
    listener.plan({"pypi": (3, 3000), "npm": (5, 500)})
    first = {e.ecosystem: e for e in hub.snapshot(TASK) if e.type == "progress"}
    assert set(first) == {"pypi", "npm"}  # both rows before the first byte
    assert (first["npm"].phase, first["npm"].total, first["npm"].bytes_total) == ("waiting", 5, 500)
    assert first["npm"].speed is None and first["npm"].eta is None
    assert inner.state["npm"]["state"] == "waiting" and inner.state["npm"]["total"] == 5

    listener.announce("fetching pypi")
    # the engine knows better (one file was shared by two targets): its count wins
    listener.start(2, 3000)
    listener.file_done("cached.whl", from_cache=True, nbytes=1000)
    for _ in range(10):
        now[0] += 0.1
        listener.advance("new.whl", 200)  # 2000 bytes/s
    listener.file_done("new.whl", from_cache=False)
    listener.finish()
    rows = {e.ecosystem: e for e in hub.snapshot(TASK) if e.type == "progress"}
    py = rows["pypi"]
    assert (py.phase, py.current, py.total, py.bytes_done, py.bytes_total) == (
        "fetching pypi",
        2,
        2,
        3000,
        3000,
    )
    # the file in place is done, but it is not part of the speed
    assert py.speed == pytest.approx(2000, rel=0.15)
    assert rows["npm"].phase == "waiting"  # not reached yet, still there
    assert inner.state["pypi"] == {
        "state": "done",
        "total": 2,
        "completed": 2,
        "cached": 1,
        "failed": 0,
        "failed_packages": [],
        "bytes_done": 3000,
        "bytes_total": 3000,
    }
    assert inner.state["npm"]["state"] == "waiting"


def test_planned_takes_each_ecosystems_totals_from_the_analysis() -> None:
    deps = {
        "python": {"file_count": 4, "total_bytes": 4096, "targets": []},
        "npm": {"count": 7, "total_bytes": 700},
    }
    assert planned(deps) == {"pypi": (4, 4096), "npm": (7, 700)}
    assert planned({"npm": {"count": 1}}) == {"npm": (1, 0)}
    assert planned(None) == {}


async def _drain(sub: Subscription) -> Any:
    while sub.pending():
        yield await anext(sub)


# over a websocket


class Harness:
    def __init__(self, client: TestClient, hub: EventHub) -> None:
        self.client = client
        self.hub = hub

    def run(self, fn: Any, *args: Any) -> Any:
        """Call ``fn`` on the app's event loop (where the websocket routes run)."""
        assert self.client.portal is not None
        return self.client.portal.call(fn, *args)

    def publish(self, *events: TaskEvent, task_id: str = TASK) -> None:
        def go() -> None:
            for event in events:
                self.hub.publish(task_id, event)

        self.run(go)

    def wait_subscribers(self, n: int, task_id: str = TASK) -> None:
        deadline = time.monotonic() + 5
        while self.run(self.hub.subscriber_count, task_id) != n:
            assert time.monotonic() < deadline, "subscriber count never reached"
            time.sleep(0.01)


def _record(task_id: str) -> TaskRecord:
    now = datetime.now(UTC)
    return TaskRecord(
        task_id, "downloading", {}, [], None, {}, None, None, None, None,
        now, now, None, None, None, owner="local",
    )  # fmt: skip


def make_app(hub: EventHub, known: set[str]) -> FastAPI:
    app = FastAPI()
    app.state.hub = hub
    app.state.settings = SimpleNamespace(no_auth=True)
    app.state.auth = None  # unused without authentication

    def get(task_id: str, **_options: object) -> TaskRecord | None:
        return _record(task_id) if task_id in known else None

    async def db(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    app.state.manager = SimpleNamespace(repo=SimpleNamespace(get=get), db=db)
    add_websocket_routes(app)
    return app


@pytest.fixture
def ws() -> Iterator[Harness]:
    hub = EventHub(max_queue=500)
    with TestClient(make_app(hub, {TASK})) as client:
        yield Harness(client, hub)


def skip_stored_status(conn: Any) -> None:
    """A task this hub has heard nothing about starts with its stored status."""
    first = conn.receive_json()
    assert (first["type"], first["status"]) == ("status", "downloading"), first


def receive_until_complete(conn: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    while not docs or docs[-1]["type"] != "complete":
        docs.append(conn.receive_json())
    return docs


def test_ws_late_subscriber_gets_the_snapshot_first(ws: Harness) -> None:
    ws.publish(
        TaskEvent.status_changed("resolving"),
        progress(4),
        TaskEvent.log("fetched a"),
        TaskEvent.log("fetched b"),
        TaskEvent.status_changed("downloading", "download requested"),
    )
    with ws.client.websocket_connect(f"/ws/tasks/{TASK}") as conn:
        first = [conn.receive_json() for _ in range(4)]
        ws.publish(TaskEvent.complete("archive written"))
        assert receive_until_complete(conn)[-1]["message"] == "archive written"
    assert [d["type"] for d in first] == ["status", "progress", "log", "log"]
    assert first[0]["status"] == "downloading"
    assert first[1]["current"] == 4
    assert [d["message"] for d in first[2:]] == ["fetched a", "fetched b"]


def test_ws_progress_is_coalesced(ws: Harness) -> None:
    async def flood() -> None:
        for i in range(1, 501):
            ws.hub.publish(TASK, progress(i))
            if i % 5 == 0:
                await asyncio.sleep(0.01)  # about one second in all
        ws.hub.publish(TASK, TaskEvent.complete())

    with ws.client.websocket_connect(f"/ws/tasks/{TASK}") as conn:
        ws.wait_subscribers(1)
        ws.run(flood)
        docs = receive_until_complete(conn)
    got = [d for d in docs if d["type"] == "progress"]
    assert 0 < len(got) < 30
    assert (got[-1]["current"], got[-1]["bytes_done"]) == (500, 5000)


def test_ws_logs_all_arrive_in_order(ws: Harness) -> None:
    with ws.client.websocket_connect(f"/ws/tasks/{TASK}") as conn:
        ws.wait_subscribers(1)
        ws.publish(*[TaskEvent.log(f"line {i}") for i in range(300)], TaskEvent.complete())
        docs = receive_until_complete(conn)
    assert [d["message"] for d in docs if d["type"] == "log"] == [f"line {i}" for i in range(300)]


def test_ws_two_subscribers_both_get_everything(ws: Harness) -> None:
    url = f"/ws/tasks/{TASK}"
    with ws.client.websocket_connect(url) as a, ws.client.websocket_connect(url) as b:
        ws.wait_subscribers(2)
        ws.publish(
            *[TaskEvent.log(f"line {i}") for i in range(50)],
            progress(1),
            TaskEvent.status_changed("packing"),
            TaskEvent.complete(),
        )
        got_a, got_b = receive_until_complete(a), receive_until_complete(b)
    assert [(d["type"], d["message"]) for d in got_a] == [(d["type"], d["message"]) for d in got_b]
    # the snapshot (the stored status of a task new to this hub), then everything published
    assert got_a[0]["type"] == "status" and got_a[0]["status"] == "downloading"
    assert len(got_a) == 1 + 53


def test_ws_a_subscriber_leaving_mid_stream_breaks_nothing(ws: Harness) -> None:
    url = f"/ws/tasks/{TASK}"
    with ws.client.websocket_connect(url) as stays:
        with ws.client.websocket_connect(url) as leaves:
            ws.wait_subscribers(2)
            skip_stored_status(leaves)
            ws.publish(*[TaskEvent.log(f"line {i}") for i in range(10)])
            assert [leaves.receive_json()["message"] for _ in range(5)] == [
                f"line {i}" for i in range(5)
            ]
            leaves.close()
            ws.wait_subscribers(1)
        ws.publish(*[TaskEvent.log(f"line {i}") for i in range(10, 20)], TaskEvent.complete())
        docs = receive_until_complete(stays)
    assert [d["message"] for d in docs if d["type"] == "log"] == [f"line {i}" for i in range(20)]
    ws.wait_subscribers(0)


def test_ws_an_overflowing_subscriber_gets_an_error_and_1013() -> None:
    hub = EventHub(max_queue=20)
    with TestClient(make_app(hub, {TASK})) as client:
        harness = Harness(client, hub)
        with client.websocket_connect(f"/ws/tasks/{TASK}") as conn:
            harness.wait_subscribers(1)
            skip_stored_status(conn)
            # in one go on the loop: the route gets no chance to send in between
            harness.publish(*[TaskEvent.log(f"line {i}") for i in range(100)])
            last = conn.receive_json()
            with pytest.raises(WebSocketDisconnect) as closed:
                conn.receive_text()
        assert last["type"] == "error" and "reconnect" in last["message"]
        assert closed.value.code == CLOSE_OVERLOADED
        assert harness.run(hub.subscriber_count, TASK) == 0
        # the publisher was not hurt: a new watcher gets the history as usual
        with client.websocket_connect(f"/ws/tasks/{TASK}") as again:
            skip_stored_status(again)
            assert again.receive_json()["message"] == "line 0"


def test_ws_forgotten_task_closes_normally(ws: Harness) -> None:
    with ws.client.websocket_connect(f"/ws/tasks/{TASK}") as conn:
        ws.wait_subscribers(1)
        skip_stored_status(conn)
        ws.publish(TaskEvent.log("one"))
        ws.run(ws.hub.forget, TASK)
        assert conn.receive_json()["message"] == "one"
        with pytest.raises(WebSocketDisconnect) as closed:
            conn.receive_text()
    assert closed.value.code == 1000


def test_ws_hub_closing_closes_with_1001(ws: Harness) -> None:
    with ws.client.websocket_connect(f"/ws/tasks/{TASK}") as conn:
        ws.wait_subscribers(1)
        skip_stored_status(conn)
        ws.run(ws.hub.close)
        with pytest.raises(WebSocketDisconnect) as closed:
            conn.receive_text()
    assert closed.value.code == 1001


def test_ws_unknown_task_is_refused_with_4404(ws: Harness) -> None:
    with ws.client.websocket_connect("/ws/tasks/nope") as conn:
        doc = conn.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            conn.receive_text()
    assert doc["type"] == "error" and "nope" in doc["message"]
    assert closed.value.code == CLOSE_UNKNOWN_TASK
    assert ws.run(ws.hub.snapshot, "nope") == []
    assert "nope" not in ws.hub._topics
