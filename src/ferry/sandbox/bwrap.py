"""The box the resolvers run in for a service task: bubblewrap, as an unprivileged user,
with no network but a Unix socket to Ferry's egress proxy.

Inside: the system read-only (``--ro-bind / /``), a fresh ``/proc``, ``/dev`` and
``/tmp``; the data directory (database, tokens, other tasks) and the service user's home
covered by empty tmpfs; writable only the task's scratch directory (``/tmp/work``) and the
resolver caches (``/tmp/cache/uv``, ``/tmp/cache/npm``); its own PID, IPC, UTS and network
namespaces (only loopback, where ``bridge.py`` listens); no variable of the server's
environment but the ones the resolver is given. As root, Ferry first drops to uid/gid
65534 (``setpriv``), so the box's user is unprivileged outside it too: files that only
root may read stay unreadable even where the box can see them. docs/decisions.md says why
this and not a container or a network namespace with veth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.resources
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ferry.egress import EgressPolicy
from ferry.errors import ConfigError
from ferry.sandbox.proxy import EgressProxy
from ferry.sandbox.runner import Completed, Workspace, run_process

NOBODY = 65534
# paths inside the box, on its own fresh tmpfs: nothing else can be there
WORK = Path("/tmp/work")  # noqa: S108
CACHES = Path("/tmp/cache")  # noqa: S108
BRIDGE_PORT = 3128
NICENESS = 10
_KEEP = ("PATH", "LANG", "LC_ALL", "TZ", "NO_COLOR", "SSL_CERT_FILE", "SSL_CERT_DIR")
_KEEP_PREFIXES = ("UV_", "npm_config_", "NODE_EXTRA_CA_CERTS")
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def bridge_source() -> str:
    return importlib.resources.files("ferry.sandbox").joinpath("bridge.py").read_text()


@dataclass(frozen=True)
class BoxSpec:
    """Everything one sandboxed command needs to be written down. Pure."""

    bwrap: str
    python: str  # the interpreter inside, for the bridge (and uv's builds)
    scratch: Path  # bound at WORK
    caches: Mapping[str, Path]  # name -> host path, bound at CACHES/name
    hidden: Sequence[Path]  # covered by an empty tmpfs
    drop_to_nobody: bool
    setpriv: str = "setpriv"
    # shown again read-only where a cover would hide them: the uv binary of a checkout
    # under /tmp, say (CI clones there)
    revealed: Sequence[Path] = ()

    def argv(self, command: Sequence[str], env: Mapping[str, str], cwd: str) -> list[str]:
        # Resolving is batch work: at a lower priority it leaves the CPU to the service's
        # answers when both want it (two cores, five resolutions: bench/RESULTS.md).
        argv: list[str] = ["nice", "-n", str(NICENESS)]
        if self.drop_to_nobody:
            argv += [
                self.setpriv,
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                "--inh-caps=-all",
            ]
        argv += [
            self.bwrap,
            "--unshare-all",  # user, pid, ipc, uts, cgroup and network namespaces
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            # fresh and empty in the box: nothing of the host's temporary files
            "--tmpfs", "/tmp",  # noqa: S108
            "--tmpfs", "/var/tmp",  # noqa: S108
            "--tmpfs", "/run",
        ]  # fmt: skip
        for path in self.hidden:
            if path.is_dir():
                argv += ["--tmpfs", str(path)]
            else:  # a file (a settings file with secrets): the box sees an empty one
                argv += ["--ro-bind", "/dev/null", str(path)]
        for path in self.revealed:
            argv += ["--ro-bind", str(path), str(path)]
        argv += ["--bind", str(self.scratch), str(WORK)]
        for name, path in self.caches.items():
            argv += ["--bind", str(path), str(CACHES / name)]
        argv += ["--chdir", cwd]
        for key, value in sorted(env.items()):
            argv += ["--setenv", key, value]
        argv += ["--", self.python, "-I", "-S", "-c", bridge_source()]
        argv += [str(BRIDGE_PORT), str(WORK / "proxy.sock"), "--", *command]
        return argv


def box_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What of ``env`` goes into the box: the resolver's own settings, never the server's
    secrets (FERRY_*, database URLs, cloud keys ...), and the proxy to go out by."""
    kept = {k: v for k, v in env.items() if k in _KEEP or k.startswith(_KEEP_PREFIXES)}
    proxy = f"http://127.0.0.1:{BRIDGE_PORT}"
    kept.update(
        PATH=_SYSTEM_PATH,
        HOME=str(WORK / "home"),
        TMPDIR="/tmp",  # noqa: S108 - the box's own
        LANG=kept.get("LANG", "C.UTF-8"),
        HTTP_PROXY=proxy,
        HTTPS_PROXY=proxy,
        ALL_PROXY=proxy,
        http_proxy=proxy,
        https_proxy=proxy,
        NO_PROXY="",
        no_proxy="",
        npm_config_proxy=proxy,
        npm_config_https_proxy=proxy,
        npm_config_noproxy="",
    )
    return kept


