"""The httpx transport every client from ``fetch/http.py`` sends through, built from public
httpx and httpcore API only.

It exists for two things httpx's own transport cannot be asked for: its connection pool
takes the network backend of ``fetch/dns.py`` (one lookup per host and port, and the
egress policy's check of every address connected to), which httpx does not expose; and
proxies are decided by ``fetch/routes.py``, as for the aiohttp engine, because httpx stops
reading the proxy variables once it is handed a transport.

Direct requests go through one httpcore pool over that backend. A proxied request goes
through an ``httpx.AsyncHTTPTransport`` for its proxy (one per proxy URL, made on first
use): the proxy resolves the names it is asked for, so, as before, the egress policy
checks the URL (the client's request hook) and not the address.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpcore
import httpx

from ferry.fetch.dns import CachingResolverBackend
from ferry.fetch.routes import Routes

if TYPE_CHECKING:
    from ferry.egress import EgressPolicy

__all__ = ["ResolvingTransport"]

# httpcore's exceptions and the public httpx classes callers catch, as httpx's own
# transport maps them; the most specific match wins (ReadTimeout, not TimeoutException).
_MAPPED: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
)


def httpx_error(exc: Exception) -> type[httpx.TransportError] | None:
    """The httpx class an httpcore exception surfaces as; None when it is not httpcore's."""
    found: type[httpx.TransportError] | None = None
    for source, target in _MAPPED:
        if isinstance(exc, source) and (found is None or issubclass(target, found)):
            found = target
    return found


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        target = httpx_error(exc)
        if target is None:
            raise  # not httpcore's: the egress policy's refusal, or a bug
        raise target(str(exc)) from exc


class _Body(httpx.AsyncByteStream):
    """The response body, its read errors surfacing as httpx's (a cut-off body is a
    ``RemoteProtocolError`` or ``ReadError`` to every caller, however it is read)."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _mapped():
                await close()


class ResolvingTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        http2: bool,
        limits: httpx.Limits,
        routes: Routes,
        policy: EgressPolicy | None = None,
    ) -> None:
        self.resolver = CachingResolverBackend()
        self.resolver.policy = policy
        self._ssl_context = ssl_context
        self._http2 = http2
        self._limits = limits
        self._routes = routes
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=self.resolver,
        )
        self._proxied: dict[str, httpx.AsyncHTTPTransport] = {}

    def _through_proxy(self, url: httpx.URL) -> httpx.AsyncHTTPTransport | None:
        if url.scheme not in ("http", "https"):
            return None  # the pool refuses it as UnsupportedProtocol, as httpx's would
        proxy, _auth = self._routes.for_url(str(url))
        if proxy is None:
            return None
        if "://" not in proxy:
            proxy = "http://" + proxy  # "host:port", as httpx reads the variables
        transport = self._proxied.get(proxy)
        if transport is None:
            transport = self._proxied[proxy] = httpx.AsyncHTTPTransport(
                proxy=proxy,
                verify=self._ssl_context,
                http2=self._http2,
                limits=self._limits,
            )
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxied = self._through_proxy(request.url)
        if proxied is not None:
            return await proxied.handle_async_request(request)
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        sent = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped():
            answer = await self._pool.handle_async_request(sent)
        assert isinstance(answer.stream, AsyncIterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        proxied = list(self._proxied.values())
        self._proxied.clear()
        with _mapped():
            await self._pool.aclose()
        for transport in proxied:
            await transport.aclose()
