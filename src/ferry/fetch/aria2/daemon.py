"""The aria2c daemon: found, configured, started, watched, restarted and stopped.

aria2c runs as a child process with its RPC interface on 127.0.0.1 only, on a free port,
behind a secret drawn fresh for every start. The secret goes into a config file readable
by the owner alone (``aria2.conf`` in the state directory), never onto the command line
where ``ps`` would show it. ``stop-with-process`` makes aria2c exit by itself if Ferry dies
without stopping it.

A health check notices a daemon that died (its process exited) or hung (it stopped
answering RPC), starts a new one and tells the daemon's owners, who resubmit their
unfinished downloads: aria2 resumes them from the bytes and ``.aria2`` control files on
disk (``continue=true``; control files are saved every second).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ferry.errors import ConfigError, FetchError, Hint
from ferry.fetch.aria2.rpc import Aria2RPC, RPCError, RPCUnavailable
from ferry.fetch.useragent import user_agent

__all__ = ["BINARY_SETTING", "Aria2Daemon", "DaemonOptions", "find_binary", "render_config"]

# The setting (and its environment variable) that names the binary explicitly.
BINARY_SETTING = "aria2_binary (FERRY_ARIA2_BINARY)"

# aria2's own bounds for these options.
_MIN_SPLIT = 1 << 20
_MAX_SPLIT = 1024 << 20
_MAX_PER_SERVER = 16
# Proxy variables aria2c reads from its environment (it has no trust_env switch).
_PROXY_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy")


@dataclass(frozen=True)
class DaemonOptions:
    """What goes into ``aria2.conf`` besides the RPC settings; see aria2c(1)."""

    max_concurrent_downloads: int = 16
    split: int = 8  # connections per file
    max_connection_per_server: int = 8
    min_split_size: int = 16 << 20
    # Retries are Ferry's (one addUri per attempt, resuming from disk), so that attempt
    # counts, back-off and wording match the native engine; aria2 gives up at once.
    max_tries: int = 1
    retry_wait: int = 0
    timeout: float = 60.0
    connect_timeout: float = 30.0
    ca_certificate: Path | None = None
    proxy: str | None = None
    max_overall_download_limit: int = 0  # bytes per second, 0 for none
    trust_env: bool = True  # honour the proxy variables of Ferry's environment


def find_binary(explicit: Path | str | None = None) -> Path:
    """The aria2c to run: ``explicit`` if given, else the first ``aria2c`` on ``PATH``."""
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ConfigError(
            f"aria2c not found at {path} (set by {BINARY_SETTING})",
            context="starting the aria2 download backend",
            hint=Hint("aria2-binary", setting=BINARY_SETTING),
        )
    found = shutil.which("aria2c")
    if found is None:
        raise ConfigError(
            "aria2c not found on PATH",
            context="starting the aria2 download backend",
            hint=Hint("aria2-install", setting=BINARY_SETTING),
        )
    return Path(found)


def render_config(
    options: DaemonOptions, *, port: int, secret: str, directory: Path, owner_pid: int
) -> str:
    """The text of ``aria2.conf``: RPC on 127.0.0.1:``port`` only, behind ``secret``."""
    lines = {
        "enable-rpc": "true",
        "rpc-listen-all": "false",
        "rpc-listen-port": str(port),
        "rpc-secret": secret,
        "rpc-allow-origin-all": "false",
        "dir": str(directory),
        "continue": "true",
        "auto-file-renaming": "false",
        "allow-overwrite": "true",
        "file-allocation": "none",
        "auto-save-interval": "1",
        # Its write cache trips an assertion (Piece.cc:309, aria2 1.36) when a download
        # restarts from scratch; the kernel's page cache does the same job.
        "disk-cache": "0",
        # A server that ignores Range is answered by downloading from scratch.
        "always-resume": "false",
        "max-concurrent-downloads": str(max(1, options.max_concurrent_downloads)),
        "split": str(max(1, options.split)),
        "max-connection-per-server": str(
            min(_MAX_PER_SERVER, max(1, options.max_connection_per_server))
        ),
        "min-split-size": str(min(_MAX_SPLIT, max(_MIN_SPLIT, options.min_split_size))),
        "max-tries": str(max(0, options.max_tries)),
        "retry-wait": str(max(0, options.retry_wait)),
        "timeout": str(max(1, round(options.timeout))),
        "connect-timeout": str(max(1, round(options.connect_timeout))),
        "uri-selector": "inorder",  # mirrors after the primary URL, in order
        "http-accept-gzip": "false",  # the digest is of the file as served
        "user-agent": user_agent(),
        "async-dns": "false",  # the system resolver, as the native engine uses
        "check-certificate": "true",
        "max-download-result": "1000",
        "stop-with-process": str(owner_pid),
        "summary-interval": "0",
        "console-log-level": "warn",
        "enable-color": "false",
    }
    if options.ca_certificate is not None:
        lines["ca-certificate"] = str(options.ca_certificate)
    if options.proxy:
        lines["all-proxy"] = options.proxy
    if options.max_overall_download_limit > 0:
        lines["max-overall-download-limit"] = str(int(options.max_overall_download_limit))
    body = "".join(f"{key}={value}\n" for key, value in lines.items())
    return "# Written by Ferry for each start of aria2c; edits are overwritten.\n" + body


class Aria2Daemon:
    """One aria2c child process and the RPC client that talks to it.

    ``generation`` counts starts: a GID is only meaningful to the generation that issued
    it. Owners register :meth:`add_restart_listener` to hear about restarts.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        binary: Path | str | None = None,
        options: DaemonOptions | None = None,
        startup_timeout: float = 10.0,
        rpc_timeout: float = 10.0,
        max_restarts: int = 5,
    ) -> None:
        self.binary = find_binary(binary)
        self.state_dir = Path(state_dir)
        self.options = options or DaemonOptions()
        if self.options.ca_certificate is not None and Path(self.options.ca_certificate).is_dir():
            raise ConfigError(
                f"aria2c needs a CA bundle file, not a directory: {self.options.ca_certificate}",
                context="starting the aria2 download backend",
                hint=Hint("aria2-ca-file"),
            )
        self.generation = 0
        self._startup_timeout = startup_timeout
        self._rpc_timeout = rpc_timeout
        self._max_restarts = max_restarts
        self._proc: asyncio.subprocess.Process | None = None
        self._rpc: Aria2RPC | None = None
        self._port = 0
        self._secret = ""
        self._lock: asyncio.Lock | None = None
        self._health: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._restarts: list[float] = []
        self._closed = False
        self.health_error: FetchError | None = None

    # ---- what the owner reads -----------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.state_dir / "aria2.conf"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "aria2.log"

    @property
    def download_dir(self) -> Path:
        return self.state_dir / "downloads"

    @property
    def port(self) -> int:
        return self._port

    @property
    def secret(self) -> str:
        return self._secret

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/jsonrpc"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def rpc(self) -> Aria2RPC:
        if self._rpc is None:
            raise RPCUnavailable(
                "aria2c is not running", context="calling aria2", hint=Hint("aria2-not-running")
            )
        return self._rpc

    def add_restart_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def remove_restart_listener(self, listener: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # ---- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Aria2Daemon:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start aria2c unless it is running; return once it answers RPC."""
        self._closed = False
        async with self._locked():
            if self._proc is None:
                await self._start()
            elif not self.running:
                await self._restart()  # it died: its owners hear about it

    async def stop(self, grace: float = 5.0) -> None:
        """Stop aria2c gracefully (it saves its control files), then make sure it did.

        After ``grace`` seconds it is terminated again, and after as many again, killed.
        """
        async with self._locked():
            await self._stop(grace)

    async def restart(self) -> None:
        async with self._locked():
            await self._restart()

    async def aclose(self) -> None:
        """Stop the health check and the daemon; only :meth:`start` starts it again."""
        self._closed = True
        await self.stop_health_check()
        await self.stop()

    async def ping(self, within: float | None = None) -> bool:
        """True if the daemon's process runs and answers ``aria2.getVersion`` ``within`` s."""
        if not self.running or self._rpc is None:
            return False
        try:
            await asyncio.wait_for(self._rpc.call("aria2.getVersion"), within or self._rpc_timeout)
        except (TimeoutError, RPCUnavailable):
            return False
        except RPCError:
            return True  # it answered, just not kindly
        return True

    async def ensure_running(self) -> bool:
        """Start (or restart a dead or hung) daemon; True if a new one was started.

        Owners call this when a call fails with :class:`RPCUnavailable`; the health check
        calls it periodically. Two callers at once restart it once.
        """
        generation = self.generation
        async with self._locked():
            if self._closed:
                raise RPCUnavailable(
                    "aria2c was stopped", context="calling aria2", hint=Hint("aria2-stopped")
                )
            if self.generation != generation and self.running:
                return True  # someone else restarted it while this caller waited
            if self._proc is None:
                await self._start()
                return True
            if await self.ping():
                return False
            await self._restart(graceful=False)  # dead or hung: nothing to ask it
        return True

    def start_health_check(self, interval: float = 1.0) -> None:
        """Watch the daemon every ``interval`` seconds and restart it when it is gone."""
        if self._health is None or self._health.done():
            self._health = asyncio.create_task(self._watch(interval), name="aria2-health")

    async def stop_health_check(self) -> None:
        task, self._health = self._health, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- inside the lock ----------------------------------------------------------------

    def _locked(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._proc is None:
                continue  # stopped on purpose; nothing to watch
            try:
                await self.ensure_running()
                self.health_error = None
            except FetchError as exc:
                # Reported to whoever calls next; the check keeps trying.
                self.health_error = exc

    async def _restart(self, *, graceful: bool = True) -> None:
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < 60.0]
        if len(self._restarts) >= self._max_restarts:
            raise FetchError(
                f"aria2c stopped {len(self._restarts)} times within a minute; not restarting it",
                context="running the aria2 download backend",
                hint=Hint("aria2-restarts", log=self.log_path),
            )
        self._restarts.append(now)
        await self._stop(grace=2.0, graceful=graceful)
        await self._start()
        for listener in list(self._listeners):
            listener()

    async def _start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.download_dir.mkdir(parents=True, exist_ok=True)
        last: FetchError | None = None
        for _ in range(3):  # the free port may be taken between finding and binding it
            try:
                await self._spawn()
                return
            except FetchError as exc:
                last = exc
        assert last is not None
        raise last

    async def _spawn(self) -> None:
        self._port = _free_port()
        self._secret = secrets.token_hex(16)
        text = render_config(
            self.options,
            port=self._port,
            secret=self._secret,
            directory=self.download_dir,
            owner_pid=os.getpid(),
        )
        _write_private(self.config_path, text)
        env = dict(os.environ)
        if not self.options.trust_env:
            for name in _PROXY_VARS:
                env.pop(name, None)
                env.pop(name.upper(), None)
        try:
            with self.log_path.open("ab") as log:
                proc = await asyncio.create_subprocess_exec(
                    str(self.binary),
                    f"--conf-path={self.config_path}",
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    # Its own session: a Ctrl-C meant for Ferry must not kill it before
                    # Ferry stops it (stop-with-process ends it if Ferry itself dies).
                    start_new_session=True,
                )
        except OSError as exc:
            raise FetchError(
                f"cannot start {self.binary}: {exc.strerror or exc}",
                context="starting the aria2 download backend",
                hint=Hint("aria2-start", setting=BINARY_SETTING, directory=self.state_dir),
            ) from exc
        rpc = Aria2RPC(self.url, self._secret, timeout=self._rpc_timeout)
        deadline = time.monotonic() + self._startup_timeout
        while True:
            if proc.returncode is not None:
                await rpc.aclose()
                raise FetchError(
                    f"aria2c exited at start with status {proc.returncode}: {self._log_tail()}",
                    context="starting the aria2 download backend",
                    hint=Hint("aria2-see-log", log=self.log_path, config=self.config_path),
                )
            try:
                await asyncio.wait_for(rpc.call("aria2.getVersion"), 1.0)
                break
            except (TimeoutError, RPCUnavailable):
                pass
            if time.monotonic() > deadline:
                await rpc.aclose()
                await _end(proc, 2.0)
                raise FetchError(
                    f"aria2c did not answer on 127.0.0.1:{self._port} within "
                    f"{self._startup_timeout:.0f} s",
                    context="starting the aria2 download backend",
                    hint=Hint("aria2-see-log", log=self.log_path),
                )
            await asyncio.sleep(0.02)
        self._proc = proc
        self._rpc = rpc
        self.generation += 1

    async def _stop(self, grace: float, *, graceful: bool = True) -> None:
        proc, rpc = self._proc, self._rpc
        self._proc = self._rpc = None
        if proc is None:
            return
        if proc.returncode is None:
            # aria2.shutdown takes four seconds to take effect (aria2 1.36); SIGTERM is the
            # same graceful stop, control files saved, within a second. With nothing in
            # its queue there is nothing to save, and it is simply killed.
            idle = not graceful
            if rpc is not None and graceful:
                with contextlib.suppress(TimeoutError, RPCError, RPCUnavailable, ValueError):
                    stat = await asyncio.wait_for(rpc.call("aria2.getGlobalStat"), 1.0)
                    idle = int(stat["numActive"]) + int(stat["numWaiting"]) == 0
            with contextlib.suppress(ProcessLookupError):
                if idle:
                    proc.kill()
                else:
                    proc.terminate()
        if rpc is not None:
            await rpc.aclose()
        await _end(proc, grace)

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        lines = [line for line in text.splitlines() if line.strip()]
        return " / ".join(lines[-3:]) or "(empty log)"


async def _end(proc: asyncio.subprocess.Process, grace: float) -> None:
    """Wait for ``proc`` to exit, terminating and then killing it if it does not."""
    for signal_it in (None, proc.terminate, proc.kill):
        if signal_it is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal_it()
        try:
            await asyncio.wait_for(proc.wait(), grace)
            return
        except TimeoutError:
            continue


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by the owner only (it holds the secret)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.chmod(0o600)
    tmp.replace(path)
