"""uv's failures as problems the user can act on: an index out of reach names where that
index was configured (a manifest's line, pip's or uv's configuration, Ferry's settings)."""

from __future__ import annotations

from collections.abc import Mapping

from ferry.ecosystems.pypi.sources import IndexSources
from ferry.ecosystems.pypi.uv import UvFailure
from ferry.manifests.model import Origin
from ferry.problems import Problem
from ferry.targets import PythonTarget

UNREACHABLE = "index-unreachable"


def _norm(url: str) -> str:
    return url.rstrip("/")


def source_of(
    url: str, sources: IndexSources, url_origins: Mapping[str, Origin]
) -> tuple[str, str]:
    """The configured index or find-links location ``url`` belongs to, and where it was
    configured."""
    candidates = [*sources.all_indexes, *sources.find_links]
    base = max((c for c in candidates if url.startswith(_norm(c))), key=len, default=url)
    for written, origin in url_origins.items():
        if _norm(written) == _norm(base):
            return base, str(origin)
    for key, where in sources.origin.items():
        if _norm(key) == _norm(base):
            return base, where
    if _norm(base) == _norm(sources.index_url):
        return base, sources.origin.get("index_url", "the configured index")
    return base, "the configured indexes"


def failure_problem(
    outcome: UvFailure,
    sources: IndexSources,
    url_origins: Mapping[str, Origin],
    target: PythonTarget,
    *,
    package: str | None = None,
) -> Problem:
    if outcome.kind == UNREACHABLE and outcome.url:
        base, where = source_of(outcome.url, sources, url_origins)
        cause = outcome.message.strip().splitlines()[-1].strip().removeprefix("cause: ")
        return Problem.of(
            "error",
            UNREACHABLE,
            {"index": base, "origin": where, "cause": cause},
            package=package,
            target=target.key,
        )
    # uv's own explanation, as it wrote it
    return Problem.of(
        "error",
        outcome.kind,
        {"output": outcome.message},
        package=package,
        target=target.key,
        chain=outcome.chain,
    )
