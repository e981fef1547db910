"""The CLI in-process: output, --json, errors rendered with code, hint and exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Dists, write
from ferry.cli.main import main
from ferry.errors import ExitCode
from ferry.settings import Settings


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FERRY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FERRY_INDEX_URL", str(settings.index_url))
    monkeypatch.setenv("FERRY_USE_MACHINE_CONFIG", "false")
    return settings


def test_resolve_json(env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = write(tmp_path / "requirements.txt", "app\n")
    code = main(
        [
            "resolve",
            str(req),
            "--python",
            "3.11",
            "--python",
            "3.12",
            "--platform",
            "win_amd64",
            "--json",
        ]
    )
    assert code == ExitCode.OK
    doc = json.loads(capsys.readouterr().out)
    keys = [t["target"]["key"] for t in doc["python"]["targets"]]
    assert keys == ["cp311-win_amd64", "cp312-win_amd64"]
    win = doc["python"]["targets"][1]
    assert {p["name"] for p in win["packages"]} == {"app", "lib", "dep", "native", "winonly"}
    assert win["total_bytes"] == sum(p["size"] for p in win["packages"])
    native = next(p for p in win["packages"] if p["name"] == "native")
    assert native["filename"] == "native-1.0-cp312-cp312-win_amd64.whl"


def test_resolve_no_wheel_for_python_is_an_error(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "native\n")
    code = main(["resolve", str(req), "--python", "3.12", "--platform", "manylinux2014_x86_64"])
    assert code == ExitCode.RESOLUTION
    assert "native" in capsys.readouterr().out


def test_resolve_text_tree_and_warning_exit(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "lib==2.0\n")
    code = main(["resolve", str(req), "--python", "3.11", "--platform", "manylinux_2_28_x86_64"])
    out = capsys.readouterr().out
    assert code == ExitCode.WARNINGS
    assert "lib 2.0" in out and "dep 1.0" in out and "yanked" in out


def test_resolve_error_exit(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "dep>=5\n")
    assert main(["resolve", str(req)]) == ExitCode.RESOLUTION
    assert "unsatisfiable" in capsys.readouterr().out


def test_bundle_then_cache(
    env: Settings, pyindex: Dists, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "app\n")
    out = tmp_path / "b.tar.gz"
    assert (
        main(
            [
                "bundle",
                str(req),
                "-o",
                str(out),
                "--platform",
                "win_amd64",
                "--python",
                "3.12",
                "--json",
            ]
        )
        == ExitCode.OK
    )
    first = json.loads(capsys.readouterr().out)
    assert (
        out.is_file() and first["bytes_fetched"] > 0 and first["archive_size"] == out.stat().st_size
    )
    assert (
        main(
            [
                "bundle",
                str(req),
                "-o",
                str(out),
                "--platform",
                "win_amd64",
                "--python",
                "3.12",
                "--json",
            ]
        )
        == ExitCode.OK
    )
    second = json.loads(capsys.readouterr().out)
    assert second["bytes_fetched"] == 0 and second["from_cache"] == second["files"]


def test_broken_manifest_names_file_and_line(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "dep\nthis is not valid!!\n")
    assert main(["resolve", str(req)]) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert "manifest-invalid" in err and f"{req}:2" in err


def test_unknown_platform_is_a_usage_error(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "dep\n")
    assert main(["resolve", str(req), "--platform", "amiga_68k"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "target-invalid" in err and "hint" in err


def test_unknown_archive_suffix(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "dep\n")
    assert main(["bundle", str(req), "-o", str(tmp_path / "b.rar")]) == ExitCode.USAGE
    assert "archive format" in capsys.readouterr().err


def test_bad_setting_is_a_config_error(
    env: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FERRY_CONCURRENCY", "zero")
    req = write(tmp_path / "requirements.txt", "dep\n")
    assert main(["resolve", str(req)]) == ExitCode.CONFIG
    assert "concurrency" in capsys.readouterr().err


def test_serve_starts_the_service(env: Settings, tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ferry.cli.main",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "served"),
        ],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                import httpx

                reply = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("ferry serve did not answer")
        assert reply.json()["status"] == "ok"
        assert (tmp_path / "served" / "ferry.db").is_file()  # SQLite, migrated at start
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_resolve_npm_and_python_together(
    npm_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FERRY_DATA_DIR", str(npm_settings.data_dir))
    monkeypatch.setenv("FERRY_INDEX_URL", str(npm_settings.index_url))
    monkeypatch.setenv("FERRY_NPM_REGISTRY", str(npm_settings.npm_registry))
    monkeypatch.setenv("FERRY_USE_MACHINE_CONFIG", "false")
    pkg = write(
        tmp_path / "package.json",
        json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"@demo/native": "1.0.0"}}),
    )
    req = write(tmp_path / "requirements.txt", "dep==1.0\n")
    code = main(
        [
            "resolve",
            str(pkg),
            str(req),
            "--os",
            "win32",
            "--cpu",
            "x64",
            "--node",
            "22",
            "--python",
            "3.12",
            "--platform",
            "win_amd64",
            "--json",
        ]
    )
    assert code == ExitCode.OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["npm"]["target"]["key"] == "node22-win32-x64"
    assert {p["name"] for p in doc["npm"]["packages"]} == {"@demo/native", "@demo/native-win32-x64"}
    assert doc["npm"]["tree"][0]["children"][0]["name"] == "@demo/native-win32-x64"
    assert doc["python"]["targets"][0]["target"]["key"] == "cp312-win_amd64"


def test_npm_lock_v1_is_an_input_error(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = write(tmp_path / "package-lock.json", '{"lockfileVersion": 1, "dependencies": {}}')
    assert main(["resolve", str(lock)]) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert "lockfileVersion 1" in err and "--lockfile-version 3" in err


def test_unknown_node_os_is_a_usage_error(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pkg = write(tmp_path / "package.json", "{}")
    assert main(["resolve", str(pkg), "--os", "beos"]) == ExitCode.USAGE
    assert "os 'beos'" in capsys.readouterr().err


def test_config_shows_where_registries_come_from(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FERRY_NPM_REGISTRY", "http://127.0.0.1:9/npm/")
    assert main(["config"]) == ExitCode.OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["python_index"]["index_url"] == env.index_url
    assert doc["python_index"]["origin"]["index_url"] == "ferry settings"
    assert doc["npm_registry"]["registry"] == "http://127.0.0.1:9/npm/"
    assert doc["npm_registry"]["origin"] == "ferry settings"
