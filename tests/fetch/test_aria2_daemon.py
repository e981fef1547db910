"""The aria2c daemon and its RPC: found, configured, started, watched, restarted, stopped."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import stat
import struct
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ferry.errors import ConfigError, FetchError
from ferry.fetch import FetchRequest
from ferry.fetch.aria2 import (
    Aria2Daemon,
    Aria2Fetcher,
    Aria2RPC,
    DaemonOptions,
    RPCError,
    RPCUnavailable,
    find_binary,
)
from ferry.fetch.aria2.controlfile import kept_bytes
from ferry.fetch.aria2.daemon import render_config
from ferry.fetch.aria2.failures import Kind, classify
from ferry.store import ContentStore
from fetch.local_server import LocalServer

ARIA2C = find_binary()


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Aria2Daemon]:
    d = Aria2Daemon(tmp_path / "state", options=DaemonOptions(trust_env=False))
    try:
        yield d
    finally:
        await d.aclose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still has a pid until it is reaped; reaped ones are gone above.
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state != "Z"


def _pid(daemon: Aria2Daemon) -> int | None:
    return daemon.pid  # read afresh: a plain attribute stays narrowed to int for mypy


def _listening(port: int) -> list[str]:
    """Local addresses listening on ``port`` (IPv4 and IPv6), from /proc/net."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # LISTEN
                found.append(address)
    return found


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {within} s")


# ---- finding the binary -------------------------------------------------------------------


def test_finds_aria2c_on_path_or_where_the_setting_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_binary(None) == ARIA2C
    assert find_binary(str(ARIA2C)) == ARIA2C
    fake = tmp_path / "bin" / "aria2c"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert find_binary() == fake


def test_a_missing_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        find_binary(tmp_path / "nowhere" / "aria2c")
    assert "aria2_binary" in info.value.message and "nowhere" in info.value.message

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        find_binary()
    assert "not found on PATH" in info.value.message
    assert info.value.hint and "apt-get install aria2" in info.value.hint
    assert "aria2_binary" in info.value.hint and "native" in info.value.hint

    with pytest.raises(ConfigError):
        Aria2Fetcher(ContentStore(tmp_path / "store"))  # fails when built, not mid-download


# ---- configuration ------------------------------------------------------------------------


def test_config_listens_on_loopback_only_behind_the_secret(tmp_path: Path) -> None:
    options = DaemonOptions(
        max_concurrent_downloads=5,
        split=4,
        max_connection_per_server=32,
        min_split_size=64 * 1024,
        ca_certificate=tmp_path / "ca.pem",
        proxy="http://proxy.example:3128",
        max_overall_download_limit=1_000_000,
    )
    text = render_config(options, port=6801, secret="s3", directory=tmp_path, owner_pid=42)
    lines = dict(line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))

    assert lines["enable-rpc"] == "true"
    assert lines["rpc-listen-all"] == "false"
    assert lines["rpc-listen-port"] == "6801"
    assert lines["rpc-secret"] == "s3"
    assert lines["dir"] == str(tmp_path)
    assert lines["continue"] == "true"
    assert lines["auto-file-renaming"] == "false"
    assert lines["allow-overwrite"] == "true"
    assert lines["file-allocation"] == "none"
    assert lines["max-concurrent-downloads"] == "5"
    assert lines["split"] == "4"
    assert lines["max-connection-per-server"] == "16"  # aria2's maximum
    assert lines["min-split-size"] == str(1 << 20)  # aria2's minimum
    assert lines["ca-certificate"] == str(tmp_path / "ca.pem")
    assert lines["check-certificate"] == "true"
    assert lines["all-proxy"] == "http://proxy.example:3128"
    assert lines["max-overall-download-limit"] == "1000000"
    assert lines["stop-with-process"] == "42"

    bare = render_config(DaemonOptions(), port=1, secret="x", directory=tmp_path, owner_pid=1)
    assert "all-proxy" not in bare and "ca-certificate" not in bare
    assert "max-overall-download-limit" not in bare


