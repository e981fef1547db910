"""The bytes of one unfinished download on disk, and what is known about them.

A partial download is two files side by side: the data, written at its final offsets
(so a segmented download is the file itself, with holes), and a small JSON control file
naming the URL, the server's validator, the total size and how far each piece has got
(aria2 keeps a ``.aria2`` file for the same reason). Both survive a killed process: the
next run opens them, trusts at most the bytes the control file vouches for, and asks the
server for the rest with ``Range`` + ``If-Range``. The control file is written after the
bytes it describes, so it never claims bytes that were not written.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["PartialBusy", "PartialFile", "Piece"]

_FORMAT = 1
# How often the control file is rewritten while bytes stream in: a killed run loses at
# most this much progress, and a busy download does not spend its time writing JSON.
_SAVE_EVERY_S = 0.5


class PartialBusy(Exception):
    """Another process holds this partial download: it is fetching the same file."""


def _lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False if someone else has it."""
    if fcntl is None:  # pragma: no cover - Windows: no cross-process guard
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass
class Piece:
    """``[start, end)`` of the file; ``end`` is None for a body of unknown length."""

    start: int
    end: int | None
    done: int = 0
    claimed: bool = False

    @property
    def pos(self) -> int:
        return self.start + self.done

    @property
    def remaining(self) -> int | None:
        return None if self.end is None else self.end - self.pos

    @property
    def complete(self) -> bool:
        return self.end is not None and self.pos >= self.end


