"""Signed, short-lived links to a task's archive or a stored package's file.

A browser follows a plain link to download a file and cannot add an Authorization
header to it; streaming a multi-gigabyte archive through JavaScript instead would hold it
in memory. So a task document carries an archive URL signed for the one task, valid for
a few minutes (HMAC-SHA256 with the service's secret key): a capability for that one
file, never the bearer token itself. The purpose is signed too, so a package's link never
opens the task that happens to have the same id. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal

Purpose = Literal["archive", "package"]


def sign(key: bytes, subject: str, expires: int, purpose: Purpose = "archive") -> str:
    message = f"{purpose}:{subject}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_query(
    key: bytes,
    subject: str,
    ttl: float,
    *,
    purpose: Purpose = "archive",
    now: float | None = None,
) -> str:
    expires = int((time.time() if now is None else now) + ttl)
    return f"expires={expires}&signature={sign(key, subject, expires, purpose)}"


def verify(
    key: bytes,
    subject: str,
    expires: str,
    signature: str,
    *,
    purpose: Purpose = "archive",
    now: float | None = None,
) -> bool:
    if not expires.isdigit() or len(expires) > 12:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign(key, subject, int(expires), purpose), signature)
