"""Keeping the cache of fetched files within ``cache_max_bytes``: after every bundle, at
every service cleanup, and on ``ferry cache prune``."""

from __future__ import annotations

from ferry.settings import Settings
from ferry.store.cache import PruneResult, prune
from ferry.store.cas import ContentStore

__all__ = ["trim_cache"]


def trim_cache(
    settings: Settings,
    *,
    max_bytes: int | None = None,
    min_age: float | None = None,
    dry_run: bool = False,
) -> PruneResult | None:
    """Evict least recently used files down to ``max_bytes`` (default: the setting);
    None when the setting is 0 (no limit) and no other cap was asked for."""
    cap = settings.cache_max_bytes if max_bytes is None else max_bytes
    if max_bytes is None and cap == 0:
        return None
    return prune(
        ContentStore(settings.blob_dir),
        cap,
        min_age=settings.cache_min_age if min_age is None else min_age,
        dry_run=dry_run,
    )
