"""Downloads: the async engine, the HTTP client it uses, and progress reporting."""

from ferry.fetch.control import Batch, Cancelled, batch_scope
from ferry.fetch.engine import Fetcher
from ferry.fetch.progress import (
    NullProgress,
    PlainProgress,
    ProgressListener,
    RichProgress,
    make_progress,
)
from ferry.fetch.request import FetchReport, FetchRequest, FetchResult
from ferry.fetch.session import open_session
from ferry.fetch.transfer import Segmenting

__all__ = [
    "Batch",
    "Cancelled",
    "FetchReport",
    "FetchRequest",
    "FetchResult",
    "Fetcher",
    "NullProgress",
    "PlainProgress",
    "ProgressListener",
    "RichProgress",
    "Segmenting",
    "batch_scope",
    "build_client",
    "make_progress",
    "open_session",
]


def __getattr__(name: str) -> object:
    # httpx is only needed by callers of build_client; `ferry fetch` should not pay for it.
    if name == "build_client":
        from ferry.fetch.http import build_client

        return build_client
    raise AttributeError(f"module 'ferry.fetch' has no attribute {name!r}")
