"""The resolver box's parts: the command line it is built from (pure), what of the
environment goes in, its egress proxy on a real Unix socket, and the box itself."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ferry.egress import EgressPolicy
from ferry.sandbox.bwrap import BoxSpec, BwrapRunner, box_environment
from ferry.sandbox.proxy import EgressProxy
from fetch.local_server import LocalServer, Route


def test_the_command_line() -> None:
    spec = BoxSpec(
        bwrap="/usr/bin/bwrap",
        python="/usr/bin/python3",
        scratch=Path("/var/box/work-1"),
        caches={"uv": Path("/var/box/cache/uv")},
        hidden=[Path("/srv/ferry-data")],
        drop_to_nobody=True,
    )
    inside = {"UV_CACHE_DIR": "/tmp/cache/uv"}
    argv = spec.argv(["uv", "pip", "compile"], inside, "/tmp/work")
    assert argv[:3] == ["nice", "-n", "10"]
    assert argv[3:6] == ["setpriv", "--reuid=65534", "--regid=65534"]
    joined = " ".join(argv)
    for part in (
        "--unshare-all",
        "--die-with-parent",
        "--clearenv",
        "--ro-bind / /",
        "--bind /var/box/work-1 /tmp/work",
        "--bind /var/box/cache/uv /tmp/cache/uv",
        "--setenv UV_CACHE_DIR /tmp/cache/uv",
        "--chdir /tmp/work",
    ):
        assert part in joined, part
    assert argv[-5:] == ["/tmp/work/proxy.sock", "--", "uv", "pip", "compile"]
    assert "--share-net" not in argv


def test_the_servers_environment_stays_out() -> None:
    env = box_environment(
        {
            "FERRY_SECRET_KEY": "s",
            "DATABASE_URL": "postgresql://u:p@db/x",
            "AWS_SECRET_ACCESS_KEY": "k",
            "HOME": "/root",
            "UV_CACHE_DIR": "/tmp/cache/uv",
            "npm_config_cache": "/tmp/cache/npm",
            "HTTPS_PROXY": "http://corporate:3128",
        }
    )
    assert not {"FERRY_SECRET_KEY", "DATABASE_URL", "AWS_SECRET_ACCESS_KEY"} & set(env)
    assert env["HOME"] == "/tmp/work/home"
    assert env["UV_CACHE_DIR"] == "/tmp/cache/uv"
    assert env["HTTPS_PROXY"] == env["npm_config_proxy"] == "http://127.0.0.1:3128"
    assert env["NO_PROXY"] == ""


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[tuple[EgressProxy, Path, LocalServer]]:
    upstream = LocalServer()
    upstream.add("/simple/", Route(body=b"the index"))
    gate = EgressProxy(EgressPolicy.build(trusted_urls=[upstream.base + "/"]))
    path = tmp_path / "proxy.sock"
    await gate.start(path)
    yield gate, path, upstream
    await gate.close()
    upstream.close()


async def _exchange(path: Path, request: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


async def test_the_proxy_refuses_what_the_policy_refuses(
    proxy: tuple[EgressProxy, Path, LocalServer],
) -> None:
    gate, path, _upstream = proxy
    canary = LocalServer()
    try:
        port = canary.base.rsplit(":", 1)[1]
        for request in (
            f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: x\r\n\r\n",
            f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /relative HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            answer = await _exchange(path, request.encode())
            assert answer.startswith(b"HTTP/1.1 403"), (request, answer)
        assert canary.total_hits == 0
        assert len(gate.refusals) == 4
        assert "allowed_hosts" in gate.refusals[0]
    finally:
        canary.close()


async def test_the_proxy_carries_one_request_to_an_allowed_origin(
    proxy: tuple[EgressProxy, Path, LocalServer],
) -> None:
    _gate, path, upstream = proxy
    # two requests on one connection: only the first is carried (Connection: close), so
    # the second cannot go anywhere unchecked
    request = (
        f"GET {upstream.base}/simple/ HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n"
        "GET http://127.0.0.1:5432/ HTTP/1.1\r\nHost: y\r\n\r\n"
    ).encode()
    answer = await _exchange(path, request)
    assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"the index")
    assert upstream.hits("/simple/") == 1


async def test_the_box(tmp_path: Path) -> None:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="ferry-test-box-"))
    secret = tmp_path / "data" / "admin-token"
    secret.parent.mkdir()
    secret.write_text("ferry_secret")
    try:
        runner = BwrapRunner(
            sandbox_dir=root,
            hidden=[secret.parent],
            policy=EgressPolicy.build(trusted_urls=[]),
            # the system's: the box's user cannot reach a Python under /root
            python="/usr/bin/python3",
        )
        assert await runner.probe() is None
        code = (
            "import os, socket\n"
            "print('uid', os.getuid())\n"
            f"print('secret', os.path.exists({str(secret)!r}))\n"
            "s = socket.socket(); s.settimeout(2)\n"
            "print('pg', s.connect_ex(('127.0.0.1', 5432)))\n"
            "open('/tmp/work/out.txt', 'w').write('kept')\n"
        )
        async with runner.workspace() as ws:
            done = await ws.run([runner.python, "-I", "-c", code], env={}, cwd=ws.host)
            written = (ws.host / "out.txt").read_text()
        assert done.returncode == 0, done.stderr
        lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
        if os.geteuid() == 0:
            assert lines["uid"] == "65534"
        assert lines["secret"] == "False"
        assert lines["pg"] != "0"  # nothing listens on the box's own loopback
        assert written == "kept"  # the scratch directory is the one writable place
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tool_under_tmp() -> Iterator[Path]:
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ferry-test-tool-"))
    folder.chmod(0o755)
    tool = folder / "tool"
    tool.write_text("#!/bin/sh\necho revealed\n")
    tool.chmod(0o755)
    yield tool
    shutil.rmtree(folder, ignore_errors=True)


async def test_a_program_under_a_covered_path_is_shown_again(tool_under_tmp: Path) -> None:
    """The box covers /tmp with its own; a checkout there (CI clones under /tmp) keeps its
    uv visible because the runner shows that one file again, read-only."""
    import shutil
    import tempfile

    tool = tool_under_tmp
    root = Path(tempfile.mkdtemp(prefix="ferry-test-box-"))
    try:
        policy = EgressPolicy.build(trusted_urls=[])
        hidden = BwrapRunner(sandbox_dir=root, hidden=[], policy=policy, python="/usr/bin/python3")
        assert await hidden.probe([str(tool)]) is not None  # covered: not there
        shown = BwrapRunner(
            sandbox_dir=root,
            hidden=[],
            policy=policy,
            python="/usr/bin/python3",
            revealed=[tool],
        )
        assert await shown.probe([str(tool)]) is None
        async with shown.workspace() as ws:
            done = await ws.run([str(tool)], env={}, cwd=ws.host)
        assert done.stdout.strip() == "revealed"
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_closing_with_a_connection_open_logs_nothing(
    proxy: tuple[EgressProxy, Path, LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    gate, path, _upstream = proxy
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(b"GET http://127.0.0.1")  # half a request: its handler waits for more
    await writer.drain()
    await asyncio.sleep(0.2)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        await gate.close()
        await asyncio.sleep(0.2)
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed
    writer.close()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
