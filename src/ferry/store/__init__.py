"""Where fetched artifacts live: a content-addressed store of blobs keyed by sha256."""

from ferry.store.cas import ContentStore, check_sha256

__all__ = ["ContentStore", "check_sha256"]
