"""``ferry push``: a bundle's files into registries a team already runs.

1. The bundle is read and checked whole, as an import checks it
   (:mod:`ferry.registry.verified`): a tampered, truncated or lying bundle sends nothing.
2. For each target, per project (Python) or package (npm): what the registry holds is read
   first; a file it holds with the same bytes is ``held``, with other bytes a
   ``conflict`` (never overwritten); the rest is uploaded. A refused upload that says the
   file exists (a race, or a retry of an upload that did arrive) is read back and judged
   the same way.
3. Every file is read back after its upload: ``pushed`` means the registry lists it with
   our sha256 (Python) or integrity (npm). A delta bundle's files marked present must be
   listed too, or they are ``missing``.

Projects go in parallel (``jobs``); one npm package's versions go one after another, lowest
first, so that ``latest`` ends on the highest release as npm would have it. A version
below the registry's latest is published under the dist-tag ``ferry-push`` instead of
``latest`` (a publish must name some tag), so pushing old releases never moves what
``npm install name`` gets.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from ferry.push.npm import NpmRegistry, Published
from ferry.push.pypi import Answer, PypiRepository, says_exists
from ferry.push.targets import PushTarget
from ferry.registry.inspect import Inspected
from ferry.registry.verified import BundleFile, VerifiedBundle, inspect_file, verify_bundle
from ferry.registry.versions import latest, semver_key

__all__ = ["OTHER_TAG", "Outcome", "PushReport", "push_bundle"]

Status = Literal["pushed", "held", "conflict", "failed", "missing", "would-push"]
# a file against what a registry holds: held (same bytes) or conflict, and why
Verdict = tuple[Status, str | None]
Progress = Callable[[str, int, int | None], None]
OTHER_TAG = "ferry-push"
_RETRIED_STATUS = frozenset({429, 502, 503, 504})
T = TypeVar("T")


@dataclass
class Outcome:
    target: str
    ecosystem: str
    filename: str
    size: int
    status: Status
    detail: str | None = None


@dataclass
class PushReport:
    bundle: str
    targets: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    unpushed: dict[str, int] = field(default_factory=dict)  # ecosystem → files no --to took

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return all(o.status in ("pushed", "held", "would-push") for o in self.outcomes)

    def as_dict(self) -> dict[str, object]:
        return {
            "bundle": self.bundle,
            "targets": self.targets,
            "seconds": round(self.seconds, 3),
            "counts": {
                s: self.count(s)
                for s in ("pushed", "held", "conflict", "failed", "missing", "would-push")
            },
            "bytes_pushed": sum(o.size for o in self.outcomes if o.status == "pushed"),
            "unpushed": self.unpushed,
            "files": [asdict(o) for o in self.outcomes],
        }


class _Retry(Exception):
    """An answer worth asking again (the registry was busy or behind a failing proxy)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.text)
        self.answer = answer


async def push_bundle(
    path: Path,
    targets: list[PushTarget],
    *,
    client: httpx.AsyncClient,
    pypi_auth: Callable[[PushTarget], tuple[str, str] | None],
    npm_auth: Callable[[PushTarget], str | None],
    work_dir: Path | None = None,
    max_bytes: int,
    jobs: int = 4,
    dry_run: bool = False,
    progress: Progress | None = None,
    attempts: int = 3,
) -> PushReport:
    """Push the bundle at ``path`` to ``targets``; see the module docstring. Raises
    :class:`~ferry.registry.errors.ImportRejected` for a bundle that does not hold, and
    :class:`~ferry.errors.FetchError` when a registry refuses the credentials."""
    report_progress = progress or (lambda _phase, _done, _total: None)
    began = time.monotonic()
    size = (await asyncio.to_thread(path.stat)).st_size
    spool = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "ferry-push-", work_dir))
    try:
        verified = await asyncio.to_thread(
            verify_bundle, path, spool, max_bytes, lambda n: report_progress("checking", n, size)
        )
        inspected = await _inspect_all(verified)
        report = PushReport(verified.name, [t.describe() for t in targets])
        taken = {t.ecosystem for t in targets}
        for ecosystem in ("pypi", "npm"):
            left = [f for f in verified.shipped if f.ecosystem == ecosystem]
            if left and ecosystem not in taken:
                report.unpushed[ecosystem] = len(left)
        total = sum(
            1
            for t in targets
            for f in verified.shipped + verified.present
            if f.ecosystem == t.ecosystem
        )
        run = _Run(report, jobs, attempts, dry_run, total, report_progress)
        for target in targets:
            if target.ecosystem == "pypi":
                await run.pypi(
                    PypiRepository(client, target, pypi_auth(target)), verified, inspected
                )
            else:
                await run.npm(NpmRegistry(client, target, npm_auth(target)), verified, inspected)
    finally:
        await asyncio.to_thread(shutil.rmtree, spool, True)
    report.seconds = time.monotonic() - began
    return report


