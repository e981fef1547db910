"""``ferry packages``: the package store of a running Ferry service, from the shell.

``--server`` (or ``FERRY_URL`` / ``FERRY_SERVER``) and ``--token`` (or ``FERRY_TOKEN``)
name the service and the caller. Uploads and downloads stream (the file is never held in
memory) with a progress bar on a terminal. An upload hashes the file first and sends its
sha256 ahead of it, so the server refuses bytes that differ and an S3 store writes them
straight under their name; a download is checked against the package's sha256 while it
arrives and only then moved to its name. ``--json`` prints what the API answered, for
scripts.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from ferry.errors import (
    FerryError,
    FetchError,
    IntegrityError,
    NotAllowed,
    NotAuthenticated,
    UsageError,
)
from ferry.store.writeback import start_writeback
from ferry.units import human_bytes

if TYPE_CHECKING:
    import httpx

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
_CHUNK = 1 << 20
_QUEUED = 4
_OCTETS = "application/octet-stream"


@packages_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(help="The file to store.", exists=True, dir_okay=False)],
    name: Annotated[str, typer.Option("--name", help="Package name, e.g. agent.")],
    version: Annotated[str, typer.Option("--version", help="e.g. 1.4.2.")],
    platform: Annotated[str, typer.Option("--platform", help="e.g. linux, windows.")],
    arch: Annotated[str, typer.Option("--arch", help="e.g. x86_64, arm64.")],
    description: Annotated[str, typer.Option("--description", help="Free text.")] = "",
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Store FILE under name, version, platform and arch (a write token)."""
    size = file.stat().st_size
    # sent before the file: the server refuses bytes that do not hash to it, and an S3
    # store writes them straight under their name (no copy into place at the end)
    sha256 = _sha256_of(file, size)
    fields = {
        "name": name,
        "version": version,
        "platform": platform,
        "arch": arch,
        "description": description,
        "sha256": sha256,
    }
    with _client(server, token) as client, file.open("rb") as fh, _bar(size, "upload") as advance:
        # the fields go first: a duplicate is refused before any byte of the file is sent
        response = client.post(
            "/api/v1/packages",
            data=fields,
            files={"file": (file.name, cast(IO[bytes], _Counting(fh, advance)), _OCTETS)},
        )
    doc = _answer(client, response)
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
        f"{human_bytes(int(doc['size']))}, sha256 {doc['sha256']}",
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
    with _client(server, token) as client:
        params = {k: v for k, v in query.items() if v is not None}
        doc = _answer(client, client.get("/api/v1/packages", params=params))
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
    with _client(server, token) as client:
        doc = _answer(client, client.get(f"/api/v1/packages/{_checked_id(package_id)}"))
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
    with _client(server, token) as client:
        doc = _answer(client, client.get(f"/api/v1/packages/{pid}"))
        # the server's filename is a stranger's text: only its last part, never a path
        filename = Path(str(doc.get("filename") or pid)).name or pid
        dest = output / filename if output.is_dir() else output
        part = dest.with_name(dest.name + ".ferry-part")
        try:
            with (
                client.stream("GET", f"/api/v1/packages/{pid}/download") as response,
                _bar(int(doc["size"]), "download") as advance,
                part.open("wb") as fh,
            ):
                if response.status_code >= 400:
                    response.read()
                    _answer(client, response)
                with _Sink(fh) as sink:
                    for chunk in response.iter_bytes():
                        sink.put(chunk)
                        advance(len(chunk))
                digest = sink.digest
                os.fsync(fh.fileno())
            if digest.hexdigest() != doc["sha256"]:
                raise IntegrityError(
                    f"{filename}: the bytes received have sha256 {digest.hexdigest()}, "
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
    with _client(server, token) as client:
        _answer(client, client.delete(f"/api/v1/packages/{pid}"))
    err.print(f"deleted {pid}", highlight=False)


# ---- the wire ------------------------------------------------------------------------------


@contextmanager
def _client(server: str | None, token: str | None) -> Iterator[httpx.Client]:
    import httpx

    if not server:
        raise UsageError(
            "no server to talk to",
            hint="Pass --server URL, or set FERRY_URL (e.g. http://127.0.0.1:8000).",
        )
    if not token:
        raise NotAuthenticated(
            "no token for the package store",
            hint="Pass --token, or set FERRY_TOKEN (`ferry token create` makes one).",
        )
    try:
        with httpx.Client(
            base_url=server.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            # big files take their time; a silent server does not
            timeout=httpx.Timeout(60.0, write=None),
        ) as client:
            yield client
    except httpx.HTTPError as exc:
        raise FetchError(f"could not reach {server}: {exc}") from exc


def _answer(client: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    """The JSON of a good answer; the server's own words as a FerryError otherwise."""
    if response.status_code < 400:
        return response.json() if response.content else {}
    try:
        body = response.json()
        message = str(body.get("message") or body.get("title"))
    except (ValueError, AttributeError):
        message = response.text[:300]
    text = f"{client.base_url} answered {response.status_code}: {message}"
    kind: type[FerryError] = {401: NotAuthenticated, 403: NotAllowed}.get(
        response.status_code, FetchError if response.status_code >= 500 else UsageError
    )
    raise kind(text)


def _checked_id(text: str) -> str:
    # ids are 32 hex digits: anything else never reaches a URL path
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise UsageError(f"{text!r} is not a package id (32 hex digits; see `ferry packages list`)")
    return text


def _sha256_of(file: Path, size: int) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with file.open("rb", buffering=0) as fh, _bar(size, "sha256") as advance:
        while count := fh.readinto(buffer):
            digest.update(view[:count])
            advance(count)
    return digest.hexdigest()


class _Counting:
    """A file that reports every read to the progress bar (httpx streams it in chunks).

    Reads are at least :data:`_CHUNK` long, whatever httpx asks for (64 KiB): it sends
    each as it comes and only needs the total length, which it takes from the file's
    size; bigger pieces make fewer trips through httpx and fewer, fuller packets for the
    server to take in."""

    def __init__(self, fh: IO[bytes], advance: Any) -> None:
        self._fh = fh
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(max(size, _CHUNK) if size and size > 0 else _CHUNK)
        self._advance(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        # seek/tell/fileno for httpx's length; everything else is the file's
        return getattr(self._fh, name)


class _Sink:
    """A download's bytes written to ``fh`` and hashed in a thread of its own, so that the
    thread receiving them goes on receiving (hashing and writing let go of the GIL); the
    kernel starts putting each piece on disk at once, so the fsync at the end is short.
    What waits in between is bounded: :data:`_QUEUED` batches of about :data:`_CHUNK`."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.digest = hashlib.sha256()
        self._fh = fh
        self._offset = 0
        self._batch: list[bytes] = []
        self._batched = 0
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=_QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ferry-download", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._batch.append(data)
        self._batched += len(data)
        if self._batched >= _CHUNK:
            self._queue.put(self._batch)
            self._batch, self._batched = [], 0

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Everything put is written and flushed (and its failure raised) when this
        returns; after a failure of the caller's, only the thread is stopped."""
        if exc_type is None and self._batch:
            self._queue.put(self._batch)
        self._batch = []
        self._queue.put(None)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # only emptying the queue, so that put() never waits forever
            try:
                data = b"".join(batch) if len(batch) > 1 else batch[0]
                self._fh.write(data)
                self._fh.flush()
                start_writeback(self._fh.fileno(), self._offset, len(data))
                self._offset += len(data)
                self.digest.update(data)
            except BaseException as exc:
                self._error = exc


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
