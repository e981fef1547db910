"""Runs bundle tasks: the same services the CLI calls, driven by status transitions.

Every status change goes through the repository, which records it with its reason and
refuses a transition the state machine does not allow (a 409 at the API). At most
``max_concurrent_tasks`` tasks work at once; the others wait, in the order they came.

A task's work is two steps, ``analyse`` and ``download``. By default they run in this
process. With ``jobs`` (the ``task_queue`` setting) they are sent to the queue instead, and
``ferry worker`` processes run them with :meth:`TaskManager.run_step`: the same code, under
a lease that keeps each task on one worker and the concurrency limit across all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import shutil
import time
import uuid
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from ferry.db.repository import TaskNotFound, TaskRecord, TaskRepository, is_task_id
from ferry.db.threads import DbThreads
from ferry.ecosystems.pypi.options import PythonOptions
from ferry.errors import (
    ExitCode,
    FerryError,
    Hint,
    ManifestError,
    QueueUnavailable,
    UsageError,
)
from ferry.fetch.control import Batch, batch_scope
from ferry.fetch.shared import bucket_scope
from ferry.jobs import Jobs
from ferry.jobs.leases import LeaseLost
from ferry.manifests import split_manifests
from ferry.manifests.project_name import declared_name
from ferry.services.bundle import BundlePlan, bundle
from ferry.services.confinement import Confinement, ServiceBox
from ferry.services.python_bundle import ResolutionFailed
from ferry.services.resolve import Resolved, resolve_all
from ferry.settings import Settings
from ferry.stages import Stage, Stages
from ferry.states import TaskStatus, allowed_from
from ferry.store.blob import BlobKey, BlobStore
from ferry.store.kept import KeptStore
from ferry.targets import (
    NodeTarget,
    PythonTarget,
    host_node_target,
    host_target,
    parse_targets,
)
from ferry.tasks.events import EventHub, HubProgress, TaskEvent
from ferry.tasks.metrics import Metrics
from ferry.tasks.options import TaskOptions
from ferry.tasks.progress import TaskProgress, planned
from ferry.tasks.summary import package_count
from ferry.tasks.uploads import Upload, store, validate
from ferry.texts import Params, error_text, event_text

_T = TypeVar("_T")
log = logging.getLogger(__name__)
_SUFFIX = {"zip": ".zip", "tar.gz": ".tar.gz", "tar.zst": ".tar.zst"}
# seconds between a worker's saves of a download's counts
_PROGRESS_EVERY = 2.0


class TaskNotResolved(FerryError):
    code = "task-not-resolved"
    exit_code = ExitCode.USAGE
    http_status = 409


class TaskNotCompleted(FerryError):
    code = "task-not-completed"
    exit_code = ExitCode.USAGE
    http_status = 409


def error_document(exc: FerryError, uploads: Path) -> dict[str, Any]:
    """An error as the task keeps it: the files named as uploaded, never by the server's path."""
    doc = exc.to_dict()
    if isinstance(exc, ManifestError):
        # the uploaded name, not the server's path to it
        try:
            doc["file"] = str(exc.path.relative_to(uploads))
        except ValueError:
            doc["file"] = exc.path.name
        doc["message"] = str(doc["message"]).replace(str(uploads) + "/", "")
    # the parameters name the same files as the message does
    params = {k: v.replace(str(uploads) + "/", "") for k, v in exc.params.items()}
    if isinstance(exc, ManifestError):
        params["file"] = str(doc["file"])
    doc["params"] = params
    if isinstance(exc.hint, Hint):
        # so do the hint's
        doc["hint"] = str(doc["hint"]).replace(str(uploads) + "/", "")
        doc["hint_params"] = {
            k: v.replace(str(uploads) + "/", "") for k, v in exc.hint.params.items()
        }
    if isinstance(exc, ResolutionFailed):
        problems = []
        if exc.outcome is not None:
            problems += [p.to_dict() for p in exc.outcome.resolution.all_problems]
        if exc.npm is not None:
            problems += [p.to_dict() for p in exc.npm.problems]
        doc["problems"] = problems
    return doc


