"""Bearer token strings: made, hashed and recognised here, stored nowhere in the clear. Pure.

A token is ``ferry_`` followed by 43 characters of URL-safe base64 (32 random bytes). The
prefix lets secret scanners and people recognise one; only its SHA-256 is stored
(docs/decisions.md says why a fast hash is right for random tokens and wrong for passwords).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from ferry.errors import Hint, UsageError

PREFIX = "ferry_"
_SHAPE = re.compile(r"^ferry_[A-Za-z0-9_-]{43}$")
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,99}$")


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def well_formed(token: str) -> bool:
    return bool(_SHAPE.match(token))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_id() -> str:
    return secrets.token_hex(8)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s``: how long a token lives."""
    match = _DURATION.match(text)
    if not match or int(match[1]) == 0:
        raise UsageError(
            f"expiry {text!r} is not a duration",
            hint=Hint("token-expiry"),
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def check_name(what: str, value: str) -> str:
    """A token's name or owner: shown in lists and the audit log, so kept printable."""
    if not _NAME.match(value):
        raise UsageError(
            f"{what} {value[:40]!r} is not usable",
            hint=Hint("token-name", what=what),
        )
    return value
