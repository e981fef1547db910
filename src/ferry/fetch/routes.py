"""Which proxy, and which netrc credentials, a download URL goes through.

What aiohttp's ``trust_env`` does, looked up once per scheme and host instead of on every
request: the ``*_proxy`` variables and ``NO_PROXY`` as the standard library reads them
(``urllib.request.getproxies`` / ``proxy_bypass``), and ``~/.netrc`` (or ``$NETRC``) for
basic-auth credentials, as pip and curl use it for private mirrors. An explicit proxy (the
``proxy`` setting, or pip's and npm's) applies to every URL.
"""

from __future__ import annotations

import base64
import netrc
import os
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

__all__ = ["Routes"]


class Routes:
    def __init__(
        self,
        *,
        proxy: str | None = None,
        from_environment: bool = True,
        auth: Mapping[str, str] | None = None,
    ) -> None:
        """``auth``: an ``Authorization`` header by origin (``https://host:port``), for
        the one service a run was given a token for (``HF_TOKEN`` for a Hub endpoint);
        it goes to that origin only, never to another host a download is redirected to."""
        self._given = dict(auth or {})
        self._explicit = proxy
        self._environment = from_environment
        self._proxies = urllib.request.getproxies() if from_environment and not proxy else {}
        self._netrc = _load_netrc() if from_environment else None
        self._cache: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def for_url(self, url: str) -> tuple[str | None, str | None]:
        """``(proxy, Authorization header)`` for ``url``; credentials from netrc only when
        the URL carries none of its own."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = (self._proxy(parts.scheme, parts.netloc), self._auth(parts))
        return found

    def _proxy(self, scheme: str, netloc: str) -> str | None:
        if self._explicit:
            return self._explicit
        if not self._proxies:
            return None
        host = netloc.rsplit("@", 1)[-1]
        if urllib.request.proxy_bypass(host):
            return None
        return self._proxies.get(scheme) or self._proxies.get("all")

    def _auth(self, parts: SplitResult) -> str | None:
        given = self._given.get(f"{parts.scheme}://{parts.netloc}")
        if given is not None:
            return given
        if self._netrc is None or "@" in parts.netloc:
            return None
        entry = self._netrc.authenticators(parts.hostname or "")
        if entry is None:
            return None
        login, _account, password = entry
        token = base64.b64encode(f"{login or ''}:{password or ''}".encode()).decode("ascii")
        return f"Basic {token}"


def _load_netrc() -> netrc.netrc | None:
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        return netrc.netrc(str(path)) if path.is_file() else None
    except (netrc.NetrcParseError, OSError):
        return None  # as aiohttp and requests do: a broken netrc means no credentials
