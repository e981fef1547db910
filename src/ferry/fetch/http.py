"""The one place Ferry's HTTP client is built.

Everything that talks HTTP takes an ``httpx.AsyncClient`` made here, so TLS, proxies,
pooling and the User-Agent are decided once. Tests pass ``transport=`` (an
``httpx.MockTransport`` or any ``AsyncBaseTransport``) instead of patching the client.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ferry.fetch.routes import Routes
from ferry.fetch.tls import trust_context
from ferry.fetch.transport import ResolvingTransport
from ferry.fetch.useragent import user_agent

if TYPE_CHECKING:
    from ferry.egress import EgressPolicy

__all__ = ["build_client", "user_agent"]


def build_client(
    *,
    cert: Path | None = None,
    proxy: str | None = None,
    timeout: float = 60.0,
    max_connections: int = 32,
    http2: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    trust_env: bool = True,
    policy: EgressPolicy | None = None,
) -> httpx.AsyncClient:
    """Build the pooled async client used for every download.

    ``cert`` is a CA bundle file (or a directory of hashed certificates) replacing the
    default trust store, for mirrors behind a corporate CA. Without it and with
    ``trust_env``, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured, and the proxy
    variables (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) unless ``proxy`` is given,
    decided as for the download engine (``fetch/routes.py``, ``fetch/transport.py``).
    With ``policy`` (a service task), every URL, redirects included, and every address
    connected to directly is checked by it (``fetch/guard.py``).
    """
    hooks: dict[str, list[Any]] = {}
    if policy is not None:
        from ferry.fetch.guard import request_hook

        async def check(request: httpx.Request) -> None:
            await request_hook(policy, str(request.url))

        hooks["request"] = [check]
    # one context per bundle and process, shared by every client (fetch/tls.py)
    verify: ssl.SSLContext | bool = trust_context(cert) if trust_env or cert else True
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    if transport is None:
        transport = ResolvingTransport(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=trust_env),
            http2=http2,
            limits=limits,
            routes=Routes(proxy=proxy, from_environment=trust_env),
            policy=policy,
        )
        proxy = None  # the transport routes every request itself
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent()},
        verify=verify,
        proxy=proxy,
        # Concurrency is bounded by the fetcher's semaphore, so waiting for a pooled
        # connection is normal queueing and must not count as a timeout.
        timeout=httpx.Timeout(timeout, pool=None),
        limits=limits,
        http2=http2,
        follow_redirects=True,
        transport=transport,
        trust_env=trust_env,
        event_hooks=hooks,
    )