class PartialFile:
    """An open partial download at ``path`` with its control file at ``path + '.json'``."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.meta_path = path.with_name(path.name + ".json")
        self.source = source
        self.validator: str | None = None
        self.total: int | None = None
        self.pieces: list[Piece] = []
        self._fd: int | None = None
        self._meta_exists = False
        # A file that completes within the first interval never writes its control file.
        self._saved_at = time.monotonic()

    # ---- opening and closing --------------------------------------------------------

    @classmethod
    def open(cls, path: Path, source: str) -> PartialFile:
        """Open (creating if needed) and lock the partial at ``path``, keeping what a
        previous run left there when its control file names the same ``source``.

        Raises :class:`PartialBusy` if another process holds it: that process is
        downloading the same file. The lock is an ``flock`` on the data file itself, held
        until the file is finished, discarded or closed (a killed process drops it).
        """
        part = cls(path, source)
        try:
            # Nearly always: a file nobody has started. Created here, it is ours, empty,
            # and has no control file worth reading.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            if _lock(fd):
                part._fd = fd
                return part
            os.close(fd)  # taken between our create and our lock: someone else's now
            raise PartialBusy(path)
        for _ in range(3):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _lock(fd):
                os.close(fd)
                raise PartialBusy(path)
            try:
                same = os.fstat(fd).st_ino == path.stat().st_ino
            except FileNotFoundError:
                same = False
            if same:
                part._fd = fd
                break
            # Locked a file the previous holder has just renamed into place: try again.
            os.close(fd)
        else:
            raise PartialBusy(path)
        if not part._load():
            part.reset()
        return part

    def _load(self) -> bool:
        try:
            text = self.meta_path.read_text("utf-8")
        except FileNotFoundError:
            return False
        self._meta_exists = True
        try:
            meta = json.loads(text)
            if meta.get("format") != _FORMAT or meta.get("source") != self.source:
                return False
            pieces = [
                Piece(int(s), None if e is None else int(e), int(d)) for s, e, d in meta["pieces"]
            ]
            total = meta.get("total")
            validator = meta.get("validator")
        except (OSError, ValueError, KeyError, TypeError):
            return False
        on_disk = os.fstat(self.fd).st_size
        for piece in pieces:
            # Bytes the control file vouches for but the data file lacks (a crash of the
            # machine, not just the process) are fetched again.
            piece.done = max(0, min(piece.done, on_disk - piece.start))
        self.pieces = pieces
        self.total = None if total is None else int(total)
        self.validator = validator if isinstance(validator, str) else None
        return True

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Delete the bytes and the control file (still locked, then unlocked)."""
        self.path.unlink(missing_ok=True)
        if self._meta_exists:
            self.meta_path.unlink(missing_ok=True)
        self.close()

    def finish(self, dest: Path) -> Path:
        """Make the complete bytes durable and move them to ``dest`` atomically.

        Renamed while still locked: a process waiting for the lock then finds the path
        gone (or another file) and looks for the finished file instead.
        """
        os.fsync(self.fd)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.path.replace(dest)
        if self._meta_exists:
            self.meta_path.unlink(missing_ok=True)
        self.close()
        return dest

    # ---- state ------------------------------------------------------------------------

    def reset(self) -> int:
        """Forget every byte (the file changed, or a restart from zero); return how many."""
        dropped = self.kept
        if dropped or os.fstat(self.fd).st_size:
            os.ftruncate(self.fd, 0)
        self.pieces = []
        self.total = None
        self.validator = None
        if self._meta_exists:
            self.meta_path.unlink(missing_ok=True)
            self._meta_exists = False
        return dropped

    @property
    def kept(self) -> int:
        return sum(p.done for p in self.pieces)

    @property
    def complete(self) -> bool:
        return bool(self.pieces) and all(p.complete for p in self.pieces)

    def plan(self, total: int | None, piece_size: int | None) -> None:
        """Lay out the pieces of a fresh download: one, or ``total / piece_size`` of them."""
        self.total = total
        if total is None or piece_size is None or piece_size >= total:
            self.pieces = [Piece(0, total)]
            return
        self.pieces = [
            Piece(start, min(start + piece_size, total)) for start in range(0, total, piece_size)
        ]

    def split_first(self, total: int, piece_size: int) -> None:
        """Turn a single piece into ``total / piece_size`` ones, keeping its progress."""
        first = self.pieces[0]
        self.total = total
        self.pieces = [Piece(0, min(piece_size, total), first.done, first.claimed)]
        self.pieces += [
            Piece(start, min(start + piece_size, total))
            for start in range(piece_size, total, piece_size)
        ]
        first_done = self.pieces[0]
        if first.done > piece_size:
            # Already past its new end: hand the excess to the pieces after it.
            first_done.done = piece_size
            rest = first.done - piece_size
            for piece in self.pieces[1:]:
                take = min(rest, (piece.end or 0) - piece.start)
                piece.done = take
                rest -= take
                if rest <= 0:
                    break

    def contiguous_end(self, offset: int) -> int:
        """How far the bytes from ``offset`` on are complete without a hole."""
        end = offset
        for piece in self.pieces:
            if piece.pos <= end:
                continue
            if piece.start > end:
                break
            end = piece.pos
        return end

    # ---- bytes --------------------------------------------------------------------------

    def write(self, piece: Piece, data: bytes | memoryview) -> None:
        view = memoryview(data)
        offset = piece.pos
        while view:
            written = os.pwrite(self.fd, view, offset)
            view = view[written:]
            offset += written
        piece.done += len(data)

    def read_into(self, buffer: memoryview, offset: int) -> int:
        """Fill ``buffer`` from ``offset``; how many bytes were read."""
        return os.preadv(self.fd, [buffer], offset)

    def save(self, *, force: bool = False) -> None:
        """Write the control file (at most every half second unless forced)."""
        now = time.monotonic()
        if not force and now - self._saved_at < _SAVE_EVERY_S:
            return
        self._saved_at = now
        meta: dict[str, Any] = {
            "format": _FORMAT,
            "source": self.source,
            "total": self.total,
            "validator": self.validator,
            "pieces": [[p.start, p.end, p.done] for p in self.pieces],
        }
        tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        with contextlib.suppress(OSError):
            # Losing the control file costs a restart from zero, never wrong bytes.
            tmp.write_text(json.dumps(meta), "utf-8")
            tmp.replace(self.meta_path)
            self._meta_exists = True
