"""Downloads: the async engine, the HTTP client it uses, and progress reporting."""

from ferry.fetch.engine import Fetcher, FetchReport, FetchRequest, FetchResult
from ferry.fetch.http import build_client
from ferry.fetch.progress import (
    NullProgress,
    PlainProgress,
    ProgressListener,
    RichProgress,
    make_progress,
)

__all__ = [
    "FetchReport",
    "FetchRequest",
    "FetchResult",
    "Fetcher",
    "NullProgress",
    "PlainProgress",
    "ProgressListener",
    "RichProgress",
    "build_client",
    "make_progress",
]
