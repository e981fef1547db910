"""The sandbox's one way out: an HTTP proxy that goes only where the egress policy allows.

It listens on a Unix socket bound into the sandbox (``bridge.py`` carries the resolver's
connections to it). Each connection brings one request head, parsed with h11:

- ``CONNECT host:port`` (HTTPS): allowed origin → resolve, drop every address the policy
  refuses (DNS rebinding is checked here, on what is connected to), connect, answer 200
  and carry bytes both ways;
- ``GET http://host:port/path`` (plain HTTP): the same checks, then the request is sent on
  in origin form with ``Connection: close``, so a second request on the same connection
  cannot go somewhere else unchecked.

Anything else, or a refused place, gets a 403 with the reason (uv and npm print it), and
the refusal is kept for the task's report. With an upstream proxy configured (the
operator's), connections go through it: Ferry checks the host, the operator's proxy the
address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import h11

from ferry.egress import EgressPolicy, origin_of

log = logging.getLogger(__name__)

_HEAD_LIMIT = 64 * 1024
_HEAD_TIMEOUT = 30.0
_CONNECT_TIMEOUT = 30.0


@dataclass
class EgressProxy:
    policy: EgressPolicy
    upstream: str | None = None  # the operator's own proxy, if any
    refusals: list[str] = field(default_factory=list)
    _server: asyncio.AbstractServer | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, path: Path) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=str(path))
        # the sandbox's user must be able to connect (only it and Ferry can reach the dir)
        await asyncio.to_thread(path.chmod, 0o777)

    async def close(self) -> None:
        """Stop listening and end every connection still open (the resolver is gone)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except Exception:  # one bad connection must not end the proxy
            log.debug("egress proxy connection failed", exc_info=True)
        except asyncio.CancelledError:
            # the proxy is closing: end quietly. A handler task left cancelled makes
            # Python 3.11's streams log "Exception in callback" at every shutdown.
            writer.close()
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_HEAD_LIMIT)
        request = await asyncio.wait_for(_read_head(conn, reader), _HEAD_TIMEOUT)
        if request is None:
            return
        method = request.method.decode("ascii", "replace").upper()
        target = request.target.decode("ascii", "replace")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            url = f"https://{host}:{port}/" if port.isdigit() else ""
        else:
            url = target
        origin = origin_of(url)
        reason = self.policy.refusal(url) if origin else f"not a proxy request: {method}"
        if reason is None and origin is not None:
            try:
                up_reader, up_writer = await self._open(origin[1], origin[2])
            except _Refused as exc:
                reason = str(exc)
            except OSError as exc:
                await _answer(writer, 502, f"cannot connect to {origin[1]}: {exc.strerror}")
                return
        if reason is not None:
            self.refusals.append(reason)
            await _answer(writer, 403, reason)
            return
        try:
            if method == "CONNECT":
                await _answer(writer, 200, "Connection established")
            else:
                up_writer.write(_origin_form(request))
            rest = conn.trailing_data[0]
            if rest:
                up_writer.write(rest)
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            up_writer.close()

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream:
            return await self._through_upstream(host, port)
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(i[4][0]) for i in infos))
        allowed = [a for a in addresses if self.policy.address_refusal(host, port, a) is None]
        if not allowed:
            reason = self.policy.address_refusal(host, port, addresses[0]) if addresses else None
            raise _Refused(reason or f"{host} did not resolve")
        last: OSError | None = None
        for address in allowed:
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(address, port), _CONNECT_TIMEOUT
                )
            except OSError as exc:
                last = exc
        assert last is not None
        raise last

    async def _through_upstream(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.upstream is not None
        parts = urlsplit(self.upstream)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 80), _CONNECT_TIMEOUT
        )
        writer.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        status = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        if b" 200" not in status:
            writer.close()
            raise OSError(0, f"the upstream proxy answered {status.decode(errors='replace')}")
        return reader, writer


class _Refused(Exception):
    pass


async def _read_head(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            return event
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            if not data:
                return None
            conn.receive_data(data)
        else:
            return None


def _origin_form(request: h11.Request) -> bytes:
    target = urlsplit(request.target.decode("ascii", "replace"))
    path = target.path or "/"
    if target.query:
        path += "?" + target.query
    lines = [f"{request.method.decode()} {path} HTTP/1.1"]
    for name, value in request.headers:
        lowered = name.lower()
        if lowered in (b"connection", b"proxy-connection", b"proxy-authorization", b"keep-alive"):
            continue
        lines.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    body = (reason + "\n").encode()
    phrase = {200: "Connection established", 403: "Forbidden", 502: "Bad Gateway"}[status]
    head = f"HTTP/1.1 {status} {phrase}\r\n"
    if status != 200:
        head += f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    writer.write((head + "\r\n").encode() + (body if status != 200 else b""))
    await writer.drain()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


def socket_path_ok(path: Path) -> bool:
    # AF_UNIX paths are limited to 108 bytes
    return len(os.fsencode(path)) < 100
