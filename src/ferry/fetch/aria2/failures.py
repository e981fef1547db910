"""aria2's error codes, read as the native engine reads HTTP: retry, give up, or distrust.

``tellStatus`` of a failed download carries ``errorCode`` (aria2c(1), "EXIT STATUS") and
``errorMessage``; HTTP statuses hide in the message (``status=503``) or in the code (3 is
a 404, 29 a 503, 24 a 401). They are worded with :mod:`ferry.fetch.failures`, so both
backends say the same thing about the same failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus

from ferry.errors import FetchError, Hint, IntegrityError
from ferry.fetch.failures import (
    RETRY_HINT,
    TransientError,
    fetch_error,
    http_status_error,
    integrity_error,
    redact,
)

__all__ = ["Failure", "Kind", "classify"]

_STATUS = re.compile(r"status=(\d{3})")
_DISK_HINT = Hint("disk")
# aria2 reads no SSL_CERT_FILE
_TLS_HINT = Hint("tls", env="no")


class Kind(Enum):
    FINAL = "final"  # an answer, not an accident: give up and keep the bytes
    TRANSIENT = "transient"  # retry, resuming from the bytes on disk
    INTEGRITY = "integrity"  # aria2's checksum failed: distrust and delete the bytes
    RESTART = "restart"  # the bytes on disk cannot be resumed: delete them, retry


@dataclass(frozen=True)
class Failure:
    kind: Kind
    error: FetchError | IntegrityError


def classify(name: str, url: str, code: int, message: str) -> Failure:
    """What an aria2 ``errorCode`` / ``errorMessage`` for a download from ``url`` means."""
    raw, url = url, redact(url)
    detail = f"{message or 'failed'} (aria2 error {code})"
    if code == 32:
        return Failure(Kind.INTEGRITY, integrity_error(name, f"{url}: aria2's checksum failed"))
    if code == 3:
        return _status(name, raw, 404)
    if code == 29:
        return _status(name, raw, 503)
    if code == 24:
        return _status(name, raw, 401)
    if code == 22:
        match = _STATUS.search(message)
        if match is not None:
            return _status(name, raw, int(match.group(1)))
        return _transient(name, f"{url}: {detail}")
    if code == 2:
        return _transient(name, f"{url}: timed out ({detail})")
    if code in (1, 5, 6, 19):
        if "certificate" in message.lower() or "tls" in message.lower():
            # A certificate problem does not heal by itself; retrying only delays the hint.
            return Failure(
                Kind.FINAL,
                fetch_error(
                    name, f"TLS certificate not trusted for {url}: {detail}", hint=_TLS_HINT
                ),
            )
        return _transient(name, f"{url}: {detail}")
    if code in (8, 10, 15):
        # The server stopped honouring Range, or the control file does not fit the file.
        return Failure(Kind.RESTART, fetch_error(name, f"{url}: {detail}", hint=RETRY_HINT))
    if code == 7:  # aria2 shut down with the download unfinished; it resumes from disk
        return _transient(name, f"{url}: {detail}")
    if code in (9, 14, 16, 17, 18):
        return Failure(Kind.FINAL, fetch_error(name, f"cannot write: {detail}", hint=_DISK_HINT))
    if code == 23:
        return Failure(
            Kind.FINAL,
            fetch_error(name, f"{url}: {detail}", hint=Hint("url-redirects")),
        )
    return Failure(
        Kind.FINAL,
        fetch_error(name, f"{url}: {detail}", hint=Hint("url-network")),
    )


def _status(name: str, url: str, status: int) -> Failure:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    error = http_status_error(name, status, url, reason=reason)
    if isinstance(error, TransientError):
        return Failure(Kind.TRANSIENT, error.error)
    assert isinstance(error, FetchError)
    return Failure(Kind.FINAL, error)


def _transient(name: str, message: str) -> Failure:
    return Failure(Kind.TRANSIENT, fetch_error(name, message, hint=RETRY_HINT))
