"""``ferry packages`` against a real ``ferry serve``: upload, list, show, download (checked
against the sha256), delete; a duplicate and a read token refused with the server's words;
FERRY_URL / FERRY_TOKEN read from the environment."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ferry.cli.main import main
from ferry.errors import ExitCode
from ferry.settings import Settings
from support.pathproxy import PathProxy
from support.s3servers import ACCESS_KEY, PART_SIZE, SECRET_KEY, S3Server, s3_client
from support.serve import Server, free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server(npm_settings: Settings) -> Iterator[Server]:
    started = Server(npm_settings, free_port())
    try:
        yield started
    finally:
        started.stop()


def _token(server: Server, role: str, owner: str) -> str:
    answer = server.client.post(
        "/api/tokens", json={"name": f"{role}-{owner}", "role": role, "owner": owner}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_upload_list_show_download_delete(
    server: Server,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FERRY_URL", server.base)
    monkeypatch.setenv("FERRY_TOKEN", _token(server, "write", "alice"))
    body = os.urandom(3_000_000)
    file = tmp_path / "agent-1.4.2.tar.gz"
    file.write_bytes(body)
    key = ("--name", "agent", "--version", "1.4.2", "--platform", "linux", "--arch", "x86_64")

    code, out, err = _run(capsys, "packages", "upload", str(file), *key, "--description", "x")
    assert code == ExitCode.OK, err
    package_id = out.strip()
    assert hashlib.sha256(body).hexdigest() in err

    # the same key again: refused, in the server's words, naming the package stored
    code, _, err = _run(capsys, "packages", "upload", str(file), *key)
    assert code == ExitCode.USAGE and "409" in err and package_id in err

    code, out, _ = _run(capsys, "packages", "list", "--name", "agent", "--json")
    listed = json.loads(out)
    assert code == ExitCode.OK and [p["id"] for p in listed["packages"]] == [package_id]
    code, out, _ = _run(capsys, "packages", "show", package_id, "--json")
    assert json.loads(out)["sha256"] == hashlib.sha256(body).hexdigest()

    into = tmp_path / "got"
    into.mkdir()
    code, out, err = _run(capsys, "packages", "download", package_id, "-o", str(into), "--json")
    assert code == ExitCode.OK, err
    assert (into / "agent-1.4.2.tar.gz").read_bytes() == body
    assert list(into.iterdir()) == [into / "agent-1.4.2.tar.gz"]  # no part file left

    code, _, err = _run(capsys, "packages", "delete", package_id)
    assert code == ExitCode.OK, err
    assert server.client.get(f"/api/v1/packages/{package_id}").status_code == 404


def test_a_read_token_cannot_upload_and_bad_ids_never_reach_the_server(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = tmp_path / "a.bin"
    file.write_bytes(b"x" * 10)
    reader = ("--server", server.base, "--token", _token(server, "read", "bob"))
    key = ("--name", "a", "--version", "1", "--platform", "linux", "--arch", "x86_64")
    code, _, err = _run(capsys, "packages", "upload", str(file), *key, *reader)
    assert code == ExitCode.USAGE and "403" in err
    assert server.client.get("/api/v1/packages").json()["total"] == 0
    code, _, err = _run(capsys, "packages", "show", "../../api/tokens", *reader)
    assert code == ExitCode.USAGE and "not a package id" in err
    # no server or no token: said plainly, nothing sent
    code, _, err = _run(capsys, "packages", "list", "--server", server.base, "--token", "")
    assert code != ExitCode.OK and "FERRY_TOKEN" in err


def test_a_download_whose_bytes_differ_is_not_kept(
    server: Server,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FERRY_URL", server.base)
    monkeypatch.setenv("FERRY_TOKEN", _token(server, "write", "carol"))
    file = tmp_path / "b.bin"
    file.write_bytes(b"the right bytes")
    key = ("--name", "b", "--version", "1", "--platform", "linux", "--arch", "x86_64")
    code, out, _ = _run(capsys, "packages", "upload", str(file), *key)
    package_id = out.strip()
    # the stored blob is replaced behind the server's back
    sha = hashlib.sha256(b"the right bytes").hexdigest()
    blob = next(server.settings.data_dir.rglob(sha))
    blob.chmod(0o644)
    blob.write_bytes(b"the wrong bytes")
    into = tmp_path / "got"
    into.mkdir()
    code, _, err = _run(capsys, "packages", "download", package_id, "-o", str(into))
    assert code == ExitCode.INTEGRITY and "sha256" in err
    assert list(into.iterdir()) == []
    assert httpx.get(server.base + "/health").status_code == 200


def test_a_sha256_given_is_not_computed_and_bytes_that_differ_are_refused(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = tmp_path / "c.bin"
    file.write_bytes(b"a release's bytes")
    right = hashlib.sha256(b"a release's bytes").hexdigest()
    auth = ("--server", server.base, "--token", server.token)
    key = ("--name", "c", "--version", "1", "--platform", "linux", "--arch", "x86_64")
    upload = ("packages", "upload", str(file), *key, *auth)
    code, _, err = _run(capsys, *upload, "--sha256", "0" * 63)
    assert code == ExitCode.USAGE and "64 hex digits" in err
    code, _, err = _run(capsys, *upload, "--sha256", "0" * 64)
    assert code == ExitCode.USAGE and "422" in err and right in err, err
    assert server.client.get("/api/v1/packages").json()["total"] == 0
    code, out, err = _run(capsys, *upload, "--sha256", right.upper())
    assert code == ExitCode.OK, err
    assert server.client.get(f"/api/v1/packages/{out.strip()}").json()["sha256"] == right


def test_a_file_bigger_than_the_server_takes_is_refused_before_it_is_sent(
    npm_settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = Server(npm_settings, env={"FERRY_PACKAGE_MAX_BYTES": "4096"})
    front = PathProxy({"/ferry/": server.base + "/"}).start()  # to see what is sent
    try:
        file = tmp_path / "big.bin"
        file.write_bytes(b"x" * 5000)
        key = ("--name", "big", "--version", "1", "--platform", "linux", "--arch", "x86_64")
        auth = ("--server", front.url("/ferry"), "--token", server.token)
        code, _, err = _run(capsys, "packages", "upload", str(file), *key, *auth)
        assert code == ExitCode.USAGE, err
        assert "big.bin" in err and "package_max_bytes" in err and "4.1 kB" in err, err
        assert front.requests == [("GET", "/ferry/api/v1/packages")]  # the file never left
        assert server.client.get("/api/v1/packages").json()["total"] == 0
    finally:
        front.stop()
        server.stop()


async def _checksum(server: S3Server, name: str) -> str | None:
    """The SHA-256 the bucket checked an object's bytes against when they were PUT (only
    a PUT that carried one has it: a file sent through the service has none)."""
    async with s3_client(server.endpoint) as client:
        head = await client.head_object(Bucket=server.bucket, Key=name, ChecksumMode="ENABLED")
    return head.get("ChecksumSHA256")


@pytest.mark.s3
def test_on_s3_the_file_goes_straight_to_the_bucket_and_comes_back_from_it(
    npm_settings: Settings,
    seaweedfs: S3Server,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    prefix = f"cli-{os.urandom(4).hex()}"
    env = {
        "FERRY_BLOB_STORE": f"s3://{seaweedfs.bucket}/{prefix}",
        "FERRY_S3_ENDPOINT_URL": seaweedfs.endpoint,
        "FERRY_S3_PART_SIZE": str(PART_SIZE),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    server = Server(npm_settings, env=env)
    try:
        assert server.client.get("/api/v1/packages").json()["upload"]["sha256_first"] is True
        auth = ("--server", server.base, "--token", server.token)
        checked: dict[bool, str | None] = {}
        expected = ""
        for via_server in (False, True):
            body = os.urandom(2 * PART_SIZE + 1234)
            file = tmp_path / f"model-runner-{via_server}.bin"
            file.write_bytes(body)
            key = ("--name", "runner", "--version", str(via_server), "--platform", "linux")
            flags = ("--via-server",) if via_server else ()
            code, out, err = _run(
                capsys, "packages", "upload", str(file), *key, "--arch", "arm64", *flags, *auth
            )
            assert code == ExitCode.OK, err
            assert err.strip().endswith(
                "sent through the service" if via_server else "sent straight to the store"
            )
            digest = hashlib.sha256(body).digest()
            name = f"{prefix}/sha256/{digest.hex()[:2]}/{digest.hex()[2:4]}/{digest.hex()}"
            checked[via_server] = asyncio.run(_checksum(seaweedfs, name))
            if not via_server:
                expected = base64.b64encode(digest).decode()

            package_id = out.strip()
            into = tmp_path / f"got-{via_server}"
            into.mkdir()
            code, _, err = _run(capsys, "packages", "download", package_id, "-o", str(into), *auth)
            assert code == ExitCode.OK, err
            assert (into / file.name).read_bytes() == body
            # what the CLI asks for, the server answers with a presigned URL of the bucket
            asked = server.client.get(f"/api/v1/packages/{package_id}/download?redirect=1")
            assert asked.status_code == 307
            assert asked.headers["location"].startswith(seaweedfs.endpoint)
        # straight into the bucket, which checked the sha256; through the service, without
        assert checked == {False: expected, True: None}

        # a sha256 given that the bytes do not have: the bucket refuses them, nothing is kept
        other = tmp_path / "other.bin"
        other.write_bytes(os.urandom(1000))
        key = ("--name", "other", "--version", "1", "--platform", "linux", "--arch", "arm64")
        wrong = ("--sha256", hashlib.sha256(b"something else").hexdigest())
        code, _, err = _run(capsys, "packages", "upload", str(other), *key, *wrong, *auth)
        assert code != ExitCode.OK and "BadDigest" in err, err
        listed = server.client.get("/api/v1/packages", params={"name": "other"}).json()
        assert listed["total"] == 0
    finally:
        server.stop()
