"""Turns a bearer token into the principal it stands for, or refuses it.

Every request shows its token, so the lookup is on the hot path: a verified token is
kept in memory for ``cache_seconds`` (a revocation through this process takes effect at
once; one made elsewhere, such as ``ferry token revoke --data-dir``, within that time),
and ``last_used_at`` is written at most once per ``touch_interval`` per token rather than
on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ferry.auth.principal import Principal
from ferry.auth.tokens import hash_token, well_formed
from ferry.db.repository import utcnow
from ferry.db.tokens import TokenRecord, TokenRepository


class Authenticator:
    def __init__(
        self,
        tokens: TokenRepository,
        *,
        run: Callable[..., Awaitable[Any]] | None = None,
        write: Callable[..., Awaitable[Any]] | None = None,
        cache_seconds: float = 5.0,
        touch_interval: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tokens = tokens
        # how a repository call is made off the loop (the service's database threads)
        self._run = run or asyncio.to_thread
        self._write = write or asyncio.to_thread
        self.cache_seconds = cache_seconds
        self.touch_interval = touch_interval
        self._clock = clock
        self._cache: dict[str, tuple[float, TokenRecord | None]] = {}
        self._touched: dict[str, float] = {}

    async def authenticate(self, token: str) -> Principal | None:
        """The principal for ``token``; None when it is unknown, revoked or expired."""
        if not well_formed(token):
            return None  # never a database round trip for garbage
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self.cache_seconds:
            record = cached[1]
        else:
            record = await self._run(self.tokens.by_hash, digest)
            if len(self._cache) > 10_000:  # random garbage must not grow this forever
                self._cache.clear()
            self._cache[digest] = (now, record)
        if record is None or not record.active(self._clock()):
            return None
        if now - self._touched.get(record.id, float("-inf")) >= self.touch_interval:
            self._touched[record.id] = now
            await self._write(self.tokens.touch, record.id, self._clock())
        return record.principal()

    def forget(self, token_id: str) -> None:
        """Drop a revoked token from the cache so it stops working now, not in a while."""
        for digest, (_at, record) in list(self._cache.items()):
            if record is not None and record.id == token_id:
                del self._cache[digest]
