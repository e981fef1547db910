"""``ferry models``: the model catalog of a running Ferry service, from the shell.

``import DIR --id org/name --version V`` publishes a directory as a version: each file is
hashed, the files an earlier version already holds with the same bytes are not sent
again, the rest stream up one by one (a failed file can be sent again), and the version
becomes visible only when all are there. ``list`` and ``show`` read the catalog.
``--server``/``FERRY_URL`` and ``--token``/``FERRY_TOKEN`` as for ``ferry packages``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console

from ferry.cli.client import ServiceClient, connect
from ferry.cli.packages import JsonOpt, ServerOpt, TokenOpt
from ferry.errors import UsageError
from ferry.filehash import sha256_of_file
from ferry.models.names import check_model_id, check_path, check_version
from ferry.units import human_bytes

models_app = typer.Typer(
    help="Publish and list models and datasets in a service's catalog.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, emoji=False)
_CHUNK = 1 << 20
KindOpt = Annotated[bool, typer.Option("--dataset", help="A dataset, not a model.")]


@models_app.command("import")
def import_dir(
    directory: Annotated[
        Path, typer.Argument(help="The model's files.", exists=True, file_okay=False)
    ],
    model_id: Annotated[str, typer.Option("--id", help="org/name or name.")],
    version: Annotated[str, typer.Option("--version", help="e.g. 1.0.0.")],
    task: Annotated[str | None, typer.Option("--task", help="e.g. text-generation.")] = None,
    language: Annotated[
        list[str] | None, typer.Option("--language", help="Repeatable, e.g. en.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A display name.")] = None,
    no_default: Annotated[
        bool, typer.Option("--no-default", help="Do not make it what 'main' serves.")
    ] = False,
    dataset: KindOpt = False,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Publish DIRECTORY as VERSION of a model (a write token)."""
    check_model_id(model_id)
    check_version(version)
    kind = "datasets" if dataset else "models"
    files = list(_walk(directory))
    if not files:
        raise UsageError(f"{directory}: no files to publish")
    listed = [_Entry(path, sha256_of_file(file), file.stat().st_size, file) for path, file in files]
    base = f"/api/{kind}/{quote(model_id)}"
    with connect(server, token) as client:
        held = _held(client, *client.call("GET", base))
        sent = 0
        for entry in listed:
            if (entry.sha256, entry.size) in held:
                continue
            url = f"{base}/versions/{quote(version)}/files/{quote(entry.path)}"
            if not as_json:
                err.print(f"sending {entry.path} ({human_bytes(entry.size)})")
            answer = client.json("PUT", url, body=_chunks(entry.file), length=entry.size)
            if answer.get("sha256") != entry.sha256:
                raise UsageError(f"{entry.path} changed while it was sent: run again")
            sent += 1
        doc: dict[str, Any] = {
            "files": [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in listed],
            "default": not no_default,
        }
        if task is not None:
            doc["task"] = task
        if language:
            doc["languages"] = language
        if name is not None:
            doc["name"] = name
        done = client.json("POST", f"{base}/versions/{quote(version)}/publish", json_body=doc)
    if as_json:
        sys.stdout.write(json.dumps({**done, "sent": sent}, indent=2) + "\n")
        return
    out.print(
        f"published {model_id} {version}: {len(listed)} files, {sent} sent "
        f"({len(listed) - sent} held by earlier versions), commit {done.get('commit')}",
        highlight=False,
    )


@models_app.command("pull")
def pull(
    spec: Annotated[str, typer.Argument(help="org/name or org/name@revision.")],
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            envvar="HF_ENDPOINT",
            help="A Hugging Face-compatible endpoint (default: HF_ENDPOINT, or the "
            "hf_endpoint setting).",
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="The name here (default: the revision's name)."),
    ] = None,
    dataset: KindOpt = False,
    as_json: JsonOpt = False,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The data directory to keep it in.")
    ] = None,
) -> None:
    """Fetch a model from a Hub-compatible endpoint into this side's catalog, every file
    verified (HF_TOKEN is sent to that endpoint only)."""
    import asyncio

    from ferry.fetch.progress import make_progress
    from ferry.models.pull import pull_model
    from ferry.settings import load_settings
    from ferry.store.kept import open_local_kept

    repo, _, revision = spec.partition("@")
    check_model_id(repo)
    settings = load_settings(config, data_dir=data_dir)
    where = endpoint or settings.hf_endpoint
    if not where:
        raise UsageError(
            "no endpoint to pull from",
            hint="Pass --endpoint URL, or set HF_ENDPOINT or the hf_endpoint setting.",
        )
    token = os.environ.get("HF_TOKEN") or None

    async def run() -> Any:
        async with open_local_kept(settings) as kept:
            return await pull_model(
                settings,
                kept,
                repo,
                revision or "main",
                kind="dataset" if dataset else "model",
                endpoint=where,
                token=token,
                version=version,
                listener=None if as_json else make_progress(err),
            )

    record = asyncio.run(run())
    doc = {
        "id": repo,
        "version": record.version,
        "commit": record.commit,
        "files": len(record.files),
        "size_bytes": record.size,
    }
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    out.print(
        f"pulled {repo} as version {record.version}: {len(record.files)} files "
        f"({human_bytes(record.size)}), commit {record.commit}",
        highlight=False,
    )


@models_app.command("list")
def list_models(
    search: Annotated[str | None, typer.Option("--search", help="In the id or name.")] = None,
    dataset: KindOpt = False,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """The models (or datasets) with a published version."""
    kind = "datasets" if dataset else "models"
    params = {"search": search} if search else {}
    with connect(server, token) as client:
        found = client.json("GET", f"/api/{kind}", params)
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return
    for m in found:
        versions = ", ".join(v["version"] for v in m["versions"])
        out.print(
            f"{m['id']}  default {m['default_version']}  versions {versions}", highlight=False
        )


@models_app.command("show")
def show(
    model_id: Annotated[str, typer.Argument(help="org/name or name.")],
    dataset: KindOpt = False,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """A model's versions and files."""
    check_model_id(model_id)
    kind = "datasets" if dataset else "models"
    with connect(server, token) as client:
        status, body = client.call("GET", f"/api/{kind}/{quote(model_id)}")
        if status == 404:
            raise UsageError(f"no {kind[:-1]} {model_id}")
        doc = client.answer(status, body)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    out.print(f"{doc['id']} (default {doc['default_version']})", highlight=False)
    for v in doc["versions"]:
        out.print(f"  {v['version']}  commit {v['commit']}  {human_bytes(v['size_bytes'])}")
        for f in v["files"]:
            out.print(f"    {f['path']}  {human_bytes(f['size_bytes'])}  {f['sha256']}")


@dataclass(frozen=True)
class _Entry:
    path: str
    sha256: str
    size: int
    file: Path


def _walk(directory: Path) -> Iterator[tuple[str, Path]]:
    """Regular files under ``directory`` (not .git, not links), by their relative path."""
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not Path(root, d).is_symlink())
        for name in sorted(names):
            file = Path(root, name)
            if file.is_symlink() or not file.is_file():
                continue
            path = file.relative_to(directory).as_posix()
            check_path(path)
            yield path, file


def _held(client: ServiceClient, status: int, body: bytes) -> set[tuple[str, int]]:
    """(sha256, size) of every file an earlier version of the model holds."""
    if status == 404:
        return set()
    doc = client.answer(status, body)
    return {(f["sha256"], f["size_bytes"]) for v in doc.get("versions", []) for f in v["files"]}


def _chunks(file: Path) -> Iterator[bytes]:
    with file.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk
