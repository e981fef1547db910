"""The client of ``ferry packages`` and ``ferry models`` for a running service: JSON calls,
and big bodies sent and received with as little Python per byte as the wire allows.

urllib3 rather than httpx (the rest of the CLI's client): httpx receives a body 64 KiB at
a time through h11, in Python, which cost 1.3 s of CPU for a 2 GB download here against
0.4 s for urllib3, which reads through http.client into pieces of any size (by hand,
2026-12-06, a 2 GB package from a local ``ferry serve``). That CPU is taken from hashing
the same bytes, on the same two cores. It honours the same settings as httpx does: the
proxy variables of the environment (``HTTPS_PROXY``, ``NO_PROXY`` and friends, read by
the standard library) and httpx's trust store (certifi, or ``SSL_CERT_FILE`` /
``SSL_CERT_DIR``), loaded at the first https URL.

An upload's sha256 goes where it costs least (the list's ``upload.sha256_first`` says
which): before the file when the store is S3, which then writes the bytes straight under
their name, so the file is hashed first; otherwise after it, hashed in a thread while it
is sent, so the file is read once. Either way the server refuses bytes that differ, and
nothing is stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.fields import RequestField
from urllib3.filepost import choose_boundary

from ferry.errors import FerryError, FetchError, NotAllowed, NotAuthenticated, UsageError
from ferry.heap import keep_freed_buffers
from ferry.store.writeback import write_out

__all__ = ["ServiceClient", "connect"]

CHUNK = 1 << 20
_QUEUED = 4  # pieces waiting for the download's writer, or for the upload's hash
_REDIRECTS = 3
_OCTETS = "application/octet-stream"

Advance = Callable[[int], object]


class ServiceClient:
    """Calls to one service with one token. A context manager: connections close at exit."""

    def __init__(self, server: str, token: str) -> None:
        self.base = server.rstrip("/")
        if urlsplit(self.base).scheme not in ("http", "https"):
            raise UsageError(f"{server!r} is not an http:// or https:// URL")
        self._auth = {"Authorization": f"Bearer {token}"}
        # by proxy, and whether TLS is spoken: the trust store is only loaded for https
        self._pools: dict[tuple[str | None, bool], urllib3.PoolManager] = {}
        # big bodies go through here a fresh 1 MiB piece per read: see ferry.heap
        keep_freed_buffers()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *_: object) -> None:
        for pool in self._pools.values():
            pool.clear()

    # -- calls -------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        json_body: Any = None,
        body: Iterator[bytes] | None = None,
        length: int | None = None,
    ) -> tuple[int, bytes]:
        """The status and body of the answer, whatever it is. ``body`` is streamed, with
        ``length`` as its Content-Length."""
        url = self.base + path + (f"?{urlencode(params)}" if params else "")
        headers = dict(self._auth)
        sent: bytes | Iterator[bytes] | None = body
        if json_body is not None:
            sent = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if length is not None:
            headers["Content-Length"] = str(length)
        response = self._request(method, url, headers, body=sent)
        return response.status, response.data

    def json(self, method: str, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """The JSON of a good answer (None for an empty one); the server's words as a
        :class:`FerryError` otherwise. ``kw`` as for :meth:`call`."""
        return self.answer(*self.call(method, path, params, **kw))

    def answer(self, status: int, body: bytes) -> Any:
        """The JSON of a good answer; the server's own words as a FerryError otherwise."""
        return _answer(self.base, status, body)

    # -- big bodies --------------------------------------------------------------------------

    def upload(
        self,
        path: str,
        fields: dict[str, str],
        file: Path,
        *,
        sha256: str | None,
        advance: Advance,
    ) -> tuple[Any, str]:
        """POST ``fields`` and ``file`` as a multipart form, fields first (a duplicate is
        refused before the file is sent). ``sha256`` known: sent before the file;
        None: the file is hashed while it is sent and the digest sent after it. Returns
        the server's document and the file's sha256."""
        size = file.stat().st_size
        form = _Form(fields, file, size, sha256)
        headers = {
            **self._auth,
            "Content-Type": f"multipart/form-data; boundary={form.boundary}",
            "Content-Length": str(form.length),
        }
        with file.open("rb", buffering=0) as fh:
            response = self._request(
                "POST", self.base + path, headers, body=form.chunks(fh, advance)
            )
        return _answer(self.base, response.status, response.data), form.digest()

    def put(self, url: str, headers: dict[str, str], file: Path, advance: Advance) -> None:
        """PUT ``file`` to a URL the server signed for the store (a presigned S3 URL, which
        carries its own authority: the token is never sent there), with ``headers``."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(f"{self.base} gave an upload URL that is not http(s): {url!r}")
        size = file.stat().st_size
        with file.open("rb", buffering=0) as fh:
            try:
                response = self._request(
                    "PUT", url, dict(headers), body=_advancing(_pieces(fh, size, file), advance)
                )
            except FetchError as exc:
                raise FetchError(
                    f"{exc}; upload with --via-server if this machine cannot reach the store"
                ) from exc
        if response.status >= 300:
            raise FetchError(
                f"the store at {_origin(url)} refused {file.name} (HTTP {response.status}): "
                f"{_s3_words(response.data)}"
            )

    def download(self, path: str, fh: IO[bytes], advance: Advance) -> str:
        """GET ``path`` into ``fh`` (following the server to a presigned URL, which never
        sees the token) and return the sha256 of what arrived; fsynced when this returns."""
        url, headers = self.base + path, self._auth
        for _ in range(_REDIRECTS + 1):
            response = self._request("GET", url, headers, preload_content=False)
            location = response.headers.get("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                break
            response.drain_conn()
            url = urljoin(url, location)
            if urlsplit(url).scheme not in ("http", "https"):
                raise FetchError(f"{self.base} redirected a download to {url!r}")
            if _origin(url) != _origin(self.base):
                headers = {}  # the token is the server's, not the storage's
        else:
            raise FetchError(f"{self.base} redirected a download more than {_REDIRECTS} times")
        sink = _Sink(fh)
        try:
            with sink:
                if response.status >= 300:
                    _answer(self.base, response.status, response.read())
                while data := response.read(CHUNK, decode_content=False):
                    sink.put(data)
                    advance(len(data))
        except Urllib3Error as exc:
            raise FetchError(f"the download from {_origin(url)} broke off: {exc}") from exc
        finally:
            response.release_conn()
        return sink.digest.hexdigest()

    # -- the wire ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        *,
        body: bytes | Iterator[bytes] | None = None,
        preload_content: bool = True,
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool(url).request(
                method,
                url,
                headers=headers,
                body=body,
                preload_content=preload_content,
                decode_content=False,
                redirect=False,
            )
        except Urllib3Error as exc:
            raise FetchError(f"could not reach {_origin(url)}: {exc}") from exc

    def _pool(self, url: str) -> urllib3.PoolManager:
        proxy = _proxy_for(url)
        tls = urlsplit(url).scheme == "https" or (proxy or "").startswith("https:")
        pool = self._pools.get((proxy, tls))
        if pool is None:
            options: dict[str, Any] = {
                # a silent server is given up on; a big body takes its time
                "timeout": urllib3.Timeout(connect=60.0, read=60.0),
                # a body that is a stream is never sent twice
                "retries": urllib3.Retry(connect=2, read=0, redirect=0, status=0, other=0),
            }
            if tls:
                options["ssl_context"] = _trust_store()
            pool = (
                urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
            )
            self._pools[(proxy, tls)] = pool
        return pool


@contextmanager
def connect(server: str | None, token: str | None) -> Iterator[ServiceClient]:
    """A client of ``server`` (``--server`` / ``FERRY_URL``) with ``token``; both are
    needed, and their absence is said plainly before anything is sent."""
    if not server:
        raise UsageError(
            "no server to talk to",
            hint="Pass --server URL, or set FERRY_URL (e.g. http://127.0.0.1:8000).",
        )
    if not token:
        raise NotAuthenticated(
            "no token for the service",
            hint="Pass --token, or set FERRY_TOKEN (`ferry token create` makes one).",
        )
    with ServiceClient(server, token) as client:
        yield client


class _Form:
    """A multipart form streamed from a file: the fields, the sha256 before the file when
    it is known, the file, and the sha256 after it when it is not; its length known up
    front (a Content-Length, not chunks: the server refuses a body past its limit before
    reading it)."""

    def __init__(self, fields: dict[str, str], file: Path, size: int, sha256: str | None):
        self.boundary = choose_boundary()
        self._file = file
        self._size = size
        self._given = sha256
        self._hasher = hashlib.sha256() if sha256 is None else None
        self._head = b"".join(self._part(name, value.encode()) for name, value in fields.items())
        if sha256 is not None:
            self._head += self._part("sha256", sha256.encode())
        self._head += self._header("file", file.name, _OCTETS)
        self._tail_length = (
            2 + (len(self._part("sha256", b"0" * 64)) if self._hasher else 0) + len(self._end)
        )

    @property
    def length(self) -> int:
        return len(self._head) + self._size + self._tail_length

    @property
    def _end(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def _header(
        self, name: str, filename: str | None = None, content_type: str | None = None
    ) -> bytes:
        field = RequestField(name=name, data=b"", filename=filename)
        field.make_multipart(content_type=content_type)
        return f"--{self.boundary}\r\n".encode() + field.render_headers().encode()

    def _part(self, name: str, value: bytes) -> bytes:
        return self._header(name) + value + b"\r\n"

    def chunks(self, fh: IO[bytes], advance: Advance) -> Iterator[bytes]:
        yield self._head
        hashing = (
            ThreadPoolExecutor(1, thread_name_prefix="ferry-upload-hash") if self._hasher else None
        )
        pending: list[Future[None]] = []
        try:
            for data in _pieces(fh, self._size, self._file):
                if hashing is not None:
                    assert self._hasher is not None
                    # the hash runs beside the send of the same bytes (both let go of the GIL)
                    pending.append(hashing.submit(self._hasher.update, data))
                    if len(pending) > _QUEUED:
                        pending.pop(0).result()
                yield data
                advance(len(data))
            for future in pending:
                future.result()
        finally:
            if hashing is not None:
                hashing.shutdown(wait=True, cancel_futures=True)
        tail = b"\r\n"
        if self._hasher is not None:
            tail += self._part("sha256", self._hasher.hexdigest().encode())
        yield tail + self._end

    def digest(self) -> str:
        if self._given is not None:
            return self._given
        assert self._hasher is not None
        return self._hasher.hexdigest()


def _pieces(fh: IO[bytes], size: int, file: Path) -> Iterator[bytes]:
    """``size`` bytes of ``fh`` in pieces of :data:`CHUNK`: exactly the length announced."""
    left = size
    while left:
        data = fh.read(min(CHUNK, left))
        if not data:
            raise FetchError(f"{file.name} got shorter while it was being sent")
        left -= len(data)
        yield data


def _advancing(pieces: Iterator[bytes], advance: Advance) -> Iterator[bytes]:
    for data in pieces:
        yield data
        advance(len(data))


def _s3_words(body: bytes) -> str:
    """The code and message of an S3 error document (XML), or the start of the body."""
    text = body[:4000].decode("utf-8", "replace")
    found = [re.search(rf"<{tag}>([^<]{{1,300}})</{tag}>", text) for tag in ("Code", "Message")]
    words = ": ".join(m[1] for m in found if m is not None)
    return words or text[:300].strip() or "no reason given"


class _Sink:
    """A download's bytes written to ``fh`` by the thread receiving them and hashed in a
    thread of its own (hashlib lets go of the GIL); the kernel starts putting each piece on
    disk at once, so the fsync at the end is short. What waits for the hash is bounded:
    :data:`_QUEUED` pieces.

    The writes stay with the receiving thread: hashing 2 GB takes 1.6 s of CPU here,
    receiving it 0.8 s and writing it into the page cache 0.6-0.9 s, so receiving and
    writing on one thread and hashing on another keeps two cores about evenly busy. With
    writing and hashing on the one thread (the first version) that thread was what the
    download waited for (py-spy: the receiving thread waiting for room 0.6 s of 4.1 s);
    with a thread each, three threads took turns on two cores and the download was
    slower still (2026-12-06)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.digest = hashlib.sha256()
        self._fh = fh
        self._offset = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED)
        self._thread = threading.Thread(target=self._run, name="ferry-download", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> None:
        write_out(self._fh, data, self._offset)
        self._offset += len(data)
        self._queue.put(data)

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Everything put is hashed and fsynced when this returns (unless the caller
        failed: then only the thread is stopped)."""
        self._queue.put(None)
        self._thread.join()
        if exc_type is None:
            os.fsync(self._fh.fileno())

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self.digest.update(data)


def _trust_store() -> ssl.SSLContext:
    """The CAs every other Ferry call trusts (httpx's choice, made the same way):
    ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi's bundle. Not httpx's own
    function: importing httpx took 0.1 s of the CLI's start, for a plain http server too."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _answer(base: str, status: int, body: bytes) -> Any:
    """The JSON of a good answer; the server's own words as a FerryError otherwise."""
    if status < 300:
        return json.loads(body) if body else None
    try:
        doc = json.loads(body)
        message = str(doc.get("message") or doc.get("title"))
    except (ValueError, AttributeError):
        message = body[:300].decode("utf-8", "replace")
    text = f"{base} answered {status}: {message}"
    kind: type[FerryError] = {401: NotAuthenticated, 403: NotAllowed}.get(
        status, FetchError if status >= 500 else UsageError
    )
    raise kind(text)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``, as curl, pip and httpx read it."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    # proxy_bypass reads NO_PROXY (the environment's own, off macOS and Windows)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"
