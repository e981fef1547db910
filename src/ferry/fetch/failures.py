"""How download failures are classified and worded: retry, give up, or distrust the bytes.

Transient failures (connection errors, timeouts, 5xx, 429) become :class:`TransientError`
and are retried; everything else is a final :class:`~ferry.errors.FetchError` with a hint.
A hash or size mismatch is an :class:`~ferry.errors.IntegrityError` and never retried,
since a second copy from the same source proves nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from ferry.errors import FetchError, Hint, IntegrityError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "INTEGRITY_HINT",
    "RETRY_HINT",
    "TransientError",
    "content_range",
    "fetch_error",
    "http_status_error",
    "integrity_error",
    "redact",
    "retry_after",
    "status_error",
    "tls_error",
    "validator",
]

RETRY_HINT = Hint("retry")
INTEGRITY_HINT = Hint("integrity")
_TLS_HINT = Hint("tls")


class TransientError(Exception):
    """An attempt failed in a way worth retrying; ``error`` is what the user sees if not."""

    def __init__(self, error: FetchError, *, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def fetch_error(name: str, message: str, *, hint: Hint | None = None) -> FetchError:
    return FetchError(f"{name}: {message}", context=f"fetching {name}", hint=hint)


def integrity_error(name: str, message: str, found: str | None = None) -> IntegrityError:
    return IntegrityError(
        f"{name}: {message}", found=found, context=f"verifying {name}", hint=INTEGRITY_HINT
    )


def status_error(name: str, resp: httpx.Response) -> Exception:
    """:func:`http_status_error` for an httpx response."""
    return http_status_error(
        name,
        resp.status_code,
        str(resp.url),
        reason=resp.reason_phrase,
        retry_after=retry_after(resp.headers),
    )


def http_status_error(
    name: str,
    status: int,
    url: str,
    *,
    reason: str = "",
    retry_after: float | None = None,
) -> Exception:
    """Map an unwanted status to a retryable or a final error.

    408 and 429 and every 5xx are worth another try; other 4xx are answers, not accidents.
    """
    what = f"HTTP {status} {reason} from {redact(url)}".replace("  ", " ")
    if status in (408, 429) or status >= 500:
        return TransientError(fetch_error(name, what, hint=RETRY_HINT), retry_after=retry_after)
    if status in (401, 403, 407):
        hint = Hint("http-denied")
    elif status in (404, 410):
        hint = Hint("http-gone")
    else:
        hint = Hint("http-other")
    return fetch_error(name, what, hint=hint)


def tls_error(name: str, url: str, exc: BaseException) -> FetchError:
    # A certificate problem does not heal by itself; retrying only delays the hint.
    return fetch_error(name, f"TLS certificate not trusted for {url}: {exc}", hint=_TLS_HINT)


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def validator(headers: Mapping[str, str]) -> str | None:
    """What ``If-Range`` may carry to make sure a resumed range is of the same file.

    A strong ``ETag`` (RFC 9110 §13.1.5: a weak one could splice two versions of the file
    together), else ``Last-Modified``, which servers compare exactly.
    """
    etag: str | None = headers.get("ETag")
    if etag is not None and not etag.startswith("W/"):
        return etag
    modified: str | None = headers.get("Last-Modified")
    return modified


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def content_range(headers: Mapping[str, str]) -> tuple[int, int, int | None] | None:
    """``(first, last, total)`` of a 206 answer, or None if it has no usable header."""
    match = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", "").strip())
    if match is None:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


_USERINFO = re.compile(r"(?<=://)[^/@]*@")


def redact(url: str) -> str:
    """Hide credentials embedded in a URL before it reaches a message or a log."""
    return _USERINFO.sub("***@", url)
