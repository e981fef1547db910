"""Where npm packages come from: the registry, CA bundle and proxy.

As for Python: the machine's own npm configuration (every npmrc and `npm_config_*`
variable, merged by npm itself through `npm config ls --json`), overridden by Ferry's
settings. With machine configuration switched off, the registry is npm's built-in default,
asked of npm with empty config files, so no host name is written into Ferry.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ferry.ecosystems.npm.npmcli import clean_environment
from ferry.errors import ConfigError, Hint
from ferry.manifests.npmrc import ProjectNpmrc
from ferry.settings import Settings


@dataclass(frozen=True)
class NpmSources:
    registry: str
    cafile: Path | None = None
    proxy: str | None = None
    strict_ssl: bool = True
    scoped: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    default_registry: str = ""  # npm's built-in one, which lock files often name
    origin: str = ""
    retries: int = 2  # npm's own default; Ferry hands its `retries` setting on

    def registry_for(self, name: str) -> str:
        if name.startswith("@"):
            return self.scoped.get(name.split("/", 1)[0], self.registry)
        return self.registry

    def npmrc(self) -> str:
        """The config file handed to npm: only what Ferry decided."""
        lines = [f"registry={self.registry}", f"strict-ssl={str(self.strict_ssl).lower()}"]
        # npm waits 5 minutes for an answer that never comes (a connection lost on the way)
        # before it retries: a resolution would sit silent that long. A minute, then retries
        # at most 10 s apart (a project's own .npmrc, written after these, still wins).
        lines += ["fetch-timeout=60000", "fetch-retry-maxtimeout=10000"]
        # Ferry's `retries`, as uv gets it; the first retry after a second and doubling
        # (npm's own waits 10 s before the first), so a registry that is down is named
        # in seconds and a flaky one still gets its retries.
        lines += [
            f"fetch-retries={self.retries}",
            "fetch-retry-mintimeout=1000",
            "fetch-retry-factor=2",
        ]
        lines += [f"{scope}:registry={url}" for scope, url in self.scoped.items()]
        if self.cafile is not None:
            lines.append(f"cafile={self.cafile}")
        if self.proxy:
            lines += [f"proxy={self.proxy}", f"https-proxy={self.proxy}"]
        return "\n".join(lines) + "\n"


def _npm_config(npm: Path, *, isolated: bool) -> dict[str, object]:
    env = clean_environment()
    with tempfile.TemporaryDirectory(prefix="ferry-npmrc-") as tmp:
        if isolated:
            user, system = Path(tmp) / "npmrc", Path(tmp) / "global-npmrc"
            user.touch()
            system.touch()
            env.update(npm_config_userconfig=str(user), npm_config_globalconfig=str(system))
        try:
            out = subprocess.run(
                [str(npm), "config", "ls", "--json"],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"could not read npm's configuration: {exc}") from exc
    if out.returncode != 0:
        raise ConfigError(f"`npm config ls` failed: {out.stderr.strip()[:500]}")
    data = json.loads(out.stdout)
    if not isinstance(data, dict):
        raise ConfigError("`npm config ls --json` did not print an object")
    return data


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def discover_npm_sources(settings: Settings, npm: Path) -> NpmSources:
    # both npm runs at once: each is a node start-up (~150 ms)
    with ThreadPoolExecutor(max_workers=2) as pool:
        isolated = pool.submit(_npm_config, npm, isolated=True)
        own = pool.submit(_npm_config, npm, isolated=False) if settings.use_machine_config else None
        default = _slash(str(isolated.result().get("registry", "")))
        machine = own.result() if own is not None else {}
    registry = settings.npm_registry or str(machine.get("registry") or default)
    origin = (
        "ferry settings"
        if settings.npm_registry
        else ("npm configuration" if machine.get("registry") else "npm's default")
    )
    scoped = {
        key.split(":", 1)[0]: _slash(str(value))
        for key, value in machine.items()
        if key.startswith("@") and key.endswith(":registry") and value
    }
    cafile_value = settings.cert or machine.get("cafile")
    cafile = Path(str(cafile_value)) if cafile_value else None
    if cafile is not None and not cafile.is_file():
        raise ConfigError(
            f"npm CA bundle {cafile} does not exist",
            hint=Hint("npm-cafile"),
        )
    proxy = settings.proxy or machine.get("https-proxy") or machine.get("proxy")
    return NpmSources(
        registry=_slash(registry),
        cafile=cafile,
        proxy=str(proxy) if proxy else None,
        strict_ssl=bool(machine.get("strict-ssl", True)),
        scoped=scoped,
        default_registry=default,
        origin=origin,
        retries=settings.retries,
    )


def with_project_registries(
    sources: NpmSources, npmrc: ProjectNpmrc | None, settings: Settings
) -> NpmSources:
    """The project's own ``registry`` / ``@scope:registry`` lines over the machine's, as
    npm ranks a project .npmrc; Ferry's ``npm_registry`` setting stays above both."""
    if npmrc is None or (npmrc.registry is None and not npmrc.scoped):
        return sources
    registry, origin = sources.registry, sources.origin
    if npmrc.registry is not None and not settings.npm_registry:
        registry = _slash(npmrc.registry.value)
        origin = f"{npmrc.path.name}:{npmrc.registry.line}"
    scoped = {**sources.scoped, **{k: _slash(v.value) for k, v in npmrc.scoped.items()}}
    return replace(sources, registry=registry, scoped=scoped, origin=origin)


_CACHE_SECONDS = 60.0
_cache: dict[tuple[object, ...], tuple[float, NpmSources]] = {}


def cached_npm_sources(settings: Settings, npm: Path) -> NpmSources:
    """:func:`discover_npm_sources`, remembered for a minute per configuration: it runs
    npm twice (~0.3 s of node start-up each), and a busy service resolves several npm
    projects a minute against one unchanged configuration."""
    import time

    key = (
        str(npm),
        settings.npm_registry,
        str(settings.cert),
        settings.proxy,
        settings.use_machine_config,
    )
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    sources = discover_npm_sources(settings, npm)
    _cache[key] = (now, sources)
    return sources
