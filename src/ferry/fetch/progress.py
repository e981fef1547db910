"""How the fetch engine reports progress, and two ways of showing it.

The engine only knows :class:`ProgressListener`; the CLI picks an implementation with
:func:`make_progress` (bars on a terminal, plain lines in logs and CI), and the API server
can later plug in one that pushes events to a websocket.
"""

from __future__ import annotations

import time
from typing import IO, TYPE_CHECKING, Protocol

from ferry.errors import FerryError
from ferry.units import human_bytes

# rich's progress machinery (live display, tables, spinners) is only needed on a terminal:
# logs, pipes, the server and the benchmarks never import it.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = [
    "NullProgress",
    "PlainProgress",
    "ProgressListener",
    "RichProgress",
    "format_summary",
    "make_progress",
]


class ProgressListener(Protocol):
    """Receives fetch events, always from the event loop's thread.

    ``advance`` may be called with a negative ``nbytes`` when a retry throws away a
    partial download, so that byte totals stay true.

    ``start``'s ``total_bytes`` counts every file of the batch, those already in place
    too; a file found in place is reported by ``file_done(from_cache=True, nbytes=size)``
    instead of ``advance``, so that done and total agree without calling it fetched.
    """

    def start(self, total_files: int, total_bytes: int) -> None: ...

    def advance(self, name: str, nbytes: int) -> None: ...

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None: ...

    def file_failed(self, name: str, error: FerryError) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Listens and shows nothing; what the engine uses when given no listener."""

    def start(self, total_files: int, total_bytes: int) -> None:
        pass

    def advance(self, name: str, nbytes: int) -> None:
        pass

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        pass

    def file_failed(self, name: str, error: FerryError) -> None:
        pass

    def finish(self) -> None:
        pass


def _with_found(error: FerryError) -> str:
    """The message, and for a digest mismatch what arrived instead: the person at this
    terminal fetched it (a service task's documents never carry it)."""
    found = getattr(error, "found", None)
    return f"{error.message} (found {found})" if found else error.message


def format_summary(*, files: int, nbytes: int, from_cache: int, failed: int, seconds: float) -> str:
    return (
        f"{files} files, {human_bytes(nbytes)} fetched, {from_cache} from cache, "
        f"{failed} failed in {seconds:.1f} s"
    )


class _Tally:
    """Counts shared by both displays, so their summaries agree."""

    def __init__(self) -> None:
        self.total_files = 0
        self.done = 0
        self.cached = 0
        self.failed = 0
        self.nbytes = 0
        self.per_file: dict[str, int] = {}
        self.started = time.monotonic()

    def start(self, total_files: int) -> None:
        self.total_files = total_files
        self.started = time.monotonic()

    def advance(self, name: str, nbytes: int) -> None:
        self.nbytes += nbytes
        self.per_file[name] = self.per_file.get(name, 0) + nbytes

    def summary(self) -> str:
        return format_summary(
            files=max(self.total_files, self.done + self.cached + self.failed),
            nbytes=self.nbytes,
            from_cache=self.cached,
            failed=self.failed,
            seconds=time.monotonic() - self.started,
        )


class PlainProgress:
    """One line per finished or failed file, then a summary; for logs and pipes."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._tally = _Tally()
        self._flushed = 0.0

    def start(self, total_files: int, total_bytes: int) -> None:
        self._tally.start(total_files)

    def advance(self, name: str, nbytes: int) -> None:
        self._tally.advance(name, nbytes)

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        if from_cache:
            self._tally.cached += 1
            self._write(f"cached  {name}")
        else:
            self._tally.done += 1
            nbytes = self._tally.per_file.pop(name, 0)
            self._write(f"fetched {name} ({human_bytes(nbytes)})")

    def file_failed(self, name: str, error: FerryError) -> None:
        self._tally.failed += 1
        self._tally.per_file.pop(name, None)
        self._write(f"failed  {name}: {_with_found(error)}")

    def finish(self) -> None:
        self._write(self._tally.summary())
        self._stream.flush()

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        # A line per file, flushed a few times a second: someone tailing the log sees it
        # move, and 500 small files do not cost 500 flushes.
        now = time.monotonic()
        if now - self._flushed >= 0.2:
            self._stream.flush()
            self._flushed = now


class RichProgress:
    """Live bars on a terminal: files done of total, and bytes with speed and ETA."""

    def __init__(self, console: Console) -> None:
        from rich.console import Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._console = console
        self._tally = _Tally()
        self._files: Progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        )
        self._bytes: Progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._live = Live(Group(self._files, self._bytes), console=console, transient=True)
        self._files_task: TaskID | None = None
        self._bytes_task: TaskID | None = None

    def start(self, total_files: int, total_bytes: int) -> None:
        self._tally.start(total_files)
        self._files_task = self._files.add_task("files", total=total_files)
        # Unknown sizes make the byte total an estimate; None lets the bar pulse instead.
        self._bytes_task = self._bytes.add_task("bytes", total=total_bytes or None)
        self._live.start()

    def advance(self, name: str, nbytes: int) -> None:
        self._tally.advance(name, nbytes)
        if self._bytes_task is not None:
            self._bytes.advance(self._bytes_task, nbytes)

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        if from_cache:
            self._tally.cached += 1
            # in place already: the bar moves, the "fetched" tally does not
            if self._bytes_task is not None and nbytes:
                self._bytes.advance(self._bytes_task, nbytes)
        else:
            self._tally.done += 1
        self._tally.per_file.pop(name, None)
        self._step_files()

    def file_failed(self, name: str, error: FerryError) -> None:
        self._tally.failed += 1
        self._tally.per_file.pop(name, None)
        from rich.markup import escape

        # Printed above the live bars, so it stays on screen after they disappear.
        self._console.print(
            f"[red]failed[/red]  {escape(name)}: {escape(_with_found(error))}", highlight=False
        )
        self._step_files()

    def finish(self) -> None:
        self._live.stop()
        self._console.print(self._tally.summary(), highlight=False)

    def _step_files(self) -> None:
        if self._files_task is not None:
            self._files.advance(self._files_task, 1)


def make_progress(console: Console) -> ProgressListener:
    """Bars when ``console`` is an interactive terminal, plain lines otherwise."""
    if console.is_terminal and not console.is_dumb_terminal:
        return RichProgress(console)
    return PlainProgress(console.file)