class TaskManager:
    def __init__(
        self,
        settings: Settings,
        repo: TaskRepository,
        metrics: Metrics | None = None,
        hub: EventHub | None = None,
        link_key: bytes | None = None,
        box: ServiceBox | None = None,
        db: DbThreads | None = None,
        kept: KeptStore | None = None,
        jobs: Jobs | None = None,
        shared_bucket: BlobStore | None = None,
    ) -> None:
        self.settings = settings
        # the shared tier of the fetched files' cache, opened once for every task's work
        self.shared_bucket = shared_bucket
        # None: every step runs in this process
        self.jobs = jobs
        # where finished archives are kept (None: in their task's directory; tests only)
        self.kept = kept
        # what every task's work is confined to (None: trusted, as the CLI; tests only)
        self.box = box
        self.db = db or DbThreads()
        # signs the archive links handed out with this manager's tasks (ferry.auth.links)
        self.link_key = link_key or secrets.token_bytes(32)
        self.repo = repo
        self.metrics = metrics or Metrics()
        self.hub = hub or EventHub()
        # on a worker the leases keep the limit, across every worker
        self._slots: AbstractAsyncContextManager[Any] = (
            nullcontext()
            if jobs is not None and jobs.leases is not None
            else asyncio.Semaphore(settings.max_concurrent_tasks)
        )
        self._running: dict[str, asyncio.Task[None]] = {}
        self.progress: dict[str, TaskProgress] = {}

    # paths

    def task_dir(self, task_id: str) -> Path:
        # The id becomes a directory name, and deleting a task removes that directory:
        # only an id Ferry could have made may ever get here (`..` once removed the
        # whole data directory).
        if not is_task_id(task_id):
            raise TaskNotFound(task_id[:64])
        return self.settings.tasks_dir / task_id

    def uploads_dir(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "uploads"

    def confinement(self, task_id: str) -> Confinement | None:
        return self.box.for_task(self.uploads_dir(task_id)) if self.box is not None else None

    # use cases

    async def create(
        self,
        uploads: list[Upload],
        options: TaskOptions,
        *,
        owner: str | None = None,
        token_id: str | None = None,
    ) -> TaskRecord:
        validate(uploads, self.settings.upload_max_bytes)
        task_id = uuid.uuid4().hex
        expires = datetime.now(UTC) + timedelta(seconds=self.settings.task_expiry)
        try:
            await asyncio.to_thread(store, self.uploads_dir(task_id), uploads)
            record = await self.db.write(
                functools.partial(
                    self.repo.create,
                    task_id,
                    options.model_dump(),
                    [u.name for u in uploads],
                    expires_at=expires,
                    owner=owner,
                    token_id=token_id,
                    uploads=[(u.name, u.data) for u in uploads],
                )
            )
        except BaseException:
            # no record, no files: a refused or failed upload leaves nothing behind
            await asyncio.to_thread(shutil.rmtree, self.task_dir(task_id), True)
            raise
        self.metrics.tasks_created.inc()
        self.hub.publish(task_id, TaskEvent.status_changed("created"))
        try:
            await self._dispatch(task_id, "analyse")
        except QueueUnavailable:
            # nothing queued: nothing kept, and the client is told to try again
            await self.delete(task_id)
            raise
        return record

    async def start_download(self, task_id: str) -> TaskRecord:
        record = await self._get(task_id)
        if record.dependencies is None or record.status not in ("resolved", "failed"):
            # a failed task without a tree failed while analysing: there is nothing to fetch
            from ferry.db.repository import InvalidTransition

            raise InvalidTransition(task_id, record.status, str(TaskStatus.DOWNLOADING))
        record = await self._transition(task_id, TaskStatus.DOWNLOADING, "download-requested")
        await self._dispatch_or_fail(task_id, "download")
        return record

    async def pause(self, task_id: str) -> TaskRecord:
        """Stop downloading; every file verified so far stays in the store."""
        record = await self._transition(task_id, TaskStatus.PAUSED, "paused-by-user")
        await self._stop(task_id)
        return record

    async def resume(self, task_id: str) -> TaskRecord:
        record = await self._get(task_id)
        if record.status != TaskStatus.PAUSED:
            from ferry.db.repository import InvalidTransition

            raise InvalidTransition(task_id, record.status, str(TaskStatus.DOWNLOADING))
        record = await self._transition(task_id, TaskStatus.DOWNLOADING, "resumed-by-user")
        await self._dispatch_or_fail(task_id, "download")
        return record

    async def retry(self, task_id: str) -> TaskRecord:
        """Download again after a failure: what was fetched and verified is kept, so only
        the files that failed are requested."""
        record = await self._get(task_id)
        if record.status != TaskStatus.FAILED or record.dependencies is None:
            from ferry.db.repository import InvalidTransition

            raise InvalidTransition(task_id, record.status, str(TaskStatus.DOWNLOADING))
        await self.db.write(self.repo.update, task_id, error=None)
        record = await self._transition(task_id, TaskStatus.DOWNLOADING, "retry-requested")
        self.progress.pop(task_id, None)
        await self._dispatch_or_fail(task_id, "download")
        return record

    async def recover(self) -> int:
        """At start-up: tasks a killed server left mid-way go on where they stopped (the
        store holds every file already verified). With workers there is nothing to do: the
        queue kept their steps, and a step a dead worker held goes back to it."""
        if self.jobs is not None:
            return 0
        unfinished = await self.db(self.repo.unfinished)
        for record in unfinished:
            if record.status in (TaskStatus.CREATED, TaskStatus.RESOLVING):
                await self._dispatch(record.id, "analyse")
            else:
                if record.status == TaskStatus.PACKING:
                    # packing restarts from the download step, which finds every file stored
                    await self._restart_packing(record.id)
                await self._dispatch(record.id, "download")
        return len(unfinished)

    async def resend_stuck(self, quiet: float) -> int:
        """An API replica's, with workers: send again the step of each task waiting or at
        work that no worker holds and whose row has not changed for ``quiet`` seconds: its
        message was lost (a Redis restarted without its data). A step that was not lost
        after all arrives twice, which is harmless: the lease and the status decide."""
        if self.jobs is None or self.jobs.leases is not None:
            return 0
        before = datetime.now(UTC) - timedelta(seconds=quiet)
        stuck = await self.db(self.repo.stuck, before)
        for task_id, status in stuck:
            step = "analyse" if status in (TaskStatus.CREATED, TaskStatus.RESOLVING) else "download"
            try:
                await self.jobs.send(task_id, step)
            except QueueUnavailable as exc:  # the next sweep tries again
                log.warning("the queue took no step back: %s", exc.message)
                return 0
        if stuck:
            log.info("sent again the steps of %d tasks no worker holds", len(stuck))
        return len(stuck)

    async def _restart_packing(self, task_id: str) -> None:
        await self.db.write(
            self.repo.transition,
            task_id,
            str(TaskStatus.FAILED),
            "server restarted while packing",
            allowed_from={"packing"},
        )
        await self._transition(task_id, TaskStatus.DOWNLOADING, "restarted-packing")

    async def clean_expired(self) -> int:
        now = datetime.now(UTC)
        expired = await self.db(self.repo.expired, now)
        for task_id in expired:
            await self.delete(task_id)
        return len(expired)

    async def cancel(self, task_id: str) -> TaskRecord:
        record = await self._transition(task_id, TaskStatus.CANCELLED, "cancelled-by-user")
        await self._stop(task_id)
        return record

    async def _stop(self, task_id: str) -> None:
        if self.jobs is not None:
            self.jobs.stop(task_id)
        await self.stop_here(task_id)

    async def stop_here(self, task_id: str) -> None:
        """Stop the task's step if this process runs it."""
        running = self._running.pop(task_id, None)
        if running is not None:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    async def get(self, task_id: str) -> TaskRecord:
        return await self._get(task_id)

    async def _get(self, task_id: str) -> TaskRecord:
        record = await self.db(self.repo.get, task_id)
        if record is None:
            raise TaskNotFound(task_id)
        return record

    async def delete(self, task_id: str) -> bool:
        if self.jobs is not None:
            self.jobs.stop(task_id)
        running = self._running.pop(task_id, None)
        if running is not None:
            running.cancel()
            # Its files go next: wait until it has stopped writing them.
            await asyncio.gather(running, return_exceptions=True)
        # Files first, then the record: once the API says 404 nothing of the task is left,
        # and a crash in between leaves a record the next sweep removes, never files that
        # no record points to.
        await asyncio.to_thread(shutil.rmtree, self.task_dir(task_id), True)
        record = await self.db(self.repo.get, task_id)
        removed = await self.db.write(self.repo.delete, task_id)
        if record is not None and record.archive_key and self.kept is not None:
            # after the row: a crash in between leaves bytes the collector takes
            await self.kept.release(BlobKey.parse(record.archive_key))
        self.progress.pop(task_id, None)
        self.hub.forget(task_id)
        return bool(removed)

    async def _keep_archive(self, out: Path, sha256: str) -> str | None:
        """Move the finished archive into the kept store (on S3 it is then served by every
        replica); its key, or None when there is no kept store."""
        if self.kept is None:
            return None
        key = BlobKey.sha256(sha256)
        # under the key's lock, like a package upload: the collector must not take the
        # blob between its commit and the row that names it
        async with self.kept.locks.hold(key):
            await self.kept.blobs.move_file(out, key)
            return str(key)

    async def close(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.db.close()

    # work

    async def _dispatch(self, task_id: str, step: str) -> None:
        if self.jobs is not None:
            await self.jobs.send(task_id, step)
        else:
            self._start(task_id, await self._step(task_id, step))

    async def _dispatch_or_fail(self, task_id: str, step: str) -> None:
        """Dispatch a step of a task already moved on; a queue that does not take it fails
        the task (a retry sends it again), rather than leave it waiting for nothing."""
        try:
            await self._dispatch(task_id, step)
        except QueueUnavailable as exc:
            await self._fail(task_id, exc)
            raise

    async def _step(self, task_id: str, step: str) -> Coroutine[Any, Any, None]:
        record = await self._get(task_id)
        options = TaskOptions.model_validate(record.options)
        if step == "analyse":
            return self._analyse(task_id, options, resumed=record.status == TaskStatus.RESOLVING)
        return self._download(task_id, options)

    async def run_step(self, task_id: str, step: str) -> str:
        """A worker's: run one step of a task sent by any replica, holding the task's
        lease. What happened: ``done``; ``stale`` (the task is past this step: a message
        delivered twice, or the task paused or cancelled meanwhile); ``gone`` (deleted);
        ``stopped`` (paused, cancelled or deleted while running); ``lost`` (another worker
        took the task after this one's lease expired)."""
        assert self.jobs is not None and self.jobs.leases is not None
        if not is_task_id(task_id):
            return "gone"
        try:
            async with self.jobs.leases.hold(task_id):
                return await self._run_held(task_id, step)
        except LeaseLost:
            return "lost"

    async def _run_held(self, task_id: str, step: str) -> str:
        record = await self.db(self.repo.get, task_id, with_dependencies=False)
        if record is None:
            return "gone"
        if step == "download" and record.status == TaskStatus.PACKING:
            # the worker that was packing died: packing starts again from the download
            # step, which finds every file in the store
            await self._restart_packing(task_id)
        elif record.status not in _STEP_STATUSES[step]:
            return "stale"
        await self._materialise_uploads(task_id)
        self.metrics.tasks_running.inc()
        work = asyncio.create_task(self._guarded(task_id, await self._step(task_id, step)))
        self._running[task_id] = work
        try:
            await asyncio.wait({work})
        except asyncio.CancelledError:
            # the lease was lost or the worker is stopping: the step itself stops
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise
        finally:
            self.metrics.tasks_running.dec()
            if self._running.get(task_id) is work:
                del self._running[task_id]
            self.hub.release(task_id)
            self.progress.pop(task_id, None)
            # nothing of a task stays on a worker: its uploads are in the database, its
            # archive in the kept store, its files in the cache (a next step starts again)
            await asyncio.to_thread(shutil.rmtree, self.task_dir(task_id), True)
        return "stopped" if work.cancelled() else "done"

    async def _materialise_uploads(self, task_id: str) -> None:
        """The uploads as files in this machine's task directory (from the database, where
        the replica that took them kept them)."""
        directory = self.uploads_dir(task_id)
        if directory.is_dir() and any(directory.iterdir()):
            return
        files = await self.db(self.repo.uploads, task_id)
        await asyncio.to_thread(store, directory, [Upload(n, d) for n, d in files])

    def _start(self, task_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(task_id, work), name=f"ferry-task-{task_id}")
        self._running[task_id] = task
        self.metrics.tasks_running.inc()

        def done(_t: asyncio.Task[None]) -> None:
            self.metrics.tasks_running.dec()
            if self._running.get(task_id) is task:
                del self._running[task_id]

        task.add_done_callback(done)

    async def _guarded(self, task_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run a task's work so that it can never end and leave the task resolving,
        downloading or packing with nobody working on it: whatever escapes (a bug, a
        library's own exception) fails the task with a reason and a log line.
        Cancellation is not a failure: pause, cancel and delete change the status
        themselves, and a shutdown leaves the task for ``recover`` at the next start."""
        try:
            with bucket_scope(self.shared_bucket):
                await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s failed unexpectedly", task_id)
            with contextlib.suppress(Exception):
                await self._fail(
                    task_id,
                    FerryError(
                        params={},
                        hint=Hint("task-retry"),
                    ),
                )

    async def _transition(
        self,
        task_id: str,
        to: TaskStatus,
        code: str,
        *,
        reason: str | None = None,
        params: Params | None = None,
    ) -> TaskRecord:
        """``code`` says why (one of ferry.texts' EVENTS); a failure gives its error's
        code and params, and the ``reason`` written out."""
        params = params or {}
        if reason is None:
            reason = event_text(code, params)
        record = await self.db.write(
            self.repo.transition, task_id, str(to), reason, allowed_from=allowed_from(to)
        )
        self.metrics.transitions.labels(to=str(to)).inc()
        event = TaskEvent.status_changed(str(to), reason, code=code, params=params)
        self.hub.publish(task_id, event)
        return record

    def _targets(
        self, options: TaskOptions, manifests: list[Path]
    ) -> tuple[list[PythonTarget], NodeTarget | None]:
        python_files, npm_files = split_manifests(manifests)
        pythons: list[PythonTarget] = []
        if python_files and options.pypi:
            host = host_target()
            pythons = parse_targets(
                options.pythons or [host.python_version], options.platforms or [host.platform]
            )
        node: NodeTarget | None = None
        if npm_files and options.npm:
            host_node = host_node_target()
            os_name = options.os or host_node.os
            node = NodeTarget.parse(
                options.node_version or host_node.node,
                os_name,
                options.cpu or host_node.cpu,
                options.libc or (host_node.libc if os_name == "linux" else None),
            )
        return pythons, node

    def _manifests(self, task_id: str, options: TaskOptions) -> list[Path]:
        files = sorted(p for p in self.uploads_dir(task_id).iterdir() if p.is_file())
        python_files, npm_files = split_manifests(files)
        return (python_files if options.pypi else []) + (npm_files if options.npm else [])

    def _public(self, task_id: str, value: _T) -> _T:
        """``value`` with the server's upload directory taken out of every path in it:
        clients see `requirements.txt:3`, not where the server keeps the file."""
        prefix = str(self.uploads_dir(task_id)) + "/"
        if isinstance(value, str):
            return value.replace(prefix, "")  # type: ignore[return-value]
        text = json.dumps(value).replace(json.dumps(prefix)[1:-1], "")
        return json.loads(text)  # type: ignore[no-any-return]

    async def _check_disk_budget(self, task_id: str) -> None:
        """Refuse before downloading when the resolved files alone pass the task's limit."""
        record = await self._get(task_id)
        deps = record.dependencies or {}
        known = 0
        for section in deps.values():
            if isinstance(section, dict):
                known += int(section.get("total_bytes") or 0)
        if known > self.settings.task_disk_bytes:
            raise FerryError(
                params={"size": known, "limit": self.settings.task_disk_bytes},
                hint=Hint("task-disk"),
            )

    async def _fail(self, task_id: str, exc: FerryError) -> None:
        doc = error_document(exc, self.uploads_dir(task_id))
        await self.db.write(self.repo.update, task_id, error=doc)
        params = self._public(task_id, doc["params"])
        message = self._public(task_id, exc.message)
        self.hub.publish(task_id, TaskEvent.error(message, code=exc.code, params=params))
        with contextlib.suppress(FerryError):  # cancelled meanwhile: that stays
            reason = self._public(task_id, f"{exc.code}: {exc.message}")
            await self._transition(
                task_id, TaskStatus.FAILED, exc.code, reason=reason, params=params
            )

    def _settings_for(self, options: TaskOptions) -> Settings:
        """The service's settings with the task's profile in force (only a configured one:
        checked when the task was created, and again here for a task from before a
        restart with other settings)."""
        settings = self.settings.with_registry(options.registry)
        if options.ignore_manifest_indexes:
            settings = settings.model_copy(update={"ignore_manifest_indexes": True})
        return settings

    def _python_options(self, options: TaskOptions) -> PythonOptions:
        """A task's choices; a PyTorch backend only from the operator's own index: uv's
        built-in one is a host the operator did not name."""
        if options.torch_backend and not self.settings.torch_index:
            raise UsageError(
                params={},
                hint=Hint("torch-index"),
            )
        return options.python_options

    async def _analyse(self, task_id: str, options: TaskOptions, *, resumed: bool = False) -> None:
        async with self._slots:
            try:
                if not resumed:
                    await self._transition(task_id, TaskStatus.RESOLVING, "analysis-started")
                manifests = await asyncio.to_thread(self._manifests, task_id, options)
                # stored now, not at every listing; and shown while it resolves, and after
                # a failure, too: whatever the analysis finds, the files name the project
                name = await asyncio.to_thread(declared_name, manifests)
                await self.db.write(self.repo.update, task_id, project_name=name)
                pythons, node = self._targets(options, manifests)
                resolved: Resolved = await asyncio.wait_for(
                    resolve_all(
                        self._settings_for(options),
                        manifests,
                        pythons,
                        node,
                        options.selection,
                        all_platforms=options.all_platforms,
                        confinement=self.confinement(task_id),
                        python_options=self._python_options(options),
                        stages=self._analysis_events(task_id),
                    ),
                    timeout=self.settings.task_timeout,
                )
                tree = self._public(task_id, resolved.to_dict())
                await self.db.write(
                    self.repo.update,
                    task_id,
                    dependencies=tree,
                    package_count=package_count(tree),
                )
                if resolved.has_errors:
                    await self.db.write(
                        self.repo.update,
                        task_id,
                        error={
                            "code": "resolution-failed",
                            "message": error_text("resolution-failed", {}),
                            "params": {},
                            "problems": [
                                p for eco in resolved.to_dict().values() for p in _problems(eco)
                            ],
                        },
                    )
                    await self._transition(task_id, TaskStatus.FAILED, "resolution-has-errors")
                    return
                await self._transition(task_id, TaskStatus.RESOLVED, "analysis-finished")
            except FerryError as exc:
                await self._fail(task_id, exc)
                return
            except TimeoutError:
                await self._fail(task_id, _time_limit())
                return
        if options.auto_download:
            await self.start_download(task_id)

    def _analysis_events(self, task_id: str) -> Stages:
        """Where the analysis is, per ecosystem, as ``analysis`` events for watchers."""

        def report(
            ecosystem: str, stage: Stage, current: int | None = None, total: int | None = None
        ) -> None:
            self.hub.publish(
                task_id,
                TaskEvent(
                    type="analysis", ecosystem=ecosystem, phase=stage, current=current, total=total
                ),
            )

        return report

    async def _download(self, task_id: str, options: TaskOptions) -> None:
        progress = self.progress.setdefault(task_id, TaskProgress())
        # live events for WebSocket subscribers, forwarding to the in-memory counts
        listener = HubProgress(self.hub, task_id, inner=progress)
        # every ecosystem's row from the start, with the analysis's totals
        listener.plan(planned((await self._get(task_id)).dependencies))

        # on a worker, the counts reach the row now and then: a replica answering
        # GET /api/tasks/{id} has no live counts of its own
        keeper = (
            asyncio.create_task(self._keep_progress(task_id, progress))
            if self.jobs is not None
            else None
        )
        try:
            await self._download_held(task_id, options, progress, listener)
        finally:
            if keeper is not None:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)

    async def _keep_progress(self, task_id: str, progress: TaskProgress) -> None:
        while True:
            await asyncio.sleep(_PROGRESS_EVERY)
            try:
                await self.db.write(self.repo.update, task_id, progress=progress.state)
            except Exception:  # the next one will do; the row is not the task's record
                log.exception("saving the progress of task %s failed", task_id)

    async def _download_held(
        self, task_id: str, options: TaskOptions, progress: TaskProgress, listener: HubProgress
    ) -> None:
        async with self._slots:
            try:
                manifests = await asyncio.to_thread(self._manifests, task_id, options)
                pythons, node = self._targets(options, manifests)
                plan = BundlePlan(
                    manifests,
                    python_targets=pythons,
                    node_target=node,
                    selection=options.selection,
                    all_platforms=options.all_platforms,
                    python_options=self._python_options(options),
                )
                await self._check_disk_budget(task_id)
                out = self.task_dir(task_id) / f"bundle{_SUFFIX[options.format]}"
                started = time.perf_counter()
                # The task's downloads share its own bandwidth limit, if it has one.
                with batch_scope(Batch(rate_limit=options.limit_rate)):
                    result = await asyncio.wait_for(
                        bundle(
                            self._settings_for(options),
                            plan,
                            out,
                            options.format,
                            listener=listener,
                            phase=listener.announce,
                            confinement=self.confinement(task_id),
                        ),
                        timeout=self.settings.task_timeout,
                    )
                self.metrics.task_seconds.labels(phase="download").observe(
                    time.perf_counter() - started
                )
                self.metrics.bytes_fetched.inc(result.bytes_fetched)
                await self._transition(task_id, TaskStatus.PACKING, "files-fetched")
                if result.archive_size > self.settings.task_disk_bytes:
                    out.unlink(missing_ok=True)
                    raise FerryError(
                        params={
                            "archive_size": result.archive_size,
                            "limit": self.settings.task_disk_bytes,
                        }
                    )
                archive_key = await self._keep_archive(out, result.archive_sha256)
                deps = dict((await self._get(task_id)).dependencies or {})
                if result.npm is not None:
                    # what only the bundle learns (native addons' prebuilt binaries, or
                    # that they need compiling) joins what analysis found
                    deps["npm"] = self._public(task_id, result.npm.to_dict())
                await self.db.write(
                    self.repo.update,
                    task_id,
                    archive_path=str(out),
                    archive_key=archive_key,
                    archive_size=result.archive_size,
                    archive_sha256=result.archive_sha256,
                    progress=progress.state,
                    dependencies=deps,
                    package_count=package_count(deps),
                )
                await self._transition(task_id, TaskStatus.COMPLETED, "archive-written")
                # last: a watcher's socket closes after this event
                self.hub.publish(
                    task_id,
                    TaskEvent.complete(
                        code="archive-written", params={"size": result.archive_size}
                    ),
                )
            except FerryError as exc:
                await self.db.write(self.repo.update, task_id, progress=progress.state)
                await self._fail(task_id, exc)
            except TimeoutError:
                await self._fail(task_id, _time_limit())


# what a task's status must be for a step sent to a worker still to apply
_STEP_STATUSES = {
    "analyse": (TaskStatus.CREATED, TaskStatus.RESOLVING),
    "download": (TaskStatus.DOWNLOADING,),
}


def _time_limit() -> FerryError:
    return FerryError(params={"limit": "time"})


def _problems(section: object) -> list[object]:
    if isinstance(section, dict):
        problems = section.get("problems")
        if isinstance(problems, list):
            return [p for p in problems if isinstance(p, dict) and p.get("severity") == "error"]
    return []
