"""A real verdaccio on 127.0.0.1 for the push tests: no uplinks (it never reaches beyond
this machine), every package readable and publishable by authenticated users only, and one
user made through the registry's own API as ``npm adduser`` makes it, whose token the tests
publish and install with.

verdaccio 6.8.0 (the last that runs on Node 20) is installed by scripts/install.sh --dev into
``.tools/verdaccio``; nothing is downloaded while the tests run.

    with Verdaccio(tmp_path / "verdaccio") as registry:
        (project / ".npmrc").write_text(registry.npmrc)
        ...  # npm publish --registry registry.url
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from support.localproc import INSTALL_HINT, REPO, ServerProcess, address_in_use, clean_env
from support.serve import free_port

VERSION = "6.8.0"
PREFIX = REPO / ".tools" / "verdaccio"
START_TIMEOUT = 180.0


def verdaccio_bin() -> Path:
    path = PREFIX / "node_modules" / "verdaccio" / "bin" / "verdaccio"
    if not path.is_file():
        raise RuntimeError(f"verdaccio {VERSION} is not in {PREFIX}: {INSTALL_HINT}")
    return path


def _config(workdir: Path, port: int, extra: Mapping[str, Any] | None = None) -> str:
    """verdaccio's config.yaml (JSON is YAML): storage and users in ``workdir``, no uplinks,
    no web UI, only authenticated users may read or publish anything; ``extra``'s top-level
    keys replace or add to these."""
    rules = {"access": "$authenticated", "publish": "$authenticated", "unpublish": "$authenticated"}
    config = {
        "storage": str(workdir / "storage"),
        "plugins": str(workdir / "plugins"),
        "listen": f"127.0.0.1:{port}",
        "web": {"enable": False},
        "auth": {"htpasswd": {"file": str(workdir / "htpasswd"), "max_users": 100}},
        # no uplinks: a package not published here does not exist
        "uplinks": {},
        "packages": {"@*/*": rules, "**": rules},
        "max_body_size": "200mb",
        "log": {"type": "stdout", "format": "pretty", "level": "http"},
    }
    config.update(extra or {})
    return json.dumps(config, indent=2) + "\n"


def npmrc_for(registry_url: str, token: str) -> str:
    """The .npmrc line that gives ``token`` to a registry at ``registry_url`` (npm matches
    it by host, port and path, without the scheme)."""
    parts = urlsplit(registry_url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"//{parts.netloc}{path}:_authToken={token}\n"


class Verdaccio:
    """verdaccio in ``workdir`` (config, storage, htpasswd, log), started by :meth:`start`
    (or ``with``) and stopped by :meth:`stop`.

    After start: :attr:`url` (``http://127.0.0.1:PORT/``), :attr:`username` /
    :attr:`password`, :attr:`token` (the one the user's creation returned), :attr:`npmrc`
    (the auth line for :attr:`url`; :func:`npmrc_for` for another URL in front of it),
    :attr:`startup_seconds`. ``config``: top-level keys of verdaccio's configuration to
    replace or add (e.g. ``security``: JWT tokens instead of the legacy ones, which verdaccio
    checks against the htpasswd file's bcrypt hash at every request).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = "ferry",
        password: str | None = None,
        start_timeout: float = START_TIMEOUT,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        self.extra_config = dict(config or {})
        self.username = username
        self.password = password or f"npm-{secrets.token_hex(8)}"
        self.start_timeout = start_timeout
        self.port = 0
        self.token = ""
        self.startup_seconds = 0.0
        self.log_path = workdir / "verdaccio.log"
        self._process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def npmrc(self) -> str:
        return npmrc_for(self.url, self.token)

    def start(self) -> Self:
        began = time.monotonic()
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on the PATH: " + INSTALL_HINT)
        script = verdaccio_bin()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "plugins").mkdir(exist_ok=True)
        (self.workdir / "storage").mkdir(exist_ok=True)
        env = clean_env(self.workdir / "home")
        for attempt in range(3):
            self.port = free_port()
            config = self.workdir / "config.yaml"
            config.write_text(_config(self.workdir, self.port, self.extra_config))
            self._process = ServerProcess(
                "verdaccio",
                [node, str(script), "--config", str(config), "--listen", f"127.0.0.1:{self.port}"],
                cwd=self.workdir,
                env=env,
                log_path=self.log_path,
            )
            try:
                self._process.wait_until_answers(self.url + "-/ping", self.start_timeout)
                break
            except RuntimeError:
                self._process.stop()
                if attempt < 2 and address_in_use(self._process.output()):
                    continue
                raise
        try:
            self.token = self._add_user()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _add_user(self) -> str:
        """Create the user as ``npm adduser`` does (the CouchDB-style user document) and
        check the token it returns is accepted."""
        doc = {
            "_id": f"org.couchdb.user:{self.username}",
            "name": self.username,
            "password": self.password,
            "type": "user",
            "roles": [],
            "date": "2000-01-01T00:00:00.000Z",
        }
        with httpx.Client(base_url=self.url, trust_env=False, timeout=30) as client:
            created = client.put(f"-/user/org.couchdb.user:{self.username}", json=doc)
            if created.status_code != 201 or "token" not in created.json():
                raise RuntimeError(
                    f"verdaccio did not create user {self.username}: "
                    f"HTTP {created.status_code} {created.text}\n{self.output()}"
                )
            token = str(created.json()["token"])
            whoami = client.get("-/whoami", headers={"Authorization": f"Bearer {token}"})
            if whoami.status_code != 200 or whoami.json().get("username") != self.username:
                raise RuntimeError(
                    f"verdaccio does not accept the new user's token: "
                    f"HTTP {whoami.status_code} {whoami.text}\n{self.output()}"
                )
        return token

    def output(self) -> str:
        return self._process.output() if self._process else ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
