"""What running a resolver needs, whatever it runs in: a workspace it may write, the
caches it keeps, and a way to run a command there.

Callers write their inputs under ``Workspace.host`` and build the command line with
``Workspace.inside(...)`` paths: the same path on a user's machine (``DirectRunner``), a
neutral ``/tmp/work/...`` inside the sandbox (``bwrap.BwrapRunner``), so the resolver's
own messages name no path of the server's.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str
    # what the sandbox's egress proxy refused, and why (the resolver only sees a 403)
    refused: tuple[str, ...] = ()

    def explained(self, message: str) -> str:
        """``message`` with the refusals that may explain it."""
        if not self.refused:
            return message
        reasons = "; ".join(dict.fromkeys(self.refused))
        return f"{message}\n(refused by the service's egress policy: {reasons})"


class Workspace(Protocol):
    host: Path  # where Ferry reads and writes the files
    python: str  # the interpreter commands here may use (uv builds sdists with it)

    def inside(self, host_path: Path) -> str:
        """``host_path`` (in the workspace or a cache) as the command sees it."""
        ...

    def cache(self, name: str) -> Path:
        """The host path of the cache ``name`` ("uv", "npm") commands here use."""
        ...

    async def run(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Completed: ...


class Runner(Protocol):
    def workspace(self) -> AbstractAsyncContextManager[Workspace]:
        """A fresh workspace, removed with everything in it on exit."""
        ...


async def run_process(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Completed:
    """Run ``argv`` (a list, never a shell string); killed if the caller is cancelled."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
    )
    try:
        out, err = await proc.communicate()
    except BaseException:
        # cancelled (a task timeout, a shutdown): the process must not outlive the request
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    return Completed(
        proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
    )


class _DirectWorkspace:
    def __init__(self, host: Path, caches: Mapping[str, Path]) -> None:
        self.host = host
        self.python = sys.executable
        self._caches = caches

    def inside(self, host_path: Path) -> str:
        return str(host_path)

    def cache(self, name: str) -> Path:
        path = self._caches[name]
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def run(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Completed:
        return await run_process(argv, env=env, cwd=cwd)


class DirectRunner:
    """On a user's own machine: a temporary directory and the user's own caches."""

    def __init__(self, caches: Mapping[str, Path]) -> None:
        self.caches = dict(caches)

    @asynccontextmanager
    async def workspace(self) -> AsyncIterator[Workspace]:
        with tempfile.TemporaryDirectory(prefix="ferry-") as tmp:
            yield _DirectWorkspace(Path(tmp), self.caches)
