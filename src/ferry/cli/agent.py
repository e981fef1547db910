"""``ferry agent``: a node's models (:mod:`ferry.agent.agent`), from the shell.

``--dir`` (or ``FERRY_AGENT_DIR``) is where models and ``registry.json`` live;
``--server``/``FERRY_URL`` and ``--token``/``FERRY_TOKEN`` name the Ferry service, as for
``ferry packages``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ferry.cli.packages import JsonOpt, ServerOpt, TokenOpt
from ferry.errors import ExitCode, UsageError

agent_app = typer.Typer(
    help="Install models on this machine from a Ferry service.", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, emoji=False)
DirOpt = Annotated[
    Path,
    typer.Option("--dir", envvar="FERRY_AGENT_DIR", help="Where this machine's models live."),
]


def _agent(directory: Path, server: str | None, token: str | None):  # type: ignore[no-untyped-def]
    from ferry.agent.agent import Agent

    if not server:
        raise UsageError("no server to install from", hint="Pass --server URL or set FERRY_URL.")
    return Agent(directory, server, token)


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
) -> None:
    """Install a model version (the default one without @version), every file checked."""
    from ferry.fetch.progress import make_progress

    agent = _agent(directory, server, token)
    repo, version = _spec(spec)
    entry = asyncio.run(
        agent.install(repo, version, listener=None if as_json else make_progress(err))
    )
    _report(entry, as_json)


@agent_app.command("update")
def update(
    model_id: Annotated[str, typer.Argument(help="org/name")],
    directory: DirOpt,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Install the model's default version, reusing the files it shares with those here."""
    install(model_id, directory, as_json, server, token)


def _report(entry, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    if as_json:
        sys.stdout.write(json.dumps(asdict(entry), indent=2) + "\n")
    elif entry.status == "ready":
        out.print(f"{entry.model_id} {entry.version}: ready at {entry.path}", highlight=False)
    else:
        err.print(
            f"{entry.model_id} {entry.version}: {entry.status}: {entry.error}", highlight=False
        )
    if entry.status != "ready":
        raise typer.Exit(int(ExitCode.NETWORK))


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

    from ferry.agent.state import Registry

    entries = sorted(Registry(directory).read().values(), key=lambda e: (e.model_id, e.version))
    if as_json:
        sys.stdout.write(json.dumps([asdict(e) for e in entries], indent=2) + "\n")
        return
    for e in entries:
        out.print(f"{e.model_id} {e.version}  {e.status}  {e.path}", highlight=False)


@agent_app.command("status")
def status(
    spec: Annotated[str, typer.Argument(help="org/name[@version]")],
    directory: DirOpt,
) -> None:
    """The path of an installed model, or why it is not available (exit 1)."""
    from ferry.agent.agent import Agent, ModelNotAvailableError

    repo, version = _spec(spec)
    try:
        path = Agent(directory, "http://unused.invalid", None).get_model_path(repo, version)
    except ModelNotAvailableError as exc:
        err.print(f"{exc.reason}: {exc.message}", highlight=False)
        raise typer.Exit(1) from None
    out.print(str(path), highlight=False)
