"""The server SIGKILLed in the middle of a package upload, then started again: no row,
and what the interrupted writer left in the blob store is gone after the start's sweep."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from ferry.settings import Settings
from support.serve import Server, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

BOUNDARY = "ferryboundary"


def _leftovers(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("part-*.tmp") if p.is_file()]


def _blobs(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("sha256/*/*/*") if p.is_file()]


def _start_upload(server: Server, token: str, size: int, sent: int) -> socket.socket:
    """Send the headers, the fields and ``sent`` bytes of a ``size``-byte file; keep the
    connection open, as a client in the middle of a long upload does."""
    fields = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in {"name": "big", "version": "1", "platform": "linux", "arch": "x86_64"}.items()
    )
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    tail = f"\r\n--{BOUNDARY}--\r\n"
    length = len(fields) + len(head) + size + len(tail)
    host, port = server.base.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    conn.sendall(
        (
            "POST /api/v1/packages HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\n\r\n{fields}{head}"
        ).encode()
    )
    chunk = b"\x5a" * (1 << 20)
    for _ in range(sent // len(chunk)):
        conn.sendall(chunk)
    return conn


def test_a_killed_upload_leaves_no_row_and_no_bytes(npm_settings: Settings) -> None:
    env = {"FERRY_BLOB_STAGING_MAX_AGE": "0"}
    first = Server(npm_settings, free_port(), env=env)
    try:
        answer = first.client.post(
            "/api/tokens", json={"name": "up", "role": "write", "owner": "alice"}
        )
        token = answer.json()["token"]
        conn = _start_upload(first, token, size=64 << 20, sent=24 << 20)
        # the server is writing the file into the store as it arrives
        deadline = time.monotonic() + 30
        while not _leftovers(npm_settings.data_dir):
            assert time.monotonic() < deadline, "the upload never reached the store"
            time.sleep(0.05)
        first.kill()
        conn.close()
    finally:
        first.stop()
    assert _leftovers(npm_settings.data_dir), "the kill left nothing to clean: test is moot"

    again = Server(npm_settings, free_port(), env=env)
    try:
        listed = again.client.get("/api/v1/packages").json()
        assert listed["total"] == 0
        assert _leftovers(npm_settings.data_dir) == []
        assert _blobs(npm_settings.data_dir) == []
    finally:
        again.stop()
