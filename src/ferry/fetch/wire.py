"""One GET, streamed, over either HTTP client: what a transfer needs from the wire.

The engine streams with aiohttp (HTTP/1.1; the fastest here, see docs/decisions.md). With
the ``http2`` setting it streams with httpx instead, which speaks HTTP/2 to servers that
offer it (ALPN over TLS): one connection multiplexing every request to a host. Both are
wrapped to the same small :class:`Answer`, and their exceptions to :class:`WireError`, so
:mod:`ferry.fetch.transfer` is written once.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol, cast

import aiohttp

if TYPE_CHECKING:
    import httpx

    from ferry.fetch.routes import Routes

__all__ = ["Answer", "Failure", "Wire", "WireError", "as_wire"]


class Failure(Enum):
    TRANSIENT = "transient"  # reset, refused, cut short, timed out: try again
    TLS = "tls"  # the certificate is not trusted: retrying will not help
    UNSUPPORTED = "unsupported"  # not an http(s) URL
    INVALID_URL = "invalid-url"
    FINAL = "final"  # too many redirects and the like
    REFUSED = "refused"  # a URL or address the egress policy does not allow


class WireError(Exception):
    def __init__(self, kind: Failure, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass
class Answer:
    status: int
    reason: str
    url: str
    headers: Mapping[str, str]  # case-insensitive
    content_length: int | None
    http_version: str
    chunks: AsyncIterator[bytes]


class Wire(Protocol):
    def get(self, url: str, headers: dict[str, str]) -> AbstractAsyncContextManager[Answer]: ...


def as_wire(session: aiohttp.ClientSession | httpx.AsyncClient | Wire) -> Wire:
    """The wire over ``session`` (an aiohttp session gets no proxy or netrc routing)."""
    if isinstance(session, aiohttp.ClientSession):
        return AiohttpWire(session)
    # Only HTTP/2 needs httpx, and an httpx client can only exist once httpx is imported:
    # a plain download never pays for importing it.
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(session, httpx.AsyncClient):
        return HttpxWire(session)
    return cast("Wire", session)


class AiohttpWire:
    def __init__(self, session: aiohttp.ClientSession, routes: Routes | None = None) -> None:
        self.session = session
        self.routes = routes

    @asynccontextmanager
    async def get(self, url: str, headers: dict[str, str]) -> AsyncIterator[Answer]:
        proxy, auth = self.routes.for_url(url) if self.routes is not None else (None, None)
        if auth is not None:
            headers = {**headers, "Authorization": auth}
        try:
            async with self.session.get(url, headers=headers, proxy=proxy) as resp:
                yield Answer(
                    status=resp.status,
                    reason=resp.reason or "",
                    url=str(resp.url),
                    headers=resp.headers,
                    content_length=resp.content_length,
                    http_version=f"HTTP/{resp.version.major}.{resp.version.minor}"
                    if resp.version
                    else "HTTP/1.1",
                    chunks=_aiohttp_chunks(resp),
                )
        except WireError:
            raise
        except Exception as exc:
            raise _aiohttp_failure(exc) from exc


async def _aiohttp_chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    except Exception as exc:
        raise _aiohttp_failure(exc) from exc


def _refusal(exc: BaseException) -> str | None:
    from ferry.egress import EgressRefused
    from ferry.fetch.guard import AddressRefused

    if isinstance(exc, EgressRefused):
        return exc.message
    if isinstance(exc, AddressRefused):
        return str(exc)
    cause = getattr(exc, "os_error", None) or exc.__cause__
    return _refusal(cause) if cause is not None and cause is not exc else None


def _aiohttp_failure(exc: Exception) -> Exception:
    refused = _refusal(exc) if "ferry.egress" in sys.modules else None
    if refused is not None:
        return WireError(Failure.REFUSED, refused)
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
        return WireError(Failure.TLS, str(exc))
    if isinstance(exc, aiohttp.NonHttpUrlClientError):
        return WireError(Failure.UNSUPPORTED, str(exc))
    if isinstance(exc, aiohttp.InvalidURL):
        return WireError(Failure.INVALID_URL, str(exc))
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError)):
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        return WireError(Failure.TRANSIENT, reason or type(exc).__name__)
    if isinstance(exc, aiohttp.ClientError):
        return WireError(Failure.FINAL, str(exc) or type(exc).__name__)
    return exc  # not the wire's: a bug, or an error of the caller's own


class HttpxWire:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @asynccontextmanager
    async def get(self, url: str, headers: dict[str, str]) -> AsyncIterator[Answer]:
        try:
            async with self.client.stream("GET", url, headers=headers) as resp:
                length = resp.headers.get("Content-Length")
                yield Answer(
                    status=resp.status_code,
                    reason=resp.reason_phrase,
                    url=str(resp.url),
                    headers=resp.headers,
                    content_length=int(length) if length and length.isdigit() else None,
                    http_version=resp.http_version,
                    chunks=_httpx_chunks(resp),
                )
        except WireError:
            raise
        except Exception as exc:
            raise _httpx_failure(exc) from exc


async def _httpx_chunks(resp: httpx.Response) -> AsyncIterator[bytes]:
    try:
        if resp.is_stream_consumed:
            # Only responses built in memory (httpx.MockTransport) arrive already read.
            yield resp.content
            return
        async for chunk in resp.aiter_raw():
            yield chunk
    except Exception as exc:
        raise _httpx_failure(exc) from exc


def _httpx_failure(exc: Exception) -> Exception:
    import httpx

    refused = _refusal(exc) if "ferry.egress" in sys.modules else None
    if refused is not None:
        return WireError(Failure.REFUSED, refused)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return WireError(Failure.UNSUPPORTED, str(exc))
    if isinstance(exc, httpx.InvalidURL):
        return WireError(Failure.INVALID_URL, str(exc))
    if isinstance(exc, httpx.TransportError):
        if _caused_by(exc, ssl.SSLCertVerificationError):
            return WireError(Failure.TLS, str(exc))
        if isinstance(exc, httpx.TimeoutException):
            return WireError(Failure.TRANSIENT, f"timed out ({type(exc).__name__})")
        return WireError(Failure.TRANSIENT, str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.HTTPError):
        return WireError(Failure.FINAL, str(exc) or type(exc).__name__)
    return exc


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, kind):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False