async def _inspect_all(verified: VerifiedBundle) -> dict[str, Inspected]:
    """Every shipped file checked to be what the manifest says, before any is sent."""
    found: dict[str, Inspected] = {}
    for file in verified.of("pypi", "npm"):  # models travel by import, not by push
        found[file.filename] = await asyncio.to_thread(inspect_file, verified.name, file)
    return found


class _Run:
    def __init__(
        self,
        report: PushReport,
        jobs: int,
        attempts: int,
        dry_run: bool,
        total: int,
        progress: Progress,
    ) -> None:
        self.report = report
        self.slots = asyncio.Semaphore(max(1, jobs))
        self.attempts = attempts
        self.dry_run = dry_run
        self.total = total
        self.progress = progress

    def record(
        self, target: PushTarget, file: BundleFile, status: Status, detail: str | None = None
    ) -> None:
        self.report.outcomes.append(
            Outcome(target.describe(), file.ecosystem, file.filename, file.size, status, detail)
        )
        self.progress("pushing", len(self.report.outcomes), self.total)

    async def _read_back(
        self,
        target: PushTarget,
        sent: list[BundleFile],
        listing: Callable[[], Awaitable[T]],
        judged: Callable[[T, BundleFile], Verdict | None],
        *,
        missing: str,
    ) -> None:
        """After sending ``sent``: read the registry's listing again and judge each file by
        it (None: not listed, which is a failure, whatever the upload answered)."""
        if not sent:
            return
        try:
            after = await self.retried(listing)
        except httpx.TransportError as exc:
            for file in sent:
                self.record(target, file, "failed", f"could not read it back: {exc!r}")
            return
        for file in sent:
            verdict = judged(after, file)
            if verdict is None:
                self.record(target, file, "failed", missing)
            else:
                status, detail = verdict
                self.record(target, file, "pushed" if status == "held" else status, detail)

    async def retried(self, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.5, max=8),
            retry=retry_if_exception_type((httpx.TransportError, _Retry)),
            reraise=True,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True

    async def answered(self, call: Callable[[], Awaitable[Answer]]) -> Answer:
        async def once() -> Answer:
            answer = await call()
            if answer.status in _RETRIED_STATUS:
                raise _Retry(answer)
            return answer

        try:
            return await self.retried(once)
        except _Retry as exc:
            return exc.answer

    # -- Python

    async def pypi(
        self, repo: PypiRepository, verified: VerifiedBundle, inspected: dict[str, Inspected]
    ) -> None:
        projects: dict[str, list[BundleFile]] = defaultdict(list)
        for file in verified.shipped + verified.present:
            if file.ecosystem == "pypi":
                project = (
                    inspected[file.filename].name
                    if file.filename in inspected
                    else _project_of(file)
                )
                projects[project].append(file)

        async def one(project: str, files: list[BundleFile]) -> None:
            async with self.slots:
                await self._pypi_project(repo, project, files, inspected)

        await _all(one(p, fs) for p, fs in projects.items())

    async def _pypi_project(
        self,
        repo: PypiRepository,
        project: str,
        files: list[BundleFile],
        inspected: dict[str, Inspected],
    ) -> None:
        target = repo.target
        try:
            held = await self.retried(lambda: repo.listing(project))
        except httpx.TransportError as exc:
            for file in files:
                self.record(target, file, "failed", f"reading {project}'s page: {exc!r}")
            return
        sent: list[BundleFile] = []
        for file in files:
            if file.filename in held:
                self.record(target, file, *_judge_sha256(held[file.filename], file))
            elif file.spooled is None:
                self.record(
                    target, file, "missing", "the bundle was made for a registry holding it"
                )
            elif self.dry_run:
                self.record(target, file, "would-push")
            else:
                status, detail = await self._upload(repo, file, inspected[file.filename])
                if status == "pushed":
                    sent.append(file)
                else:
                    self.record(target, file, status, detail)

        def judged(after: dict[str, str | None], file: BundleFile) -> Verdict | None:
            return _judge_sha256(after[file.filename], file) if file.filename in after else None

        await self._read_back(
            target,
            sent,
            lambda: repo.listing(project),
            judged,
            missing="uploaded, but the index does not list it",
        )

    async def _upload(
        self, repo: PypiRepository, file: BundleFile, inspected: Inspected
    ) -> tuple[Status, str | None]:
        assert file.spooled is not None
        spooled, metadata = file.spooled, inspected.metadata  # None for an sdist: PKG-INFO
        try:
            answer = await self.answered(lambda: repo.upload(spooled, file.filename, metadata))
        except httpx.TransportError as exc:
            return "failed", f"upload: {exc!r}"
        if answer.status in (200, 201):
            return "pushed", None
        if says_exists(answer.text, answer.status):
            return "pushed", None  # read back with the rest: held bytes are judged there
        return "failed", f"HTTP {answer.status}: {answer.text}"

    # -- npm

    async def npm(
        self, registry: NpmRegistry, verified: VerifiedBundle, inspected: dict[str, Inspected]
    ) -> None:
        packages: dict[str, list[BundleFile]] = defaultdict(list)
        for file in verified.shipped + verified.present:
            if file.ecosystem == "npm" and file.package is not None:
                packages[file.package].append(file)

        async def one(name: str, files: list[BundleFile]) -> None:
            async with self.slots:
                await self._npm_package(registry, name, files, inspected)

        await _all(one(n, fs) for n, fs in packages.items())

    async def _npm_package(
        self,
        registry: NpmRegistry,
        name: str,
        files: list[BundleFile],
        inspected: dict[str, Inspected],
    ) -> None:
        target = registry.target
        try:
            held = await self.retried(lambda: registry.published(name))
        except httpx.TransportError as exc:
            for file in files:
                self.record(target, file, "failed", f"reading {name}'s packument: {exc!r}")
            return
        ours = [f.version for f in files if f.version is not None]
        highest = latest("npm", [*held.versions, *ours])
        sent: list[BundleFile] = []
        for file in sorted(files, key=lambda f: semver_key(f.version or "")):
            version = file.version or ""
            if version in held.versions:
                self.record(target, file, *_judge_npm(held.versions[version], file))
            elif file.spooled is None:
                self.record(
                    target, file, "missing", "the bundle was made for a registry holding it"
                )
            elif self.dry_run:
                self.record(target, file, "would-push")
            else:
                manifest = inspected[file.filename].manifest or {}
                tag = "latest" if version == highest else OTHER_TAG
                status, detail = await self._publish(registry, file, manifest, tag)
                if status == "pushed":
                    sent.append(file)
                else:
                    self.record(target, file, status, detail)

        def judged(after: Published, file: BundleFile) -> Verdict | None:
            dist = after.versions.get(file.version or "")
            return None if dist is None else _judge_npm(dist, file)

        await self._read_back(
            target,
            sent,
            lambda: registry.published(name),
            judged,
            missing="published, but the packument does not list it",
        )

    async def _publish(
        self, registry: NpmRegistry, file: BundleFile, manifest: dict[str, object], tag: str
    ) -> tuple[Status, str | None]:
        assert file.spooled is not None and file.integrity is not None and file.sha1 is not None
        spooled, integrity, shasum = file.spooled, file.integrity, file.sha1
        try:
            answer = await self.answered(
                lambda: registry.publish(
                    spooled,
                    dict(manifest),
                    tag=tag,
                    integrity=integrity,
                    shasum=shasum,
                    size=file.size,
                )
            )
        except httpx.TransportError as exc:
            return "failed", f"publish: {exc!r}"
        if answer.status in (200, 201) or says_exists(answer.text, answer.status):
            return "pushed", None
        return "failed", f"HTTP {answer.status}: {answer.text}"


