"""Where Python packages come from: index URLs, find-links, CA bundle and proxy.

Ferry asks the machine first, the way its users' own tools would: uv's environment and
``uv.toml``, then pip's configuration read by pip itself (files in pip's order plus
``PIP_*`` variables). Ferry's settings override both. With nothing configured anywhere,
the index is pip's built-in default, read from the installed pip so that no host name is
written into Ferry.

pip treats every index as equally trusted and picks the best version across them; uv by
default takes a package only from the first index that has it. The strategy therefore
follows whoever supplied the indexes, so a machine configured for pip resolves the way pip
would (here: local ``file://`` indexes beside the public one).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ferry.errors import ConfigError, Hint
from ferry.settings import Settings

IndexStrategy = Literal["first-index", "unsafe-best-match"]


@dataclass(frozen=True)
class IndexSources:
    index_url: str
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    cert: Path | None = None
    proxy: str | None = None
    strategy: IndexStrategy = "first-index"
    origin: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # PyTorch's wheel index (a mirror), ``{backend}`` standing for cpu, cu126, ...
    torch_index: str | None = None

    @property
    def all_indexes(self) -> tuple[str, ...]:
        """Indexes in the order uv consults them: extra indexes before the primary one."""
        return (*self.extra_index_urls, self.index_url)


def _split(value: str | list[str] | None, sep: str | None = None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v for v in (value.split(sep) if sep else value.split()) if v]


@dataclass
class _Found:
    index_url: str | None = None
    extra: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    cert: str | None = None
    proxy: str | None = None
    where: str = ""


def _uv_config_files() -> list[Path]:
    xdg_config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    system_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    files = [xdg_config / "uv" / "uv.toml"]
    files += [Path(d) / "uv" / "uv.toml" for d in system_dirs]
    files.append(Path("/etc/uv/uv.toml"))
    return files


def read_uv_config() -> _Found:
    found = _Found(where="uv")
    if os.environ.get("UV_NO_CONFIG") is None:
        for path in _uv_config_files():
            if not path.is_file():
                continue
            try:
                data = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"uv configuration {path}: {exc}") from exc
            for table in (data, data.get("pip", {})):
                for index in table.get("index", []):
                    if index.get("default"):
                        found.index_url = found.index_url or index.get("url")
                    elif index.get("url"):
                        found.extra.append(index["url"])
                found.index_url = found.index_url or table.get("index-url")
                found.extra += _split(table.get("extra-index-url"))
                found.find_links += _split(table.get("find-links"))
            found.where = str(path)
            break  # uv reads the first user/system file it finds, not a merge
    env = os.environ
    found.index_url = env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL") or found.index_url
    found.extra = _split(env.get("UV_INDEX")) + _split(env.get("UV_EXTRA_INDEX_URL")) + found.extra
    found.find_links = _split(env.get("UV_FIND_LINKS"), ",") + found.find_links
    return found


def read_pip_config() -> _Found:
    """pip's merged configuration, read by pip's own code so every file and variable counts:
    global files (``/etc/xdg/pip/pip.conf``, ``/etc/pip.conf``), the user's (not when
    ``PIP_CONFIG_FILE`` names a file), the virtualenv's, ``PIP_CONFIG_FILE``, then ``PIP_*``
    variables, later ones winning; within them ``[global]``, then the ``[download]`` and
    ``[install]`` sections, then the variables."""
    found = _Found(where="pip")
    try:
        from pip._internal.configuration import Configuration
    except ImportError:  # pragma: no cover - pip is a declared dependency
        return found
    config = Configuration(isolated=False)
    try:
        config.load()
    except Exception as exc:  # pip raises its own ConfigurationError subclasses
        raise ConfigError(f"pip configuration could not be read: {exc}") from exc
    sections = pip_sections(config.items())
    merged: dict[str, str] = {}
    for section in ("global", "download", "install", ":env:"):
        merged.update(sections.get(section, {}))
    found.index_url = merged.get("index-url")
    found.extra = _split(merged.get("extra-index-url"))
    found.find_links = _split(merged.get("find-links"))
    found.cert = merged.get("cert")
    found.proxy = merged.get("proxy")
    return found


def pip_sections(items: Iterable[tuple[str, Any]]) -> dict[str, dict[str, str]]:
    """``Configuration.items()`` as section -> name -> value, in pip's override order.

    pip up to 25 yields the merged ``("global.index-url", value)`` pairs; pip 26 yields
    one ``(file, {"global.index-url": value, ...})`` per file, in override order. Read as
    the first, the second gave nothing at all: a machine's mirror was silently bypassed.
    """
    sections: dict[str, dict[str, str]] = {}
    for key, value in items:
        pairs = value.items() if isinstance(value, dict) else [(key, value)]
        for name, item in pairs:
            section, _, option = str(name).partition(".")
            sections.setdefault(section, {})[option] = str(item)
    return sections


def pip_default_index() -> str:
    from pip._internal.models.index import PyPI

    return str(PyPI.simple_url)


def _as_url(location: str) -> str:
    """find-links may be a bare directory; uv and the fetcher want URLs or absolute paths."""
    if "://" in location:
        return location
    return Path(location).expanduser().resolve().as_uri()


def discover_sources(settings: Settings) -> IndexSources:
    uv = read_uv_config() if settings.use_machine_config else _Found()
    pip = read_pip_config() if settings.use_machine_config else _Found()
    origin: dict[str, str] = {}

    index_url = settings.index_url
    origin["index_url"] = "ferry settings"
    strategy: IndexStrategy = "first-index"
    if settings.registry is not None:
        # a profile is the whole index set: the machine's indexes do not mix in
        index_url = index_url or pip_default_index()
        origin["index_url"] = f"registry profile {settings.registry!r}"
        for url in (*settings.extra_index_urls, *settings.find_links):
            origin[url] = f"registry profile {settings.registry!r}"
        uv = _Found(where=uv.where)
        pip = _Found(cert=pip.cert, proxy=pip.proxy)
    if index_url is None and uv.index_url:
        index_url, origin["index_url"] = uv.index_url, uv.where
    if index_url is None and pip.index_url:
        index_url, origin["index_url"] = pip.index_url, "pip configuration"
    if index_url is None:
        index_url, origin["index_url"] = pip_default_index(), "pip's default"

    extras = list(settings.extra_index_urls)
    for url in extras:
        origin.setdefault(url, "ferry settings")
    if settings.use_machine_config and not settings.extra_index_urls:
        extras = uv.extra + [u for u in pip.extra if u not in uv.extra]
        origin.update({u: uv.where for u in uv.extra})
        origin.update({u: "pip configuration" for u in pip.extra if u not in uv.extra})
        if pip.extra:
            strategy = "unsafe-best-match"
    find_links = list(settings.find_links) or uv.find_links + pip.find_links
    if settings.find_links:
        for u in settings.find_links:
            origin.setdefault(_as_url(u), origin.get(u, "ferry settings"))
    else:
        origin.update({_as_url(u): uv.where for u in uv.find_links})
        origin.update({_as_url(u): "pip configuration" for u in pip.find_links})

    cert_value = settings.cert or (Path(pip.cert) if pip.cert else None)
    if cert_value is None and os.environ.get("SSL_CERT_FILE"):
        cert_value = Path(os.environ["SSL_CERT_FILE"])
    if cert_value is not None and not cert_value.is_file():
        raise ConfigError(
            f"CA bundle {cert_value} does not exist",
            hint=Hint("pip-cert"),
        )
    return IndexSources(
        index_url=index_url.rstrip("/") + "/",
        extra_index_urls=tuple(u.rstrip("/") + "/" for u in dict.fromkeys(extras) if u),
        find_links=tuple(_as_url(f) for f in dict.fromkeys(find_links) if f),
        cert=cert_value,
        proxy=settings.proxy or pip.proxy,
        strategy=strategy,
        origin=origin,
        torch_index=settings.torch_index,
    )
