"""A real devpi-server on 127.0.0.1 for the push tests: a user and an index made with
devpi-client, holding only what was uploaded to it (no mirror base, offline mode).

devpi-server and devpi-client live in ``.venv-devpi`` (scripts/install.sh --dev), apart from
the main venv so their dependencies never move the versions Ferry is tested with; they are
run as programs, never imported. Nothing is downloaded while the tests run.

    with DevpiServer(tmp_path / "devpi") as devpi:
        legacy_upload(devpi.upload_url, wheel, devpi.username, devpi.password)
        ...  # pip install --index-url devpi.index_url <name>

``legacy_upload`` is the request twine sends (the legacy upload API every PyPI-like
registry takes), built here for the tests, apart from Ferry's own code.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tarfile
import time
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from support.localproc import (
    INSTALL_HINT,
    REPO,
    ServerProcess,
    address_in_use,
    clean_env,
    run_tool,
)
from support.serve import free_port

BIN = REPO / ".venv-devpi" / "bin"
START_TIMEOUT = 180.0

# devpi-server derives its token-signing key from its secret with argon2 at start-up, with
# parameters (512 MiB, 16 passes, 8 lanes) that take 10 s or more on a loaded 2-core machine.
# These are its own (hidden) options, the ones its test suite lowers for the same reason;
# they only affect that key derivation, not how uploads or pages behave.
_FAST_KEY_DERIVATION = (
    "--argon2-memory-cost=1024",
    "--argon2-parallelism=1",
    "--argon2-time-cost=1",
)


def devpi_bin(name: str) -> Path:
    path = BIN / name
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: {INSTALL_HINT}")
    return path


class DevpiServer:
    """devpi-server in ``workdir`` (its serverdir, the client's state, its log), started by
    :meth:`start` (or ``with``) and stopped by :meth:`stop`.

    After start: :attr:`base` (``http://127.0.0.1:PORT``), :attr:`index_url` (the simple
    index pip reads), :attr:`upload_url` (the legacy upload endpoint twine posts to),
    :attr:`username` / :attr:`password` (who may upload), :attr:`startup_seconds`.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = "ferry",
        index: str = "internal",
        password: str | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.workdir = workdir
        self.username = username
        self.index = index
        self.password = password or f"devpi-{secrets.token_hex(8)}"
        self.start_timeout = start_timeout
        self.port = 0
        self.startup_seconds = 0.0
        self.log_path = workdir / "devpi-server.log"
        self._process: ServerProcess | None = None
        self._env = clean_env(
            workdir / "home",
            # devpi-client keeps its current server, index and login here
            {"DEVPI_CLIENTDIR": str(workdir / "client")},
        )

    # -- URLs

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def index_path(self) -> str:
        """``/<user>/<index>/``: the index's own path on the server."""
        return f"/{self.username}/{self.index}/"

    @property
    def index_url(self) -> str:
        return f"{self.base}{self.index_path}+simple/"

    @property
    def upload_url(self) -> str:
        return f"{self.base}{self.index_path}"

    # -- lifecycle

    def start(self) -> Self:
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        serverdir = self.workdir / "server"
        root_password = secrets.token_hex(12)
        # no root/pypi: the server has no mirror at all, its index holds only uploads
        run_tool(
            [
                str(devpi_bin("devpi-init")),
                f"--serverdir={serverdir}",
                "--no-root-pypi",
                f"--root-passwd={root_password}",
            ],
            env=self._env,
            cwd=self.workdir,
        )
        fast: tuple[str, ...] = _FAST_KEY_DERIVATION
        for attempt in range(3):
            self.port = free_port()
            self._process = ServerProcess(
                "devpi-server",
                [
                    str(devpi_bin("devpi-server")),
                    f"--serverdir={serverdir}",
                    "--offline-mode",
                    "--host=127.0.0.1",
                    f"--port={self.port}",
                    *fast,
                ],
                cwd=self.workdir,
                env=self._env,
                log_path=self.log_path,
            )
            try:
                self._process.wait_until_answers(f"{self.base}/+api", self.start_timeout)
                break
            except RuntimeError:
                self._process.stop()
                output = self._process.output()
                # the port picked was taken by someone else before devpi bound it
                if attempt < 2 and address_in_use(output):
                    continue
                # a devpi-server without those hidden options: start it slowly
                if attempt < 2 and fast and "unrecognized arguments: --argon2" in output:
                    fast = ()
                    continue
                raise
        try:
            self._make_index()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _make_index(self) -> None:
        self.devpi("use", self.base)
        self.devpi("user", "-c", self.username, f"password={self.password}")
        self.devpi("login", self.username, f"--password={self.password}")
        # bases= : nothing inherited (no mirror); volatile=False: a version, once uploaded,
        # stays what it is (as a team's release index is usually set up)
        self.devpi("index", "-c", self.index, "bases=", "volatile=False")
        self.devpi("use", f"{self.username}/{self.index}")

    def make_index(self, name: str) -> str:
        """Another empty index of the same user, as the first is made (tests that must see
        what only they uploaded take one each); its URL, as :attr:`upload_url` is."""
        self.devpi("index", "-c", name, "bases=", "volatile=False")
        return f"{self.base}/{self.username}/{name}/"

    def devpi(self, *args: str) -> str:
        """Run devpi-client against this server (logged in as :attr:`username` once the
        index exists); returns what it printed."""
        return run_tool([str(devpi_bin("devpi")), *args], env=self._env, cwd=self.workdir).stdout

    def output(self) -> str:
        return self._process.output() if self._process else ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        shutil.rmtree(self.workdir / "client", ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- uploading


def _core_metadata(path: Path) -> str:
    """The METADATA of a wheel, or the PKG-INFO of an sdist (.tar.gz / .zip)."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            return zf.read(name).decode()
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            name = min((n for n in zf.namelist() if n.endswith("/PKG-INFO")), key=len)
            return zf.read(name).decode()
    with tarfile.open(path) as tf:
        member = min(
            (m for m in tf.getmembers() if m.name.endswith("/PKG-INFO")), key=lambda m: len(m.name)
        )
        data = tf.extractfile(member)
        assert data is not None
        return data.read().decode()


def upload_form(path: Path) -> dict[str, str | list[str]]:
    """The form fields twine sends with a file (all but the file itself)."""
    meta = HeaderParser().parsestr(_core_metadata(path))
    data = path.read_bytes()
    if path.name.endswith(".whl"):
        filetype, pyversion = "bdist_wheel", path.name.split("-")[-3]
    else:
        filetype, pyversion = "sdist", "source"
    form: dict[str, str | list[str]] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": meta["Metadata-Version"],
        "name": meta["Name"],
        "version": meta["Version"],
        "filetype": filetype,
        "pyversion": pyversion,
        "md5_digest": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }
    for field, key in (
        ("summary", "Summary"),
        ("requires_python", "Requires-Python"),
        ("license", "License"),
    ):
        if meta[key]:
            form[field] = meta[key]
    if meta.get_all("Requires-Dist"):
        form["requires_dist"] = list(meta.get_all("Requires-Dist") or [])
    return form


def legacy_upload(
    upload_url: str, path: Path, username: str, password: str, *, timeout: float = 60
) -> httpx.Response:
    """POST one distribution file as twine does (multipart form, HTTP basic auth)."""
    with path.open("rb") as fh, httpx.Client(trust_env=False, timeout=timeout) as client:
        return client.post(
            upload_url,
            data=upload_form(path),
            files={"content": (path.name, fh, "application/octet-stream")},
            auth=(username, password),
        )
