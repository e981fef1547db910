"""The HTTP session the download engine streams files with (aiohttp).

Downloads are the one place where the HTTP client's own cost decides the speed: hundreds
of small files, or one file at a gigabyte a second. Measured on loopback (bench/RESULTS.md),
aiohttp fetched 500 small files in 0.16 s where httpx took 0.55-0.75 s, and streamed 1 GiB
in 0.66 s against 1.9-2.5 s; so the engine streams with aiohttp, while the rest of Ferry
(index pages, registry documents, metadata ranges: few requests each) keeps httpx.

TLS, proxies and timeouts are decided here as ``fetch/http.py`` decides them for httpx:
``cert`` replaces the trust store (a file or a directory of hashed certificates); without
it the default store applies, which honours ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``. With
``trust_env``, ``HTTP(S)_PROXY`` / ``NO_PROXY`` and ``~/.netrc`` apply
(``fetch/routes.py``), and an explicit ``proxy`` wins. Host names are resolved once per
host and reused (the connector's DNS cache, which also merges simultaneous lookups: some
resolvers drop bursts of them).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from ferry.fetch.routes import Routes
from ferry.fetch.useragent import user_agent
from ferry.fetch.wire import AiohttpWire

if TYPE_CHECKING:
    from ferry.egress import EgressPolicy

__all__ = ["open_session", "ssl_context"]


def _cert_variables() -> tuple[str | None, str | None]:
    return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")


_CERT_VARIABLES_AT_IMPORT = _cert_variables()


def ssl_context(cert: Path | None) -> ssl.SSLContext | bool:
    """A context trusting ``cert``; True (aiohttp's default context) without one."""
    if cert is None:
        if _cert_variables() != _CERT_VARIABLES_AT_IMPORT:
            return ssl.create_default_context()  # read now: the variables changed
        # aiohttp built its default context (the system store, SSL_CERT_FILE/_DIR as they
        # were) at import, next to this module; another costs 25-90 ms per session.
        return True
    from ferry.fetch.tls import trust_context

    return trust_context(Path(cert))  # built once per bundle, shared by every session


@asynccontextmanager
async def open_session(
    *,
    cert: Path | None = None,
    proxy: str | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109 - per read, passed to aiohttp
    max_connections: int = 16,
    max_connections_per_host: int = 0,
    trust_env: bool = True,
    policy: EgressPolicy | None = None,
    auth: Mapping[str, str] | None = None,
) -> AsyncIterator[AiohttpWire]:
    """A pooled session for downloads; ``timeout`` bounds connecting and each read.
    With ``policy`` (a service task), every URL and every address is checked by it."""
    extra: dict[str, Any] = {}
    if policy is not None:
        from ferry.fetch.guard import PolicyResolver, policy_middleware

        extra["resolver"] = PolicyResolver(policy)
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=max_connections_per_host,
        ssl=ssl_context(cert),
        ttl_dns_cache=300,
        **extra,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent()},
        # No total: a 20 GB model takes as long as it takes; a stalled read does not.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
        # The hash is of the file as stored on the server: never decode the body.
        auto_decompress=False,
        # Proxies and netrc are looked up by Routes, once per host: aiohttp's own
        # trust_env reads the environment and ~/.netrc (in a thread) for every request,
        # which cost a third of the time of 500 small downloads.
        trust_env=False,
        read_bufsize=1 << 20,
        middlewares=(policy_middleware(policy),) if policy is not None else (),
    )
    try:
        yield AiohttpWire(session, Routes(proxy=proxy, from_environment=trust_env, auth=auth))
    finally:
        await session.close()
