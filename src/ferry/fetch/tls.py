"""TLS trust, built once per CA bundle and process.

Loading a CA bundle into an ``SSLContext`` costs 25-90 ms of CPU. Every resolution and
bundle opens its own HTTP clients, and a service resolving several tasks at once paid it
four times per task on its event loop, where it delayed every other request (a
``GET /api/tasks/{id}`` p99 of 190 ms, bench/RESULTS.md). A context is safe to share
between clients; it is rebuilt when the bundle file changes or the certificate variables
do.
"""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

__all__ = ["trust_context"]


def trust_context(cert: Path | None) -> ssl.SSLContext:
    """A client context trusting ``cert`` (a bundle file or a directory of hashed
    certificates); without one, the default store (``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
    honoured, as httpx and aiohttp do by default)."""
    if cert is None:
        return _context(None, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"), 0)
    path = Path(cert)
    try:
        changed = path.stat().st_mtime
    except OSError:
        changed = 0.0  # missing: let loading it say so
    return _context(str(path), None, None, changed)


@functools.lru_cache(maxsize=16)
def _context(
    cert: str | None, cert_file: str | None, cert_dir: str | None, _mtime: float
) -> ssl.SSLContext:
    if cert is None:
        import httpx

        # httpx's own default (certifi, or the variables above): what verify=True means
        return httpx.create_ssl_context(trust_env=True)
    if Path(cert).is_dir():
        return ssl.create_default_context(capath=cert)
    return ssl.create_default_context(cafile=cert)