async def test_started_daemon_uses_a_fresh_secret_and_loopback_only(daemon: Aria2Daemon) -> None:
    await daemon.start()
    text = daemon.config_path.read_text()
    first = daemon.secret

    assert len(first) == 32 and int(first, 16) >= 0
    assert f"rpc-secret={first}\n" in text
    assert stat.S_IMODE(daemon.config_path.stat().st_mode) == 0o600
    cmdline = await asyncio.to_thread(Path(f"/proc/{daemon.pid}/cmdline").read_bytes)
    assert first.encode() not in cmdline
    addresses = _listening(daemon.port)
    assert addresses and all(
        a in ("0100007F", "00000000000000000000000001000000") for a in addresses
    )

    await daemon.restart()
    assert daemon.secret != first and len(daemon.secret) == 32
    assert f"rpc-secret={daemon.secret}\n" in daemon.config_path.read_text()


# ---- lifecycle ----------------------------------------------------------------------------


async def test_start_stop_restart(daemon: Aria2Daemon) -> None:
    restarts: list[int] = []
    daemon.add_restart_listener(lambda: restarts.append(daemon.generation))

    await daemon.start()
    pid = daemon.pid
    assert pid is not None and _alive(pid)
    assert await daemon.ping()
    version = await daemon.rpc.call("aria2.getVersion")
    assert version["version"].startswith("1.")
    await daemon.start()  # already running: nothing happens
    assert daemon.pid == pid and daemon.generation == 1

    await daemon.restart()
    assert daemon.pid != pid and not _alive(pid)
    assert daemon.generation == 2 and restarts == [2]
    assert await daemon.ping()

    new_pid = daemon.pid
    assert new_pid is not None
    await daemon.stop()
    assert not daemon.running
    assert _pid(daemon) is None
    assert not _alive(new_pid)
    assert not await daemon.ping()
    with pytest.raises(RPCUnavailable):
        _ = daemon.rpc


async def test_a_killed_daemon_is_noticed_and_restarted(daemon: Aria2Daemon) -> None:
    restarted = asyncio.Event()
    daemon.add_restart_listener(restarted.set)
    await daemon.start()
    daemon.start_health_check(interval=0.05)
    pid = daemon.pid
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    await asyncio.wait_for(restarted.wait(), 5)

    assert daemon.pid != pid and daemon.generation == 2
    assert await daemon.ping()
    await daemon.stop_health_check()


async def test_a_hung_daemon_is_restarted(tmp_path: Path) -> None:
    daemon = Aria2Daemon(tmp_path / "state", rpc_timeout=0.3)
    try:
        await daemon.start()
        pid = daemon.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing

        assert await daemon.ensure_running()
        assert daemon.pid != pid and await daemon.ping()
        assert not _alive(pid)
        assert not await daemon.ensure_running()  # healthy now: left alone
    finally:
        await daemon.aclose()


async def test_a_daemon_that_cannot_start_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "aria2c"
    fake.write_text("#!/bin/sh\necho 'exception: no such option' >&2\nexit 28\n")
    fake.chmod(0o755)
    daemon = Aria2Daemon(tmp_path / "state", binary=fake)

    with pytest.raises(FetchError, match="status 28") as info:
        await daemon.start()
    assert "no such option" in info.value.message
    assert not daemon.running


# ---- RPC ----------------------------------------------------------------------------------


async def test_wrong_secret_is_refused(daemon: Aria2Daemon) -> None:
    await daemon.start()
    intruder = Aria2RPC(daemon.url, "0" * 32)
    try:
        with pytest.raises(RPCError, match="Unauthorized") as info:
            await intruder.call("aria2.getVersion")
        assert "aria2.getVersion" in info.value.message
    finally:
        await intruder.aclose()


