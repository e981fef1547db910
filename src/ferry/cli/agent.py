"""``ferry agent``: a node's models (:mod:`ferry.agent.agent`), from the shell.

``--dir`` (or ``FERRY_AGENT_DIR``) is where models and ``registry.json`` live;
``--server``/``FERRY_URL`` and ``--token``/``FERRY_TOKEN`` name the Ferry service, as for
``ferry packages``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ferry.cli.packages import JsonOpt, ServerOpt, TokenOpt
from ferry.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from ferry.agent.agent import Agent
    from ferry.agent.state import Installed

agent_app = typer.Typer(
    help="Install models on this machine from a Ferry service.", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, emoji=False)
DirOpt = Annotated[
    Path,
    typer.Option("--dir", envvar="FERRY_AGENT_DIR", help="Where this machine's models live."),
]
RateOpt = Annotated[
    str | None,
    typer.Option(
        "--limit-rate",
        help="Bytes per second for all downloads together, like curl's: 50M, 800K (0: none).",
    ),
]
TtlOpt = Annotated[
    float,
    typer.Option(
        "--manifest-ttl",
        envvar="FERRY_AGENT_MANIFEST_TTL",
        min=0,
        help="Seconds a catalog document the server sent is used before asking again.",
    ),
]
P2pOpt = Annotated[
    bool,
    typer.Option(
        "--p2p/--no-p2p",
        envvar="FERRY_AGENT_P2P",
        help="Large files from the swarm (other nodes and Ferry's web seed), plain HTTP when "
        "it stalls.",
    ),
]
ListenOpt = Annotated[
    str,
    typer.Option(
        "--listen",
        envvar="FERRY_AGENT_LISTEN",
        help="Where this node takes peers' connections (host:port; the next ports if taken).",
    ),
]
StallOpt = Annotated[
    float,
    typer.Option(
        "--stall-timeout", min=1, help="Seconds the swarm may send nothing before plain HTTP."
    ),
]
ReadyOpt = Annotated[
    str | None,
    typer.Option(
        "--on-ready",
        help="A command to run when a version is ready (FERRY_MODEL_ID, FERRY_MODEL_VERSION, "
        "FERRY_MODEL_PATH, FERRY_MODEL_STATUS in its environment), e.g. to reload a server.",
    ),
]
ErrorOpt = Annotated[
    str | None,
    typer.Option("--on-error", help="A command to run when an install fails (the same variables)."),
]


class _Hooks:
    """The commands of --on-ready and --on-error, started as states change (never through a
    shell: the words are split as a shell would, then run as they are) and waited for at
    the end, so a slow hook does not hold the downloads up."""

    def __init__(self, on_ready: str | None, on_error: str | None) -> None:
        import shlex

        self.commands = {
            "ready": shlex.split(on_ready) if on_ready else None,
            "error": shlex.split(on_error) if on_error else None,
        }
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __call__(self, entry: Installed) -> None:
        import os

        command = self.commands.get(entry.status)
        if not command:
            return
        env = {
            **os.environ,
            "FERRY_MODEL_ID": entry.model_id,
            "FERRY_MODEL_VERSION": entry.version,
            "FERRY_MODEL_PATH": entry.path,
            "FERRY_MODEL_STATUS": entry.status,
        }
        try:
            self.started.append((command[0], subprocess.Popen(command, env=env)))
        except OSError as exc:
            err.print(f"warning: --on-{entry.status} {command[0]}: {exc}", highlight=False)

    def wait(self) -> None:
        for name, proc in self.started:
            if proc.wait() != 0:
                err.print(f"warning: hook {name} exited with {proc.returncode}", highlight=False)


def _agent(
    directory: Path,
    server: str | None,
    token: str | None,
    *,
    limit_rate: str | None = None,
    manifest_ttl: float | None = None,
    hooks: _Hooks | None = None,
    p2p: bool = False,
    listen: str = "0.0.0.0:6881",
    stall_timeout: float = 30.0,
) -> Agent:
    from ferry.agent.agent import Agent
    from ferry.agent.manifests import DEFAULT_TTL
    from ferry.agent.swarm import SwarmOptions
    from ferry.settings import load_settings

    if not server:
        raise UsageError("no server to install from", hint="Pass --server URL or set FERRY_URL.")
    settings = load_settings(None, data_dir=directory / ".ferry")
    if limit_rate is not None:
        from ferry.fetch.ratelimit import parse_rate

        try:
            settings = settings.model_copy(update={"limit_rate": parse_rate(limit_rate)})
        except ValueError as exc:
            raise UsageError(f"--limit-rate {limit_rate}: {exc}") from None
    return Agent(
        directory,
        server,
        token,
        settings,
        manifest_ttl=DEFAULT_TTL if manifest_ttl is None else manifest_ttl,
        on_change=hooks,
        swarm=SwarmOptions(
            listen=listen, stall_timeout=stall_timeout, download_limit=settings.limit_rate
        )
        if p2p
        else None,
    )


def _spec(spec: str) -> tuple[str, str | None]:
    repo, _, version = spec.partition("@")
    return repo, version or None


@agent_app.command("install")
def install(
    spec: Annotated[str, typer.Argument(help="org/name[@version]")],
    directory: DirOpt,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
    limit_rate: RateOpt = None,
    manifest_ttl: TtlOpt = 300.0,
    on_ready: ReadyOpt = None,
    on_error: ErrorOpt = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask the server even if its cached answer is fresh.")
    ] = False,
    p2p: P2pOpt = False,
    listen: ListenOpt = "0.0.0.0:6881",
    stall_timeout: StallOpt = 30.0,
    seed_for: Annotated[
        float | None,
        typer.Option(
            "--seed-for", min=0, help="Then seed to the other nodes for this many seconds (--p2p)."
        ),
    ] = None,
    seed_ratio: Annotated[
        float | None,
        typer.Option(
            "--seed-ratio", min=0, help="Then seed until this many times the size went up."
        ),
    ] = None,
) -> None:
    """Install a model version (the default one without @version), every file checked."""
    from ferry.fetch.progress import make_progress

    seeding = seed_for is not None or seed_ratio is not None
    p2p = p2p or seeding

    hooks = _Hooks(on_ready, on_error)
    agent = _agent(
        directory,
        server,
        token,
        limit_rate=limit_rate,
        manifest_ttl=manifest_ttl,
        hooks=hooks,
        p2p=p2p,
        listen=listen,
        stall_timeout=stall_timeout,
    )
    repo, version = _spec(spec)
    entry = asyncio.run(
        agent.install(
            repo, version, listener=None if as_json else make_progress(err), refresh=refresh
        )
    )
    hooks.wait()
    if seeding and entry.status == "ready":
        _seed_a_while(agent, seed_for, seed_ratio)
    _report(entry, as_json)


def _seed_a_while(agent: Agent, seconds: float | None, ratio: float | None) -> dict[str, int]:
    import signal

    async def main() -> dict[str, int]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # `ferry agent stop`
            loop.add_signal_handler(sig, stop.set)
        return await agent.seed(duration=seconds, ratio=ratio, stop=stop)

    return asyncio.run(main())


@agent_app.command("update")
def update(
    model_id: Annotated[str, typer.Argument(help="org/name")],
    directory: DirOpt,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
    limit_rate: RateOpt = None,
    on_ready: ReadyOpt = None,
    on_error: ErrorOpt = None,
    p2p: P2pOpt = False,
    listen: ListenOpt = "0.0.0.0:6881",
    stall_timeout: StallOpt = 30.0,
) -> None:
    """Install the model's default version as the server names it now, reusing the files
    it shares with those here."""
    install(
        model_id,
        directory,
        as_json,
        server,
        token,
        limit_rate,
        0.0,
        on_ready,
        on_error,
        refresh=True,
        p2p=p2p,
        listen=listen,
        stall_timeout=stall_timeout,
    )


def _report(entry, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    if as_json:
        sys.stdout.write(json.dumps(asdict(entry), indent=2) + "\n")
    elif entry.status == "ready":
        out.print(f"{entry.model_id} {entry.version}: ready at {entry.path}", highlight=False)
    elif entry.status == "paused":
        err.print(
            f"{entry.model_id} {entry.version}: paused; `ferry agent resume` and `ferry agent "
            "run`, or install it again, to go on from where it stopped",
            highlight=False,
        )
    else:
        err.print(
            f"{entry.model_id} {entry.version}: {entry.status}: {entry.error}", highlight=False
        )
    if entry.status == "paused":
        raise typer.Exit(1)
    if entry.status != "ready":
        raise typer.Exit(int(ExitCode.NETWORK))


@agent_app.command("queue")
def queue(
    spec: Annotated[str, typer.Argument(help="org/name[@version]")],
    directory: DirOpt,
    priority: Annotated[
        int, typer.Option("--priority", help="Higher goes first; equal ones in turn.")
    ] = 0,
) -> None:
    """Queue an install for `ferry agent run` (queueing it again sets its priority)."""
    from ferry.agent.agent import Agent

    repo, version = _spec(spec)
    queued = Agent(directory, "http://unused.invalid", None).enqueue(repo, version, priority)
    out.print(
        f"queued: {repo} {version or '(default version)'}, priority {queued.priority}",
        highlight=False,
    )


@agent_app.command("run")
def run(
    directory: DirOpt,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
    parallel: Annotated[
        int, typer.Option("--parallel", min=1, help="Models installed at once.")
    ] = 1,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Keep waiting for queued installs until interrupted."),
    ] = False,
    limit_rate: RateOpt = None,
    manifest_ttl: TtlOpt = 300.0,
    on_ready: ReadyOpt = None,
    on_error: ErrorOpt = None,
    p2p: P2pOpt = False,
    listen: ListenOpt = "0.0.0.0:6881",
    stall_timeout: StallOpt = 30.0,
) -> None:
    """Install what the queue holds, best first; paused ones wait for `ferry agent resume`."""
    import signal
    from dataclasses import asdict

    from ferry.fetch.progress import make_progress

    hooks = _Hooks(on_ready, on_error)
    agent = _agent(
        directory,
        server,
        token,
        limit_rate=limit_rate,
        manifest_ttl=manifest_ttl,
        hooks=hooks,
        p2p=p2p,
        listen=listen,
        stall_timeout=stall_timeout,
    )

    async def main() -> list[Installed]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # finish what runs, start nothing more
            loop.add_signal_handler(sig, stop.set)
        return await agent.run_queue(
            parallel=parallel,
            watch=watch,
            stop=stop,
            listener=None if as_json else make_progress(err),
        )

    ended = asyncio.run(main())
    hooks.wait()
    left = agent.queue.read()
    if as_json:
        doc = {"installed": [asdict(e) for e in ended], "queued": [asdict(q) for q in left]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        for e in ended:
            said = f" ({e.error})" if e.error else ""
            out.print(f"{e.model_id} {e.version}: {e.status}{said}", highlight=False)
        for q in left:
            why = "paused" if q.paused else f"waiting to retry: {q.error}"
            out.print(f"{q.model_id} {q.version or '(default)'}: {why}", highlight=False)
    if any(e.status == "error" for e in ended) or any(q.error for q in left):
        raise typer.Exit(int(ExitCode.NETWORK))


def _steer(spec: str, directory: Path, *, paused: bool) -> None:
    from ferry.agent.agent import Agent

    repo, version = _spec(spec)
    agent = Agent(directory, "http://unused.invalid", None)
    count = agent.pause(repo, version) if paused else agent.resume(repo, version)
    word = "paused" if paused else "resumed"
    out.print(f"{word}: {repo} {version or '(every version)'} ({count} queued)", highlight=False)


@agent_app.command("pause")
def pause(
    spec: Annotated[str, typer.Argument(help="org/name[@version]")], directory: DirOpt
) -> None:
    """Pause an install, queued or under way in any process; what arrived stays."""
    _steer(spec, directory, paused=True)


@agent_app.command("resume")
def resume(
    spec: Annotated[str, typer.Argument(help="org/name[@version]")], directory: DirOpt
) -> None:
    """Let a paused install go on (`ferry agent run` or a running `--watch` takes it)."""
    _steer(spec, directory, paused=False)


@agent_app.command("remove")
def remove(
    spec: Annotated[str, typer.Argument(help="org/name@version")],
    directory: DirOpt,
) -> None:
    """Remove an installed version and its files."""
    from ferry.agent.agent import Agent

    repo, version = _spec(spec)
    if version is None:
        raise UsageError("say which version: org/name@version")
    gone = asyncio.run(Agent(directory, "http://unused.invalid", None).remove(repo, version))
    out.print(f"{'removed' if gone else 'not installed'}: {repo} {version}", highlight=False)


@agent_app.command("list")
def list_installed(directory: DirOpt, as_json: JsonOpt = False) -> None:
    """What this machine holds, and in what state."""
    from dataclasses import asdict

    from ferry.agent.queue import InstallQueue
    from ferry.agent.state import Registry

    entries = sorted(Registry(directory).read().values(), key=lambda e: (e.model_id, e.version))
    queued = InstallQueue(directory).read()
    if as_json:
        doc = {"installed": [asdict(e) for e in entries], "queued": [asdict(q) for q in queued]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for e in entries:
        out.print(f"{e.model_id} {e.version}  {e.status}  {e.path}", highlight=False)
    for q in queued:
        state = "paused" if q.paused else "queued"
        out.print(
            f"{q.model_id} {q.version or '(default)'}  {state}  priority {q.priority}",
            highlight=False,
        )


@agent_app.command("seed")
def seed(
    directory: DirOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
    seconds: Annotated[
        float | None, typer.Option("--for", min=0, help="Stop after this many seconds.")
    ] = None,
    ratio: Annotated[
        float | None,
        typer.Option("--ratio", min=0, help="Stop once this many times their size went up."),
    ] = None,
    listen: ListenOpt = "0.0.0.0:6881",
    upload_limit: Annotated[
        str | None, typer.Option("--upload-limit", help="Bytes per second up, e.g. 50M.")
    ] = None,
) -> None:
    """Serve this node's installed models to the other nodes (until --for, --ratio, or
    `ferry agent stop`)."""
    import dataclasses

    from ferry.fetch.ratelimit import parse_rate

    agent = _agent(directory, server, token, p2p=True, listen=listen)
    assert agent.swarm is not None
    if upload_limit is not None:
        agent.swarm = dataclasses.replace(agent.swarm, upload_limit=parse_rate(upload_limit))

    uploaded = _seed_a_while(agent, seconds, ratio)
    out.print(f"seeded {len(uploaded)} files, {sum(uploaded.values())} bytes up", highlight=False)


@agent_app.command("serve")
def serve(
    directory: DirOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
    host: Annotated[str, typer.Option("--host", help="Where to listen.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
    p2p: P2pOpt = False,
    listen: ListenOpt = "0.0.0.0:6881",
    stall_timeout: StallOpt = 30.0,
) -> None:
    """A Hugging Face-compatible endpoint for this node's programs: HF_ENDPOINT at it, and
    huggingface_hub gets the files from this node (installed first, through the swarm with
    --p2p); Ferry checks each client's own token."""
    import uvicorn

    from ferry.agent.hub import make_hub

    agent = _agent(
        directory,
        server,
        token,
        p2p=p2p,
        listen=listen,
        stall_timeout=stall_timeout,
    )
    err.print(f"HF_ENDPOINT=http://{host}:{port}", highlight=False)
    uvicorn.run(make_hub(agent), host=host, port=port, log_level="warning", access_log=False)


