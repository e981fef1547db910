"""One interface for every place Ferry keeps blobs: this machine's disk or an S3 bucket.

``open_blob_store(settings)`` picks the backend from the ``blob_store`` setting. The S3
backend (and its client library) is imported only when a bucket is configured, so the
CLI's start-up does not pay for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ferry.store.blob.interface import (
    BlobInfo,
    BlobKey,
    BlobNotFound,
    BlobRangeError,
    BlobStore,
    BlobStoreError,
    BlobWriter,
    NoDirectUpload,
    PresignedPut,
)
from ferry.store.blob.local import LocalBlobStore

if TYPE_CHECKING:
    from ferry.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "BlobInfo",
    "BlobKey",
    "BlobNotFound",
    "BlobRangeError",
    "BlobStore",
    "BlobStoreError",
    "BlobWriter",
    "LocalBlobStore",
    "NoDirectUpload",
    "PresignedPut",
    "open_blob_store",
    "open_bucket",
    "open_shared_cache",
]


def open_blob_store(settings: Settings) -> BlobStore:
    """The store of what Ferry keeps (packages, task archives): ``blob_store``'s bucket, or
    else ``store_dir`` on this disk. Connects at first use (or ``async with``).

    Never the cache of fetched files (``blob_dir``): the cache evicts what was not used
    lately, and nothing kept may go that way.
    """
    if not settings.blob_store:
        return LocalBlobStore(settings.store_dir)
    return _s3(settings, settings.blob_store)


def open_shared_cache(settings: Settings) -> BlobStore | None:
    """Where fetched files are shared between machines: ``<blob_store>/cache`` when the
    kept store is a bucket (and ``shared_cache`` is on), else None (the local cache alone).

    A prefix of its own: the kept store's listing and collection never see it, and an S3
    lifecycle rule on it can expire what was not fetched lately.
    """
    if not settings.blob_store or not settings.shared_cache:
        return None
    return _s3(settings, settings.blob_store.rstrip("/") + "/cache")


async def open_bucket(settings: Settings) -> BlobStore | None:
    """The shared cache's bucket, opened (checked) for a long-running process to hand every
    task's downloads (ferry.fetch.shared.bucket_scope); None when there is none or it
    cannot be used (a cache, not a source: a warning, and every file from its registry)."""
    bucket = open_shared_cache(settings)
    if bucket is None:
        return None
    try:
        return await bucket.__aenter__()
    except BlobStoreError as exc:
        log.warning("the shared cache is not used: %s", exc)
        return None


def _s3(settings: Settings, url: str) -> BlobStore:
    from ferry.store.blob.s3 import S3BlobStore

    return S3BlobStore(
        url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        part_size=settings.s3_part_size,
        addressing_style=settings.s3_addressing_style,
        max_attempts=settings.retries + 1,
        read_timeout=settings.timeout,
    )
