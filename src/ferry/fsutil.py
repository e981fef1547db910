"""Filesystem steps that make a write durable, shared by the store and the archive writer."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable.

    Best effort: not every platform can open a directory, and some filesystems (network
    mounts) refuse fsync on one; the file's own data has been synced before the rename.
    """
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