@agent_app.command("stop")
def stop(directory: DirOpt) -> None:
    """Stop this node's seeding (`ferry agent seed`, an install's --seed-for)."""
    import os
    import signal

    seeders = _seeding(directory)
    if not seeders:
        out.print("not seeding", highlight=False)
    for state in seeders:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(state["pid"]), signal.SIGTERM)
        out.print(f"stopping the seeder (pid {state['pid']})", highlight=False)


def _seeding(directory: Path) -> list[dict[str, Any]]:
    """What each seeding process's file says, for those alive (a dead one's is removed)."""
    import os

    alive = []
    for path in sorted((directory / "seeding").glob("*.json")):
        try:
            state = json.loads(path.read_text())
            os.kill(int(state["pid"]), 0)
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            continue
        except ProcessLookupError:
            path.unlink(missing_ok=True)
            continue
        alive.append(state)
    return alive


@agent_app.command("status")
def status(
    directory: DirOpt,
    spec: Annotated[str | None, typer.Argument(help="org/name[@version]")] = None,
) -> None:
    """The path of an installed model, or why it is not available (exit 1); without one,
    what this node seeds."""
    from ferry.agent.agent import Agent, ModelNotAvailableError

    if spec is None:
        seeders = _seeding(directory)
        if not seeders:
            out.print("not seeding", highlight=False)
        for state in seeders:
            files = state.get("files")
            up = sum(files.values()) if isinstance(files, dict) else 0
            count = len(files) if isinstance(files, dict) else 0
            out.print(f"seeding {count} files (pid {state['pid']}), {up} bytes up", highlight=False)
        return
    repo, version = _spec(spec)
    try:
        path = Agent(directory, "http://unused.invalid", None).get_model_path(repo, version)
    except ModelNotAvailableError as exc:
        err.print(f"{exc.reason}: {exc.message}", highlight=False)
        raise typer.Exit(1) from None
    out.print(str(path), highlight=False)
