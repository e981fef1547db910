"""`ferry token` on a data directory and against a running server, and what `ferry serve`
does about tokens at its first and later starts."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ferry.auth.tokens import hash_token
from ferry.cli.main import main
from ferry.errors import ExitCode
from ferry.settings import Settings
from support.serve import Server, free_port


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_revoke_on_a_data_directory(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys, "token", "create", "--name", "ci", "--role", "write", "--data-dir", str(data_dir)
    )
    assert code == ExitCode.OK
    token = out.strip()
    assert token.startswith("ferry_") and "\n" not in token  # stdout is the token alone
    assert "shown only this once" in err and "role write" in err

    code, out, _ = _run(
        capsys,
        *("token", "create", "--name", "nightly", "--role", "read", "--owner", "team-a"),
        *("--expires", "30d", "--max-active-tasks", "2", "--max-disk", "5G"),
        *("--json", "--data-dir", str(data_dir)),
    )
    made = json.loads(out)
    assert made["owner"] == "team-a" and made["expires_at"] and made["max_active_tasks"] == 2
    assert made["max_disk_bytes"] == 5 * 1024**3

    code, out, _ = _run(capsys, "token", "list", "--json", "--data-dir", str(data_dir))
    listed = json.loads(out)
    assert {d["name"] for d in listed} == {"ci", "nightly"}
    assert all("token" not in d and "token_hash" not in d for d in listed)
    assert token not in out and hash_token(token) not in out
    code, table, _ = _run(capsys, "token", "list", "--data-dir", str(data_dir))
    assert "ci" in table and "never" in table and token not in table

    code, _, err = _run(capsys, "token", "revoke", "ci", "--data-dir", str(data_dir))
    assert code == ExitCode.OK and "revoked" in err
    code, out, _ = _run(capsys, "token", "list", "--json", "--data-dir", str(data_dir))
    assert [d["name"] for d in json.loads(out)] == ["nightly"]
    code, out, _ = _run(capsys, "token", "list", "--revoked", "--json", "--data-dir", str(data_dir))
    assert any(d["name"] == "ci" and d["revoked_at"] for d in json.loads(out))
    code, _, err = _run(capsys, "token", "revoke", "ci", "--data-dir", str(data_dir))
    assert code == ExitCode.USAGE and "no unrevoked token" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--role", "root"], "is not read, write or admin"),
        (["--name", "x", "--role", "read", "--expires", "soon"], "is not a duration"),
        (["--name", "bad\nname", "--role", "read"], "is not usable"),
        (["--name", "x", "--role", "read", "--max-disk", "lots"], "is not a size"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = _run(capsys, "token", "create", *args, "--data-dir", str(data_dir))
    assert code == ExitCode.USAGE
    assert message in err and out == ""


@pytest.fixture
def server(npm_settings: Settings) -> Iterator[Server]:
    started = Server(npm_settings, free_port())
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.slow
def test_first_start_makes_an_admin_token_once(npm_settings: Settings) -> None:
    first = Server(npm_settings, free_port())
    try:
        printed = first.printed_token
        path = npm_settings.data_dir / "admin-token"
        assert printed and path.read_text().strip() == printed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"{first.base}/#token={printed}" in first.output
        assert first.client.get("/api/tokens").status_code == 200  # it is an admin's
    finally:
        first.stop()
    second = Server(npm_settings, free_port())
    try:
        assert second.printed_token is None and printed not in second.output
        assert f"the first admin token is in {path}" in second.output
        assert second.client.get("/api/tasks").status_code == 200
    finally:
        second.stop()


@pytest.mark.slow
def test_token_commands_against_a_running_server(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = ("--server", server.base, "--token", server.token)
    code, out, _ = _run(capsys, "token", "create", "--name", "bob", "--role", "write", *remote)
    assert code == ExitCode.OK
    bob = out.strip()
    assert httpx.get(f"{server.base}/api/tasks", headers={"Authorization": f"Bearer {bob}"})
    code, out, _ = _run(capsys, "token", "list", "--json", *remote)
    assert "bob" in {d["name"] for d in json.loads(out)}
    # bob is no admin: the server says so, and the command says what it said
    code, _, err = _run(capsys, "token", "list", "--server", server.base, "--token", bob)
    assert code == ExitCode.USAGE and "403" in err and "admin role" in err
    code, _, _ = _run(capsys, "token", "revoke", "bob", *remote)
    assert code == ExitCode.OK
    answer = httpx.get(f"{server.base}/api/tasks", headers={"Authorization": f"Bearer {bob}"})
    assert answer.status_code == 401


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", "serve", "--no-auth", "--host", "0.0.0.0"],
        env={"FERRY_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitCode.CONFIG
    assert "only a loopback address may be served without tokens" in done.stderr


@pytest.mark.slow
def test_no_auth_on_loopback_warns_and_refuses_other_host_names(npm_settings: Settings) -> None:
    server = Server(npm_settings, free_port(), args=("--no-auth",))
    try:
        assert "WITHOUT authentication" in server.output
        assert not (npm_settings.data_dir / "admin-token").exists()
        assert httpx.get(f"{server.base}/api/tasks").status_code == 200
        # a page on another origin cannot post to it, and a rebinding DNS name is refused
        form = httpx.post(
            f"{server.base}/api/tasks",
            headers={"Origin": "http://evil.test"},
            files=[("files", ("requirements.txt", b"x\n", "text/plain"))],
        )
        assert form.status_code == 403
        rebound = httpx.get(f"{server.base}/api/tasks", headers={"Host": "evil.test"})
        assert rebound.status_code == 421
    finally:
        server.stop()
