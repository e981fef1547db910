"""Where ``ferry push --to URL`` sends a bundle's files, by the product that answers there.

Each product speaks one of two protocols at its own paths:

=============  ========  ==========================================  ========================
kind           files     upload to (the URL as its users write it)   listing read back
=============  ========  ==========================================  ========================
devpi          Python    ``/<user>/<index>/``                        ``.../+simple/<name>/``
verdaccio      npm       ``/`` (the registry)                        ``/<name>``
nexus          either    ``/repository/<repo>/``                     ``.../simple/<name>/``
artifactory    either    ``/artifactory/api/pypi/<repo>``            ``.../simple/<name>/``
                         ``/artifactory/api/npm/<repo>/``            ``.../<name>``
pypi           Python    any PyPI-like upload URL                    ``--index-url``, else
                                                                     ``<url>/simple/``
npm            npm       any npm registry                            ``/<name>``
=============  ========  ==========================================  ========================

The URL a user copies from the product's pages is taken too: a devpi index's ``+simple/``
and a Nexus or Artifactory repository's ``simple/`` are the upload URL without them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from ferry.errors import UsageError

__all__ = ["KINDS", "Ecosystem", "PushTarget", "kind_from_path", "probe_kind", "push_target"]

Ecosystem = Literal["pypi", "npm"]
KINDS = ("devpi", "verdaccio", "nexus", "artifactory", "pypi", "npm")
_ONE_ECOSYSTEM: dict[str, Ecosystem] = {
    "devpi": "pypi",
    "verdaccio": "npm",
    "pypi": "pypi",
    "npm": "npm",
}
_ARTIFACTORY = re.compile(r"/api/(pypi|npm)/[^/]+/?")
_NEXUS = re.compile(r"/repository/[^/]+/?")


@dataclass(frozen=True)
class PushTarget:
    kind: str
    ecosystem: Ecosystem
    url: str  # Python: where files are posted; npm: the registry, ending in /
    index_url: str | None = None  # Python: the simple index read back, ending in /
    # credentials written into --to (user:password@host), taken out of every URL above
    username: str | None = None
    password: str | None = None

    def project_url(self, name: str) -> str:
        """Python: the simple page of ``name`` (normalized)."""
        assert self.index_url is not None
        return f"{self.index_url}{name}/"

    def describe(self) -> str:
        return f"{self.kind} {self.url}"


def push_target(
    url: str,
    kind: str | None,
    ecosystem: str | None,
    carried: set[str],
    index_url: str | None = None,
) -> PushTarget:
    """The target at ``url``: ``kind`` as given or as the URL's path shows it;
    ``ecosystem`` as given, as the kind has only one, or as the only one the bundle
    carries (``carried``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--to {_shown(url)}: an http:// or https:// URL of a registry")
    if parts.query or parts.fragment:
        raise UsageError(f"--to {_shown(url)}: a registry's URL has no query or fragment")
    if kind is None:
        kind = kind_from_path(url)
        if kind is None:
            raise UsageError(
                f"--to {_shown(url)}: which registry is this? Say it with --kind "
                f"({', '.join(KINDS)})"
            )
    elif kind not in KINDS:
        raise UsageError(f"--kind {kind}: one of {', '.join(KINDS)}")
    chosen = _ecosystem(url, kind, parts.path, ecosystem, carried)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    path = parts.path or "/"
    if chosen == "npm":
        path = path if path.endswith("/") else path + "/"
        return PushTarget(kind, "npm", _with_path(url, path), None, user, password)
    # the URL pip reads, copied where the upload URL was meant, is the same repository
    for tail in ("/+simple/", "/+simple", "/simple/", "/simple"):
        if path.endswith(tail):
            path = path[: -len(tail)] + "/"
            break
    root = path.rstrip("/")
    # as Artifactory's own docs give twine the URL: no slash
    upload = root if kind == "artifactory" else root + "/"
    if index_url is None:
        simple = "+simple/" if kind == "devpi" else "simple/"
        index_url = _with_path(url, root + "/" + simple)
    else:
        given = urlsplit(index_url).path
        index_url = _with_path(index_url, given if given.endswith("/") else given + "/")
    return PushTarget(kind, "pypi", _with_path(url, upload), index_url, user, password)


def kind_from_path(url: str) -> str | None:
    """The kind a URL's path shows (Nexus's and Artifactory's layouts, devpi's +simple)."""
    path = urlsplit(url).path
    found = _ARTIFACTORY.search(path)
    if found is not None and path.startswith("/artifactory/"):
        return "artifactory"
    if _NEXUS.match(path):
        return "nexus"
    if path.endswith(("/+simple/", "/+simple")):
        return "devpi"
    return None


def _ecosystem(url: str, kind: str, path: str, given: str | None, carried: set[str]) -> Ecosystem:
    implied: Ecosystem | None = _ONE_ECOSYSTEM.get(kind)
    if kind == "artifactory":
        found = _ARTIFACTORY.search(path)
        if found is None:
            raise UsageError(
                f"--to {_shown(url)}: an Artifactory repository's URL is "
                f".../artifactory/api/pypi/<repo> or .../artifactory/api/npm/<repo>/"
            )
        implied = "pypi" if found[1] == "pypi" else "npm"
    if given is not None and given not in ("pypi", "npm"):
        raise UsageError(f"--ecosystem {given}: pypi or npm")
    # --ecosystem is for the repositories that could be either: one --to naming a Nexus
    # repository and another a devpi index need it for the first only
    if implied is not None:
        return implied
    if given is not None:
        return "pypi" if given == "pypi" else "npm"
    if len(carried) == 1:
        return "pypi" if "pypi" in carried else "npm"
    raise UsageError(
        f"--to {_shown(url)}: a {kind} repository holds either Python or npm packages: "
        f"say which this one is with --ecosystem pypi|npm"
    )


def _with_path(url: str, path: str) -> str:
    """``url`` with ``path``, and without credentials (they travel in a header)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _shown(url: str) -> str:
    """``url`` without a password in it, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def probe_kind(client: httpx.AsyncClient, url: str) -> str | None:
    """Ask the server at ``url`` what it is, by what it says of itself: devpi's and
    Artifactory's own headers, Nexus's ``Server``, an npm registry's ``-/ping``, a PyPI-like
    index's ``simple/``. None when nothing answers like a registry."""
    base = _with_path(url, urlsplit(url).path or "/")
    base = base if base.endswith("/") else base + "/"
    try:
        first = await client.get(base, follow_redirects=True)
        headers = first.headers
        if "x-devpi-server-version" in headers:
            return "devpi"
        if "x-artifactory-id" in headers:
            return "artifactory"
        if headers.get("server", "").lower().startswith("nexus"):
            return "nexus"
        ping = await client.get(base + "-/ping", follow_redirects=True)
        if ping.status_code == 200 and ping.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return "npm"
        simple = await client.get(base + "simple/", follow_redirects=True)
        if simple.status_code in (200, 401):
            return "pypi"
    except httpx.HTTPError as exc:
        raise UsageError(f"--to {_shown(url)}: cannot reach it ({exc!r})") from None
    return None