async def test_multicall_and_errors_name_the_method(daemon: Aria2Daemon) -> None:
    await daemon.start()
    rpc = daemon.rpc

    version, missing = await rpc.multicall(
        [("aria2.getVersion", ()), ("aria2.tellStatus", ("0123456789abcdef",))]
    )

    assert version["version"].startswith("1.")
    assert isinstance(missing, RPCError) and "aria2.tellStatus" in missing.message
    assert "not found" in missing.reason
    with pytest.raises(RPCError, match=r"aria2\.noSuchMethod"):
        await rpc.call("aria2.noSuchMethod")
    assert await rpc.multicall([]) == []

    nobody = Aria2RPC(daemon.url, daemon.secret)
    await daemon.stop()
    try:
        with pytest.raises(RPCUnavailable, match=r"aria2\.getVersion"):
            await nobody.call("aria2.getVersion")
    finally:
        await nobody.aclose()


# ---- the backend survives its daemon ------------------------------------------------------


async def test_downloads_resume_after_the_daemon_is_killed_mid_batch(
    server: LocalServer, tmp_path: Path
) -> None:
    store = ContentStore(tmp_path / "store")
    bodies = [random.Random(i).randbytes(1_200_000) for i in range(2)]
    requests = [
        server.serve(f"k{i}.bin", body, etag=f'"k{i}"', rate=600_000)
        for i, body in enumerate(bodies)
    ]
    fetcher = Aria2Fetcher(
        store,
        state_dir=tmp_path / "state",
        trust_env=False,
        poll_interval=0.05,
        health_interval=0.1,
        retries=1,
        backoff=0.01,
    )
    async with fetcher:
        task = asyncio.create_task(fetcher.fetch_all(requests))
        # Past one control-file save (every second), so there is something to resume from.
        await _until(lambda: fetcher.daemon.pid is not None)
        await asyncio.sleep(1.3)
        pid = fetcher.daemon.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for request in requests:
            server.route(request.url).rate = None
        report = await asyncio.wait_for(task, 15)

    assert report.ok, report.failures
    assert fetcher.daemon.generation == 2
    for request, body in zip(requests, bodies, strict=True):
        assert store.path_for(request.digest).read_bytes() == body
        ranges = [s.headers.get("Range") for s in server.seen(request.url)]
        assert any(r and not r.startswith("bytes=0-") for r in ranges), ranges  # resumed
    assert report.bytes_fetched == sum(len(b) for b in bodies)
    assert not [p for p in (store.root / "aria2").iterdir()]


