"""``ferry packages``: the package store of a running Ferry service, from the shell.

``--server`` (or ``FERRY_URL`` / ``FERRY_SERVER``) and ``--token`` (or ``FERRY_TOKEN``)
name the service and the caller. Uploads and downloads stream (the file is never held in
memory) with a progress bar on a terminal. An upload sends the file's sha256 with it, so
the server refuses bytes that differ (how, :mod:`ferry.cli.client` says). Where the
service keeps packages in a bucket that checks digests itself, the file goes straight
there (a PUT the service signed with the sha256 in it), not through the service, which
then records it: half the bytes moved, and no second hop (``--via-server`` keeps to the
service, for a machine that cannot reach the bucket). A download is checked against the
package's sha256 while it arrives and only then moved to its name.
``--json`` prints what the API answered, for scripts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ferry.cli.client import CHUNK, ServiceClient, connect
from ferry.errors import (
    IntegrityError,
    UsageError,
)
from ferry.units import human_bytes

packages_app = typer.Typer(
    help="Upload, list, fetch and delete packages in a service's package store.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
# no emoji codes: a file name with ":smile:" in it is printed as it is (and the CLI does
# not load rich's emoji table, a fifth of a second, to say where it saved a file)
err = Console(stderr=True, soft_wrap=True, emoji=False)

ServerOpt = Annotated[
    str | None,
    typer.Option("--server", envvar=["FERRY_URL", "FERRY_SERVER"], help="The service's URL."),
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="FERRY_TOKEN", help="A bearer token.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@packages_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(help="The file to store.", exists=True, dir_okay=False)],
    name: Annotated[str, typer.Option("--name", help="Package name, e.g. agent.")],
    version: Annotated[str, typer.Option("--version", help="e.g. 1.4.2.")],
    platform: Annotated[str, typer.Option("--platform", help="e.g. linux, windows.")],
    arch: Annotated[str, typer.Option("--arch", help="e.g. x86_64, arm64.")],
    description: Annotated[str, typer.Option("--description", help="Free text.")] = "",
    known_sha256: Annotated[
        str | None,
        typer.Option(
            "--sha256",
            help="The file's SHA-256 if it is known already (a build's SHA256SUMS): the "
            "file is not hashed first, and bytes that do not match are refused.",
        ),
    ] = None,
    via_server: Annotated[
        bool,
        typer.Option(
            "--via-server",
            help="Send the file through the service even where its store (a bucket) "
            "would take it directly: for a machine that cannot reach the store.",
        ),
    ] = False,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Store FILE under name, version, platform and arch (a write token)."""
    size = file.stat().st_size
    if known_sha256 is not None:
        known_sha256 = known_sha256.strip().lower()
        if len(known_sha256) != 64 or any(c not in "0123456789abcdef" for c in known_sha256):
            raise UsageError(f"--sha256 {known_sha256!r} is not a SHA-256 (64 hex digits)")
    fields = {
        "name": name,
        "version": version,
        "platform": platform,
        "arch": arch,
        "description": description,
    }
    with connect(server, token) as client:
        # a server older than these terms says nothing: its limit is learnt at the 413,
        # and it only takes a sha256 before the file
        terms = client.json("GET", "/api/v1/packages", {"size": 1}).get("upload") or {}
        limit = terms.get("max_bytes")
        if limit is not None and size > int(limit):
            raise UsageError(
                f"{file}: {human_bytes(size)} is more than {client.base} takes "
                f"({human_bytes(int(limit))}, its package_max_bytes)"
            )
        # an S3 store takes bytes whose sha256 came first straight into the bucket (or
        # under their name, through the service): worth reading the file twice; elsewhere
        # it is hashed while it is sent
        bucket = bool(terms.get("sha256_first", True))
        sha256 = known_sha256
        if sha256 is None and bucket:
            sha256 = _sha256_of(file, size)
        doc, route = None, "through the service"
        if sha256 is not None and bucket and not via_server:
            doc, reason = _upload_direct(client, file, fields, size, sha256)
            route = "straight to the store" if doc is not None else f"{route}: {reason}"
        if doc is None:
            with _bar(size, "upload") as advance:
                doc, sha256 = client.upload(
                    "/api/v1/packages", fields, file, sha256=sha256, advance=advance
                )
    if doc.get("sha256") != sha256:
        # a server that ignored the field (an older one) and kept other bytes than these
        raise IntegrityError(
            f"{file.name}: the server stored bytes with sha256 {doc.get('sha256')}, "
            f"not the file's {sha256}; package {doc.get('id')}"
        )
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    err.print(
        f"stored {doc['name']} {doc['version']} ({doc['platform']}/{doc['arch']}), "
        f"{human_bytes(int(doc['size']))}, sha256 {doc['sha256']}; sent {route}",
        highlight=False,
    )
    print(doc["id"])