def _project_of(file: BundleFile) -> str:
    """A delta bundle's absent Python file: its project, from its name."""
    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    try:
        if file.filename.endswith(".whl"):
            return str(parse_wheel_filename(file.filename)[0])
        return str(parse_sdist_filename(file.filename)[0])
    except ValueError:
        return file.filename


def _judge_sha256(listed: str | None, file: BundleFile) -> Verdict:
    if listed is None:
        return "held", "the index gives no sha256 to compare"
    if listed.lower() == file.sha256:
        return "held", None
    return "conflict", f"held with other bytes (sha256 {listed})"


def _judge_npm(dist: tuple[str | None, str | None], file: BundleFile) -> Verdict:
    """A held version against ours: by sha512 integrity (the lock's, for a file a delta
    bundle left out), else by sha1 shasum."""
    integrity, shasum = dist
    recorded = file.record.get("integrity")
    ours = file.integrity or (recorded if isinstance(recorded, str) else None)
    if integrity is not None and ours is not None and integrity.startswith("sha512-"):
        if integrity == ours:
            return "held", None
        return "conflict", f"held with other bytes (integrity {integrity})"
    if shasum is not None and file.sha1 is not None:
        if shasum == file.sha1:
            return "held", None
        return "conflict", f"held with other bytes (shasum {shasum})"
    return "held", "the registry gives no digest to compare"


async def _all(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
