"""Signed, short-lived links to a task's archive.

A browser follows a plain link to download a file and cannot add an Authorization
header to it; streaming a multi-gigabyte archive through JavaScript instead would hold it
in memory. So a task document carries an archive URL signed for the one task, valid for
a few minutes (HMAC-SHA256 with the service's secret key): a capability for that one
file, never the bearer token itself. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(key: bytes, task_id: str, expires: int) -> str:
    message = f"archive:{task_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_query(key: bytes, task_id: str, ttl: float, *, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + ttl)
    return f"expires={expires}&signature={sign(key, task_id, expires)}"


def verify(
    key: bytes, task_id: str, expires: str, signature: str, *, now: float | None = None
) -> bool:
    if not expires.isdigit() or len(expires) > 12:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign(key, task_id, int(expires)), signature)
