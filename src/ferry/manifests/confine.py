"""Every place a stranger's manifest names, checked against the operator's egress policy
before anything is fetched or resolved: index lines, find-links, Pipfile sources, URL
requirements, npm dependency specs (URLs, git, local paths) and lock ``resolved`` URLs.

A refusal is a ManifestError naming the uploaded file, the line and the host; it quotes
the manifest's own words, never anything Ferry fetched or read on the server. Pure.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ferry.egress import EgressPolicy
from ferry.errors import Hint, ManifestError
from ferry.manifests.model import Origin, PythonInput
from ferry.manifests.npm import DEPENDENCY_FIELDS, NpmInput, line_of

_HINT = Hint("egress-manifest")
# npm's git shorthands and the host each stands for
_GIT_HOSTS = {
    "github:": "github.com",
    "gitlab:": "gitlab.com",
    "bitbucket:": "bitbucket.org",
    "gist:": "gist.github.com",
}
_GIT_URL = re.compile(r"^(git\+[a-z]+://|git://|ssh://)", re.IGNORECASE)
_SHORTHAND = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(#.*)?$")
_LOCAL = ("file:", "link:", "portal:", ".", "/", "~")


def _refuse(origin: Origin, what: str, reason: str) -> ManifestError:
    return ManifestError(origin.path, f"{what}: {reason}", line=origin.line, hint=_HINT)


def check_python_urls(pyinput: PythonInput, policy: EgressPolicy) -> None:
    fallback = Origin(pyinput.files[0] if pyinput.files else Path("manifest"))
    sources = [
        ("index", pyinput.index_url),
        *(("extra index", u) for u in pyinput.extra_index_urls),
        *(("find-links", u) for u in pyinput.find_links),
    ]
    for what, url in sources:
        if url is None:
            continue
        reason = policy.refusal(url)
        if reason is not None:
            raise _refuse(pyinput.url_origins.get(url, fallback), f"{what} {url[:200]}", reason)
    for item in (*pyinput.requirements, *pyinput.constraints):
        url = item.requirement.url
        if url:
            reason = policy.refusal(url)
            if reason is not None:
                raise _refuse(item.origin, item.name, reason)


def _spec_refusal(spec: str, policy: EgressPolicy) -> str | None:
    """Why an npm dependency spec may not be resolved here, or None."""
    lowered = spec.strip().lower()
    if lowered.startswith("npm:"):
        return None  # an alias: the registry
    if lowered.startswith(_LOCAL):
        return "a local path on the server cannot be a dependency of an uploaded project"
    if lowered.startswith(("http://", "https://")):
        return policy.refusal(spec.strip())
    for prefix, host in _GIT_HOSTS.items():
        if lowered.startswith(prefix):
            return policy.refusal(f"https://{host}/")
    if _GIT_URL.match(lowered):
        rest = re.sub(r"^git\+", "", lowered)
        host = re.sub(r"^[a-z]+://(?:[^@/]*@)?", "", rest).split("/")[0].split(":")[0]
        return policy.refusal(f"https://{host}/")
    if _SHORTHAND.match(spec.strip()):
        return policy.refusal("https://github.com/")  # npm reads owner/repo as GitHub
    return None


def check_npm_urls(npm_input: NpmInput, policy: EgressPolicy) -> None:
    if npm_input.package_json is not None:
        _check_manifest(npm_input.package_json, npm_input.manifest, policy)
    npmrc = npm_input.npmrc
    if npmrc is not None:
        for item in [*filter(None, [npmrc.registry]), *npmrc.scoped.values()]:
            reason = policy.refusal(item.value)
            if reason is not None:
                raise _refuse(Origin(npmrc.path, item.line), item.key, reason)
    if npm_input.lock is not None and npm_input.lock_path is not None:
        for key, entry in npm_input.lock.get("packages", {}).items():
            if not key or not isinstance(entry, dict):
                continue
            resolved = entry.get("resolved")
            if not isinstance(resolved, str):
                continue
            reason = _resolved_refusal(resolved, policy)
            if reason is not None:
                origin = Origin(npm_input.lock_path, line_of(npm_input.lock_path, key))
                raise _refuse(origin, f"packages[{key!r}].resolved", reason)


def _resolved_refusal(resolved: str, policy: EgressPolicy) -> str | None:
    lowered = resolved.lower()
    if lowered.startswith(("http://", "https://")):
        return policy.refusal(resolved)
    return _spec_refusal(resolved, policy)


def _check_manifest(path: Path, manifest: dict[str, Any], policy: EgressPolicy) -> None:
    for field in DEPENDENCY_FIELDS:
        deps = manifest.get(field)
        if not isinstance(deps, dict):
            continue
        for name, spec in deps.items():
            if isinstance(spec, str) and (reason := _spec_refusal(spec, policy)) is not None:
                raise _refuse(Origin(path, line_of(path, name)), f"{field}.{name}", reason)
    overrides = manifest.get("overrides")
    for name, spec in _flatten(overrides):
        if (reason := _spec_refusal(spec, policy)) is not None:
            raise _refuse(Origin(path, line_of(path, name)), f"overrides.{name}", reason)


def _flatten(value: Any, name: str = "") -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(name, value)]
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _flatten(item, str(key))]
    return []