@packages_app.command("list")
def list_packages(
    name: Annotated[str | None, typer.Option("--name")] = None,
    version: Annotated[str | None, typer.Option("--version")] = None,
    platform: Annotated[str | None, typer.Option("--platform")] = None,
    arch: Annotated[str | None, typer.Option("--arch")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="In names and descriptions.")
    ] = None,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    size: Annotated[int, typer.Option("--size", min=1, max=200)] = 50,
    sort: Annotated[str, typer.Option("--sort", help="name, version or created.")] = "created",
    order: Annotated[str, typer.Option("--order", help="asc or desc.")] = "desc",
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """The packages the service keeps, newest first."""
    query = {
        "name": name,
        "version": version,
        "platform": platform,
        "arch": arch,
        "q": search,
        "page": page,
        "size": size,
        "sort": sort,
        "order": order,
    }
    with connect(server, token) as client:
        params = {k: v for k, v in query.items() if v is not None}
        doc = client.json("GET", "/api/v1/packages", params)
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    table = Table("name", "version", "platform", "arch", "size", "created", "owner")
    # the id is what show, download and delete take: never cut, even on a narrow screen
    table.add_column("id", no_wrap=True, min_width=32)
    for p in doc.get("packages", []):
        table.add_row(
            p["name"],
            p["version"],
            p["platform"],
            p["arch"],
            human_bytes(int(p["size"])),
            str(p["created_at"])[:19].replace("T", " "),
            p.get("owner") or "",
            p["id"],
        )
    out.print(table)
    err.print(f"{doc.get('total', 0)} package(s)", highlight=False)


@packages_app.command("show")
def show(
    package_id: Annotated[str, typer.Argument(help="The package's id.")],
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """One package: its fields, size and sha256."""
    with connect(server, token) as client:
        doc = client.json("GET", f"/api/v1/packages/{_checked_id(package_id)}")
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    for key in ("id", "name", "version", "platform", "arch", "description", "filename"):
        out.print(f"{key:12} {doc.get(key) or ''}", highlight=False)
    out.print(f"{'size':12} {human_bytes(int(doc['size']))} ({doc['size']} bytes)")
    out.print(f"{'sha256':12} {doc['sha256']}", highlight=False)
    out.print(f"{'created':12} {doc['created_at']} by {doc.get('owner') or '?'}", highlight=False)


@packages_app.command("download")
def download(
    package_id: Annotated[str, typer.Argument(help="The package's id.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="A directory, or the file to write.")
    ] = Path(),
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Fetch a package, checked against its sha256 before it takes its name."""
    pid = _checked_id(package_id)
    with connect(server, token) as client:
        doc = client.json("GET", f"/api/v1/packages/{pid}")
        # the server's filename is a stranger's text: only its last part, never a path
        filename = Path(str(doc.get("filename") or pid)).name or pid
        dest = output / filename if output.is_dir() else output
        part = dest.with_name(dest.name + ".ferry-part")
        try:
            with _bar(int(doc["size"]), "download") as advance, part.open("wb") as fh:
                # redirect=1: from an S3 store, straight from the bucket (a presigned URL)
                url = f"/api/v1/packages/{pid}/download?redirect=1"
                digest = client.download(url, fh, advance)
            if digest != doc["sha256"]:
                raise IntegrityError(
                    f"{filename}: the bytes received have sha256 {digest}, "
                    f"not the package's {doc['sha256']}"
                )
            part.replace(dest)
        finally:
            part.unlink(missing_ok=True)
    if as_json:
        print(json.dumps({**doc, "path": str(dest)}, indent=2))
        return
    err.print(f"saved {dest} ({human_bytes(int(doc['size']))}, sha256 verified)", highlight=False)


@packages_app.command("delete")
def delete(
    package_id: Annotated[str, typer.Argument(help="The package's id.")],
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a package (an admin, or the writer who uploaded it)."""
    pid = _checked_id(package_id)
    with connect(server, token) as client:
        client.json("DELETE", f"/api/v1/packages/{pid}")
    err.print(f"deleted {pid}", highlight=False)


# ---- the wire ------------------------------------------------------------------------------


def _checked_id(text: str) -> str:
    # ids are 32 hex digits: anything else never reaches a URL path
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise UsageError(f"{text!r} is not a package id (32 hex digits; see `ferry packages list`)")
    return text


def _upload_direct(
    client: ServiceClient, file: Path, fields: dict[str, str], size: int, sha256: str
) -> tuple[Any, str]:
    """PUT the file straight into the service's store where it offers that (a bucket that
    checks the sha256 itself), then have the service record it: the package's document,
    or None and why when the file is to go through the service instead."""
    plan_of = {**fields, "filename": file.name, "size": size, "sha256": sha256}
    status, body = client.call("POST", "/api/v1/packages/uploads", json_body=plan_of)
    if status in (404, 405):
        return None, "the service takes no direct uploads"  # one from before them
    plan = client.answer(status, body)  # a duplicate, a field or a size refused: its words
    direct = plan.get("direct")
    if not direct:
        return None, str(plan.get("reason") or "the service offered no direct upload")
    with _bar(size, "upload") as advance:
        client.put(str(direct["url"]), dict(direct["headers"]), file, advance)
    done = {"ticket": plan["ticket"]}
    return client.json("POST", "/api/v1/packages/uploads/complete", json_body=done), ""


def _sha256_of(file: Path, size: int) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with file.open("rb", buffering=0) as fh, _bar(size, "sha256") as advance:
        while count := fh.readinto(buffer):
            digest.update(view[:count])
            advance(count)
    return digest.hexdigest()


@contextmanager
def _bar(total: int, label: str) -> Iterator[Any]:
    """A Rich progress bar on a terminal, nothing in pipes and logs."""
    if not err.is_terminal:
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        label,
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
