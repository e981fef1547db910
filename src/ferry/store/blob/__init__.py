"""One interface for every place Ferry keeps blobs: this machine's disk or an S3 bucket.

``open_blob_store(settings)`` picks the backend from the ``blob_store`` setting. The S3
backend (and its client library) is imported only when a bucket is configured, so the
CLI's start-up does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferry.store.blob.interface import (
    BlobInfo,
    BlobKey,
    BlobNotFound,
    BlobRangeError,
    BlobStore,
    BlobStoreError,
    BlobWriter,
)
from ferry.store.blob.local import LocalBlobStore

if TYPE_CHECKING:
    from ferry.settings import Settings

__all__ = [
    "BlobInfo",
    "BlobKey",
    "BlobNotFound",
    "BlobRangeError",
    "BlobStore",
    "BlobStoreError",
    "BlobWriter",
    "LocalBlobStore",
    "open_blob_store",
]


def open_blob_store(settings: Settings) -> BlobStore:
    """The store the settings name; connects at first use (or ``async with``)."""
    if not settings.blob_store:
        return LocalBlobStore(settings.blob_dir)
    from ferry.store.blob.s3 import S3BlobStore

    return S3BlobStore(
        settings.blob_store,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        part_size=settings.s3_part_size,
        addressing_style=settings.s3_addressing_style,
        max_attempts=settings.retries + 1,
        read_timeout=settings.timeout,
    )
