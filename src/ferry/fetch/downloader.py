"""What every download backend offers (the native engine, aria2, the shared cache in
front of either): one interface, so callers never know which one runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ferry.fetch.control import Batch
from ferry.fetch.request import FetchReport, FetchRequest, FetchResult

__all__ = ["Downloader"]


class Downloader(Protocol):
    """What every backend offers; see :class:`~ferry.fetch.engine.Fetcher`."""

    async def fetch_all(
        self, requests: Sequence[FetchRequest], *, batch: Batch | None = None
    ) -> FetchReport: ...

    async def fetch_one(
        self, request: FetchRequest, *, batch: Batch | None = None
    ) -> FetchResult: ...