class _BoxWorkspace:
    def __init__(self, runner: BwrapRunner, scratch: Path) -> None:
        self.host = scratch
        self.python = runner.python
        self._runner = runner

    def inside(self, host_path: Path) -> str:
        host_path = Path(host_path)
        if host_path.is_relative_to(self.host):
            return str(WORK / host_path.relative_to(self.host))
        for name, cache in self._runner.caches.items():
            if host_path.is_relative_to(cache):
                return str(CACHES / name / host_path.relative_to(cache))
        raise ValueError(f"{host_path} is not visible in the sandbox")

    def cache(self, name: str) -> Path:
        return self._runner.caches[name]

    async def run(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Completed:
        spec = self._runner.spec(self.host)
        if self._runner.drop_to_nobody:
            await asyncio.to_thread(_give_to_nobody, self.host)  # what Ferry wrote there
        proxy = EgressProxy(self._runner.policy, upstream=self._runner.upstream_proxy)
        socket_path = self.host / "proxy.sock"
        await proxy.start(socket_path)
        try:
            done = await run_process(
                spec.argv(argv, box_environment(env), self.inside(cwd)),
                env={"PATH": _SYSTEM_PATH, "LANG": "C.UTF-8"},
                cwd=self.host,
            )
        finally:
            await proxy.close()
            await asyncio.to_thread(socket_path.unlink, True)
        return dataclasses.replace(done, refused=tuple(proxy.refusals))


def _give_to_nobody(root: Path) -> None:
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(Path(directory) / name, NOBODY, NOBODY, follow_symlinks=False)
    os.chown(root, NOBODY, NOBODY)


class BwrapRunner:
    """Runs resolvers in bubblewrap; see the module docstring."""

    def __init__(
        self,
        *,
        sandbox_dir: Path,
        hidden: Sequence[Path],
        policy: EgressPolicy,
        upstream_proxy: str | None = None,
        python: str | None = None,
        bwrap: str | None = None,
        revealed: Sequence[Path] = (),
    ) -> None:
        found = bwrap or shutil.which("bwrap")
        if found is None:
            raise ConfigError(
                "bubblewrap (bwrap) is not installed: the service runs uv and npm in it",
                hint="Install it (Debian: apt-get install bubblewrap), or set "
                'resolver_sandbox = "none" to run them unconfined (not for strangers\' files).',
            )
        self.bwrap = found
        self.policy = policy
        self.upstream_proxy = upstream_proxy
        self.drop_to_nobody = os.geteuid() == 0
        self.root = sandbox_dir
        self.caches = {name: sandbox_dir / "cache" / name for name in ("uv", "npm")}
        # only what exists can be covered (the root is read-only in the box)
        self.hidden = [p for p in hidden if p != Path("/") and p.exists()]
        self.python = python or sys.executable
        self.revealed = [p for p in revealed if p.exists()]
        self._prepare()

    def with_policy(self, policy: EgressPolicy, upstream_proxy: str | None) -> BwrapRunner:
        """The same box for a task with its own policy (the prepared dirs are shared)."""
        other = object.__new__(BwrapRunner)
        other.__dict__.update(self.__dict__)
        other.policy = policy
        other.upstream_proxy = upstream_proxy
        return other

    def _prepare(self) -> None:
        """The box's directory: the service user's, traversable (never listable) by the
        box's user, holding the caches and each run's scratch directory."""
        try:
            self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
            info = self.root.lstat()
        except OSError as exc:
            raise ConfigError(f"sandbox directory {self.root}: {exc.strerror}") from exc
        if self.root.is_symlink() or info.st_uid != os.geteuid():
            raise ConfigError(
                f"sandbox directory {self.root} is not this service's own",
                hint="Remove it, or set sandbox_dir to a directory the service creates.",
            )
        self.root.chmod(0o711)
        (self.root / "cache").mkdir(mode=0o711, exist_ok=True)
        for cache in self.caches.values():
            cache.mkdir(exist_ok=True)
            if self.drop_to_nobody:
                os.chown(cache, NOBODY, NOBODY)
            cache.chmod(0o700)

    def spec(self, scratch: Path) -> BoxSpec:
        return BoxSpec(
            bwrap=self.bwrap,
            python=self.python,
            scratch=scratch,
            caches=self.caches,
            hidden=self.hidden,
            drop_to_nobody=self.drop_to_nobody,
            revealed=self.revealed,
        )

    def _new_scratch(self) -> Path:
        scratch = Path(tempfile.mkdtemp(prefix="work-", dir=self.root))
        (scratch / "home").mkdir()
        if self.drop_to_nobody:
            for path in (scratch, scratch / "home"):
                os.chown(path, NOBODY, NOBODY)
        scratch.chmod(0o700)
        return scratch

    @asynccontextmanager
    async def workspace(self) -> AsyncIterator[Workspace]:
        scratch = await asyncio.to_thread(self._new_scratch)
        try:
            yield _BoxWorkspace(self, scratch)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def probe(self, *commands: Sequence[str]) -> str | None:
        """Why the box cannot run here (None: it can): its Python must run in it, and each
        of ``commands`` (``uv --version``...) must succeed there. Tried at the start."""
        token = secrets.token_hex(4)
        tries = [[self.python, "-I", "-S", "-c", f"print('{token}')"], *map(list, commands)]
        async with self.workspace() as ws:
            for argv in tries:
                try:
                    done = await ws.run(argv, env={}, cwd=ws.host)
                except OSError as exc:
                    return f"{argv[0]}: {exc.strerror}"
                if done.returncode != 0 or (argv is tries[0] and token not in done.stdout):
                    said = (done.stderr or done.stdout).strip()[-500:]
                    return f"{' '.join(argv[:2])}: {said or f'exit {done.returncode}'}"
        return None
