"""What a service task's work may reach: the rules its manifests are read by, the egress
policy every fetch obeys, and the runner its resolvers run in.

``None`` where a Confinement is expected means the CLI on a user's own machine: the user's
files, network and processes. The service makes one per task (``TaskManager``) from the
operator's settings and the machine's own index and registry configuration.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ferry.egress import EgressPolicy
from ferry.manifests.model import InputRules
from ferry.sandbox.runner import DirectRunner, Runner
from ferry.settings import Settings


@dataclass(frozen=True)
class Confinement:
    rules: InputRules
    policy: EgressPolicy
    runner: Runner
    builds: bool  # False: no sdist is built to read its metadata (resolve_builds = never)


@dataclass(frozen=True)
class ServiceBox:
    """The service's side of every task's confinement: one policy, one runner."""

    policy: EgressPolicy
    runner: Runner
    builds: bool
    sandboxed: bool

    def for_task(self, uploads: Path) -> Confinement:
        return Confinement(InputRules(confined_to=uploads), self.policy, self.runner, self.builds)


async def service_box(settings: Settings, config_file: Path | None = None) -> ServiceBox:
    """Build and try the box at the service's start: a service that cannot confine its
    resolvers refuses to start rather than run strangers' builds unconfined."""
    import asyncio
    import shutil

    from ferry.ecosystems.pypi.uv import find_uv
    from ferry.errors import ConfigError
    from ferry.sandbox.bwrap import BwrapRunner

    policy = await asyncio.to_thread(egress_policy, settings)
    builds = settings.resolve_builds == "sandbox"
    if settings.resolver_sandbox == "none":
        return ServiceBox(policy, direct_runner(settings), builds, sandboxed=False)
    proxies = operator_proxies(settings)
    uv = str(find_uv(settings.uv_binary))
    uv_binary = await asyncio.to_thread(lambda: Path(uv).resolve())
    pythons = [str(settings.sandbox_python)] if settings.sandbox_python else []
    pythons += [sys.executable, *filter(None, [shutil.which("python3", path="/usr/bin:/bin")])]
    reasons = []
    for python in dict.fromkeys(pythons):
        # the programs the box runs, wherever they are installed (a checkout under /tmp,
        # which the box covers with its own); and a Python's own environment
        revealed = [uv_binary]
        if python == sys.executable:
            revealed.append(Path(sys.prefix))
        runner = BwrapRunner(
            sandbox_dir=settings.effective_sandbox_dir,
            hidden=hidden_paths(settings, config_file),
            policy=policy,
            upstream_proxy=proxies[0] if proxies else None,
            python=python,
            revealed=revealed,
        )
        reason = await runner.probe([uv, "--version"])
        if reason is None:
            return ServiceBox(policy, runner, builds, sandboxed=True)
        reasons.append(f"{python}: {reason}")
    raise ConfigError(
        "uv cannot run in the resolver sandbox: " + "; ".join(reasons),
        hint="The box's user (nobody, when the service runs as root) must be able to run "
        "uv and a Python: install Ferry where they can, set sandbox_python, or set "
        'resolver_sandbox = "none" (only for a service that takes no stranger\'s files).',
    )


def direct_runner(settings: Settings) -> Runner:
    """The runner of a run on the user's own machine: their caches, no box."""
    return DirectRunner({"uv": settings.uv_cache_dir, "npm": settings.npm_cache_dir})


def runner_for(settings: Settings, confinement: Confinement | None) -> Runner:
    return confinement.runner if confinement is not None else direct_runner(settings)


def trusted_urls(settings: Settings) -> list[str]:
    """Every place the operator configured: the Python indexes and find-links, the npm
    registries (and npm's built-in one, which lock files name and Ferry rewrites to the
    configured one), the mirrors, and the file host of the public index pip knows."""
    from ferry.ecosystems.npm.npmcli import find_npm
    from ferry.ecosystems.npm.sources import discover_npm_sources
    from ferry.ecosystems.pypi.sources import discover_sources, pip_default_index
    from ferry.errors import FerryError

    py = discover_sources(settings)
    urls = [py.index_url, *py.extra_index_urls, *py.find_links]
    if py.index_url.rstrip("/") == pip_default_index().rstrip("/"):
        # pip's own knowledge of where that index keeps its files
        from pip._internal.models.index import PyPI

        urls.append(f"https://{PyPI.file_storage_domain}/")
    try:
        npm = discover_npm_sources(settings, find_npm(settings.npm_binary))
        urls += [npm.registry, *npm.scoped.values()]
        if npm.default_registry:
            urls.append(npm.default_registry)
    except FerryError:
        pass  # no npm on this machine: npm tasks fail on their own with that reason
    for prefix, alternatives in settings.mirrors.items():
        urls += [prefix, *alternatives]
    if py.torch_index:
        urls.append(py.torch_index.replace("{backend}", "cpu"))  # only its origin counts
    for profile in settings.registries.values():
        # any profile a task may pick: the operator named each one
        urls += [*filter(None, (profile.index_url, profile.npm_registry))]
        urls += [*profile.extra_index_urls, *profile.find_links]
    return urls


def operator_proxies(settings: Settings) -> list[str]:
    import os

    candidates = [settings.proxy, os.environ.get("HTTPS_PROXY"), os.environ.get("HTTP_PROXY")]
    return [p for p in candidates if p]


def egress_policy(settings: Settings) -> EgressPolicy:
    return EgressPolicy.build(
        trusted_urls=trusted_urls(settings),
        allowed_hosts=settings.allowed_hosts,
        allowed_networks=settings.allowed_networks,
        proxies=operator_proxies(settings),
    )


def hidden_paths(settings: Settings, config_file: Path | None = None) -> list[Path]:
    """What the box must not see even read-only: the data directory (database, tokens,
    other tasks), the service user's home, the settings file."""
    paths = [settings.data_dir.resolve(), Path.home()]
    if config_file is not None:
        paths.append(config_file.resolve())
    return paths
