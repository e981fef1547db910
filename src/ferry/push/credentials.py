"""Who ``ferry push`` is to a registry, found where twine and npm look for it.

Python (twine's order): the user and password written into ``--to``; ``--username`` with
``TWINE_PASSWORD``; ``TWINE_USERNAME`` / ``TWINE_PASSWORD``; the ``.pypirc`` section named
by ``--repository`` or whose ``repository`` is the target's URL; then netrc (as pip reads
it). A user without a password is an API token (``__token__``) only when the file says so.

npm (npm-registry-fetch's order): ``.npmrc`` lines for the registry's "nerf dart"
(``//host:port/path/:_authToken``, ``:_auth``, ``:username`` + ``:_password``), the most
specific path first and up to the host, from the project's ``.npmrc`` (the working
directory), then the user's (``NPM_CONFIG_USERCONFIG`` or ``~/.npmrc``); ``${VAR}`` in a
value is the environment's, as npm expands it.

Secrets stay in memory and in an ``Authorization`` header; nothing here prints them.
"""

from __future__ import annotations

import base64
import configparser
import netrc
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ferry.errors import UsageError
from ferry.push.targets import PushTarget

__all__ = ["npm_authorization", "pypi_credentials"]

_VAR = re.compile(r"\$\{([^}]+)\}")


def pypi_credentials(
    target: PushTarget,
    *,
    repository: str | None = None,
    username: str | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> tuple[str, str] | None:
    """The user and password for ``target`` (Python), or None to send none."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if target.username is not None and target.password is not None:
        return target.username, target.password
    if username is not None and env.get("TWINE_PASSWORD"):
        return username, env["TWINE_PASSWORD"]
    if env.get("TWINE_USERNAME") and env.get("TWINE_PASSWORD"):
        return env["TWINE_USERNAME"], env["TWINE_PASSWORD"]
    found = _pypirc(target, repository, Path(env.get("PYPIRC", home / ".pypirc")))
    if found is not None:
        user, password = found
        return (username or user), password
    if repository is not None:
        raise UsageError(f"--repository {repository}: no such section in .pypirc")
    return _netrc(target.url, env, home)


def _pypirc(target: PushTarget, repository: str | None, path: Path) -> tuple[str, str] | None:
    if not path.is_file():
        return None
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a .pypirc twine can read ({exc})") from None
    for section in parser.sections():
        if section == "distutils":
            continue
        if repository is not None:
            if section != repository:
                continue
        elif not _same_url(parser.get(section, "repository", fallback=""), target.url):
            continue
        password = parser.get(section, "password", fallback=None)
        user = parser.get(section, "username", fallback=None)
        if password:
            return (user or "__token__"), password
    return None


def _same_url(written: str, url: str) -> bool:
    return bool(written) and written.rstrip("/") == url.rstrip("/")


def _netrc(url: str, env: Mapping[str, str], home: Path) -> tuple[str, str] | None:
    path = Path(env.get("NETRC", home / ".netrc"))
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(path).authenticators(urlsplit(url).hostname or "")
    except (netrc.NetrcParseError, OSError):
        return None
    if entry is None or not entry[2]:
        return None
    return entry[0] or "", entry[2]


def npm_authorization(
    registry: str,
    target: PushTarget | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> str | None:
    """The ``Authorization`` header npm would send to ``registry``, or None."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    cwd = Path.cwd() if cwd is None else cwd
    if target is not None and target.username is not None and target.password is not None:
        return _basic(target.username, target.password)
    settings: dict[str, str] = {}
    user_config = Path(env.get("NPM_CONFIG_USERCONFIG", env.get("npm_config_userconfig", "")))
    files = [cwd / ".npmrc", user_config if str(user_config) not in ("", ".") else home / ".npmrc"]
    for path in reversed(files):  # the project's lines are read last and win
        settings.update(_npmrc(path, env))
    for dart in _nerf_darts(registry):
        token = settings.get(f"{dart}:_authToken")
        if token:
            return f"Bearer {token}"
        auth = settings.get(f"{dart}:_auth")
        if auth:
            return f"Basic {auth}"
        user, password = settings.get(f"{dart}:username"), settings.get(f"{dart}:_password")
        if user and password:
            try:
                plain = base64.b64decode(password, validate=True).decode()
            except ValueError:
                raise UsageError(
                    f".npmrc: {dart}:_password is not base64, as npm requires"
                ) from None
            return _basic(user, plain)
    return None


def _npmrc(path: Path, env: Mapping[str, str]) -> dict[str, str]:
    if not path.is_file():
        return {}
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "#")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        found[key.strip()] = _VAR.sub(lambda m: env.get(m[1], ""), value)
    return found


def _nerf_darts(registry: str) -> list[str]:
    """``//host:port/a/b/``, ``//host:port/a/``, ``//host:port/``: npm's keys for the
    registry, most specific first."""
    parts = urlsplit(registry)
    host = parts.netloc.rpartition("@")[2]
    segments = [s for s in parts.path.split("/") if s]
    darts = []
    for n in range(len(segments), -1, -1):
        path = "/" + "".join(s + "/" for s in segments[:n])
        darts.append(f"//{host}{path}")
    return darts


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