async def test_a_dest_download_resumes_from_an_earlier_runs_bytes(
    server: LocalServer, tmp_path: Path
) -> None:
    body = random.Random(7).randbytes(1_000_000)
    request = server.serve("r.bin", body, etag='"r"', rate=400_000)
    dest = tmp_path / "out" / "r.bin"
    dest_request = FetchRequest(request.url, request.digest, request.size, dest=dest)
    store = ContentStore(tmp_path / "store")

    first = Aria2Fetcher(store, state_dir=tmp_path / "s1", trust_env=False, poll_interval=0.05)
    task = asyncio.create_task(first.fetch_one(dest_request))
    await asyncio.sleep(1.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await first.aclose()
    partial = dest.with_name("r.bin.ferry-aria2")
    assert partial.exists() and not dest.exists()
    kept = kept_bytes(partial)
    assert 0 < kept < len(body)

    server.route(request.url).rate = None
    async with Aria2Fetcher(store, state_dir=tmp_path / "s2", trust_env=False) as second:
        result = await second.fetch_one(dest_request)

    assert dest.read_bytes() == body
    assert result.bytes_fetched == len(body) - kept
    assert not partial.exists()


async def test_fetchers_can_share_one_daemon(
    server: LocalServer, daemon: Aria2Daemon, tmp_path: Path
) -> None:
    store = ContentStore(tmp_path / "store")
    bodies = [random.Random(20 + i).randbytes(150_000) for i in range(4)]
    requests = [server.serve(f"s{i}.bin", body) for i, body in enumerate(bodies)]
    first = Aria2Fetcher(store, daemon=daemon, poll_interval=0.05)
    second = Aria2Fetcher(store, daemon=daemon, poll_interval=0.05)

    one, two = await asyncio.gather(first.fetch_all(requests[:2]), second.fetch_all(requests[2:]))
    await first.aclose()

    assert one.ok and two.ok
    assert daemon.running and daemon.generation == 1  # not the fetcher's to stop
    assert (await second.fetch_one(requests[0])).from_cache
    await second.aclose()


# ---- TLS ----------------------------------------------------------------------------------


async def test_cert_trusts_a_private_ca(
    tls_server: LocalServer, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    request = tls_server.serve("a.whl", b"over tls")
    store = ContentStore(tmp_path / "store")
    async with Aria2Fetcher(store, cert=certificate[0], trust_env=False) as fetcher:
        result = await fetcher.fetch_one(request)
    assert result.path.read_bytes() == b"over tls"


async def test_untrusted_certificate_fails_at_once_with_a_hint(
    tls_server: LocalServer, tmp_path: Path
) -> None:
    request = tls_server.serve("a.whl", b"over tls")
    store = ContentStore(tmp_path / "store")
    async with Aria2Fetcher(store, trust_env=False, retries=4, backoff=5.0) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            await fetcher.fetch_one(request)
    assert time.monotonic() - started < 2.5  # a single retry would have slept 5 s
    assert "certificate" in info.value.message
    assert info.value.hint and "cert" in info.value.hint


def test_a_ca_directory_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CA bundle file"):
        Aria2Fetcher(ContentStore(tmp_path / "store"), cert=tmp_path)


# ---- small parts --------------------------------------------------------------------------


def test_control_file_kept_bytes(tmp_path: Path) -> None:
    piece = 1 << 20
    total = 3 * piece + 1000
    bitfield = bytes([0b1010_0000])  # pieces 0 and 2 complete
    inflight = struct.pack(">III", 1, piece, 1) + bytes([0b1110_0000])  # 3 blocks of piece 1
    data = (
        struct.pack(">HII", 1, 0, 0)
        + struct.pack(">IQQI", piece, total, 0, len(bitfield))
        + bitfield
        + struct.pack(">I", 1)
        + inflight
    )
    (tmp_path / "f.aria2").write_bytes(data)

    assert kept_bytes(tmp_path / "f") == 2 * piece + 3 * 16 * 1024
    assert kept_bytes(tmp_path / "missing") == 0
    (tmp_path / "g.aria2").write_bytes(data[:20])
    assert kept_bytes(tmp_path / "g") == 0


@pytest.mark.parametrize(
    ("code", "message", "kind", "words"),
    [
        (32, "", Kind.INTEGRITY, "checksum"),
        (3, "Resource not found", Kind.FINAL, "HTTP 404 Not Found"),
        (29, "The response status is not successful. status=503", Kind.TRANSIENT, "HTTP 503"),
        (22, "The response status is not successful. status=429", Kind.TRANSIENT, "HTTP 429"),
        (22, "The response status is not successful. status=403", Kind.FINAL, "HTTP 403"),
        (2, "Timeout.", Kind.TRANSIENT, "timed out"),
        (1, "Failed to establish connection", Kind.TRANSIENT, "establish"),
        (1, "TLS handshake: certificate verify failed", Kind.FINAL, "certificate"),
        (8, "Invalid range header", Kind.RESTART, "range"),
        (9, "No space left", Kind.FINAL, "cannot write"),
    ],
)
def test_aria2_errors_are_worded_like_the_native_engines(
    code: int, message: str, kind: Kind, words: str
) -> None:
    failure = classify("x.whl", "https://user:pw@host/x.whl", code, message)

    assert failure.kind is kind
    assert words.lower() in failure.error.message.lower()
    assert failure.error.message.startswith("x.whl: ")
    assert "pw@" not in failure.error.message
    assert failure.error.hint
