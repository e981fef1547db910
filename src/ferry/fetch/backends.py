"""The download backends behind one interface, and the one place that picks between them.

``native`` is Ferry's own engine (:class:`~ferry.fetch.engine.Fetcher`); ``aria2`` drives
an ``aria2c`` daemon over JSON-RPC for sites that already run aria2. Both take the same
requests, report the same progress events and leave verified files in the same places.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ferry.fetch.downloader import Downloader
from ferry.fetch.engine import Fetcher
from ferry.fetch.progress import ProgressListener
from ferry.fetch.session import open_session
from ferry.fetch.shared import SharedCache, SharedFetcher, scoped_bucket
from ferry.fetch.transfer import Segmenting
from ferry.settings import Settings
from ferry.store.blob import BlobStoreError, open_shared_cache
from ferry.store.cas import ContentStore

if TYPE_CHECKING:
    import httpx

    from ferry.egress import EgressPolicy
    from ferry.fetch.aria2 import Aria2Fetcher
    from ferry.fetch.wire import Wire

log = logging.getLogger(__name__)

__all__ = ["Downloader", "Downloads", "native_fetcher", "open_downloads", "open_transport"]


@asynccontextmanager
async def open_transport(
    settings: Settings,
    *,
    cert: Path | None = None,
    proxy: str | None = None,
    policy: EgressPolicy | None = None,
    auth: Mapping[str, str] | None = None,
) -> AsyncIterator[Wire | httpx.AsyncClient]:
    """What downloads stream over: aiohttp (HTTP/1.1, the fastest here), or with the
    ``http2`` setting an httpx client speaking HTTP/2 to servers that offer it. With
    ``policy`` every URL and address is checked (``fetch/guard.py``). ``auth``: an
    Authorization header by origin (fetch/routes.py), carried by aiohttp only, so a run
    given one streams over aiohttp whatever ``http2`` says."""
    if settings.http2 and not auth:
        from ferry.fetch.http import build_client

        async with build_client(
            cert=cert,
            proxy=proxy,
            timeout=settings.timeout,
            max_connections=settings.max_connections,
            http2=True,
            policy=policy,
        ) as client:
            yield client
        return
    async with open_session(
        cert=cert,
        proxy=proxy,
        timeout=settings.timeout,
        max_connections=settings.max_connections,
        policy=policy,
        auth=auth,
    ) as session:
        yield session


def segmenting_of(settings: Settings) -> Segmenting:
    return Segmenting(
        settings.segments,
        settings.segment_min_size,
        stall=settings.stall_timeout,
        enough_rate=settings.split_below_rate,
    )


def native_fetcher(
    settings: Settings,
    store: ContentStore,
    session: Wire | httpx.AsyncClient,
    listener: ProgressListener | None = None,
) -> Fetcher:
    return Fetcher(
        store,
        session,
        concurrency=settings.concurrency,
        retries=settings.retries,
        listener=listener,
        segmenting=segmenting_of(settings),
        max_connections=settings.max_connections,
        max_connections_per_host=settings.max_connections_per_host,
        rate_limit=settings.limit_rate or None,
        mirrors=settings.mirrors,
    )


class Downloads:
    """One run's way of downloading: the transport files stream over, and fetchers of the
    backend ``settings.fetch_backend`` names. With aria2, every fetcher made here drives
    one daemon (started by the first download, stopped by :meth:`aclose`)."""

    def __init__(
        self,
        settings: Settings,
        store: ContentStore,
        transport: Wire | httpx.AsyncClient,
        *,
        cert: Path | None = None,
        proxy: str | None = None,
        policy: EgressPolicy | None = None,
        shared: SharedCache | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.transport = transport
        self._cert = cert
        self._proxy = proxy
        self.policy = policy
        self._aria2: list[Aria2Fetcher] = []
        # the bucket machines share fetched files through (fetch/shared.py), if any
        self.shared = shared

    def fetcher(self, listener: ProgressListener | None = None) -> Downloader:
        """A fetcher reporting to ``listener``; all of them share limits' settings, the
        store, the shared tier and (with aria2) the daemon."""
        backend = self._backend(listener)
        return backend if self.shared is None else SharedFetcher(backend, self.shared)

    def _backend(self, listener: ProgressListener | None) -> Downloader:
        if self.settings.fetch_backend != "aria2":
            native = native_fetcher(self.settings, self.store, self.transport, listener)
            native.policy = self.policy
            return native
        from ferry.fetch.aria2 import Aria2Fetcher

        settings = self.settings
        fetcher = Aria2Fetcher(
            self.store,
            binary=settings.aria2_binary,
            state_dir=settings.aria2_dir,
            concurrency=settings.concurrency,
            retries=settings.retries,
            listener=listener,
            segmenting=segmenting_of(settings),
            rate_limit=settings.limit_rate or None,
            cert=self._cert,
            proxy=self._proxy,
            timeout=settings.timeout,
            mirrors=settings.mirrors,
            # The first fetcher owns the daemon; the others follow their files in it.
            daemon=self._aria2[0].daemon if self._aria2 else None,
        )
        fetcher.policy = self.policy
        self._aria2.append(fetcher)
        return fetcher

    async def aclose(self) -> None:
        # The daemon's owner last: the others stop following their files first.
        for fetcher in reversed(self._aria2):
            await fetcher.aclose()
        self._aria2.clear()
        if self.shared is not None:
            await self.shared.drain()


@asynccontextmanager
async def open_downloads(
    settings: Settings,
    store: ContentStore,
    *,
    cert: Path | None = None,
    proxy: str | None = None,
    policy: EgressPolicy | None = None,
    auth: Mapping[str, str] | None = None,
) -> AsyncIterator[Downloads]:
    """The :class:`Downloads` of one run, closed (daemon stopped, files shared) on exit."""
    async with contextlib.AsyncExitStack() as stack:
        transport = await stack.enter_async_context(
            open_transport(settings, cert=cert, proxy=proxy, policy=policy, auth=auth)
        )
        shared = None
        given = scoped_bucket()
        bucket = open_shared_cache(settings) if given is None else None
        if given is not None:
            shared = SharedCache(store, given)
        elif bucket is not None:
            try:
                shared = SharedCache(store, await stack.enter_async_context(bucket))
            except BlobStoreError as exc:
                # a cache, not a source: without it every file comes from its registry
                log.warning("the shared cache is not used: %s", exc)
        downloads = Downloads(
            settings, store, transport, cert=cert, proxy=proxy, policy=policy, shared=shared
        )
        try:
            yield downloads
        finally:
            await downloads.aclose()
