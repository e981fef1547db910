"""Where packages come from, as the command line says it: --index-url, --extra-index-url,
--find-links, --ignore-manifest-indexes, --registry; an index out of reach is exit 6 and
names where that index was written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Dists, write
from ferry.cli.main import main
from ferry.errors import ExitCode

DOWN = "http://127.0.0.1:9/simple/"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pyindex: Dists) -> Path:
    """Ferry's settings point at an index that is down; the tests say where else to go."""
    config = write(
        tmp_path / "ferry.toml",
        # no retries: an index that refuses at once is named at once, not after uv's backoff
        f'index_url = "{DOWN}"\nuse_machine_config = false\nretries = 0\n\n'
        f'[registries.team]\nindex_url = "{pyindex.index.url}"\ndescription = "Team"\n',
    )
    monkeypatch.setenv("FERRY_CONFIG", str(config))
    monkeypatch.setenv("FERRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FERRY_INDEX_URL", raising=False)
    return config


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_an_unreachable_index_is_exit_6_and_named(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "dep==1.0\n")
    assert main(["resolve", str(req)]) == ExitCode.NETWORK
    out = capsys.readouterr().out
    assert "error[index-unreachable]" in out
    assert f"the index {DOWN} (from ferry settings) cannot be reached" in out


def test_index_url_flag_wins_over_the_settings(
    env: Path, tmp_path: Path, pyindex: Dists, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "dep==1.0\n")
    code = main(["resolve", str(req), "--index-url", pyindex.index.url, "--json"])
    assert code == ExitCode.OK
    assert _json(capsys)["index"] == pyindex.index.url


def test_extra_index_and_find_links_flags(
    env: Path, tmp_path: Path, pyindex: Dists, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "dep==1.0\n")
    # the primary index is down, but dep is in a plain directory given with --find-links
    links = pyindex.dir
    code = main(["resolve", str(req), "--find-links", str(links), "--index-url", pyindex.index.url])
    assert code == ExitCode.OK
    capsys.readouterr()
    # an extra index is asked first (uv's order); it has dep, so the primary that is down
    # is never needed, as with pip, which only warns about an index it cannot reach
    code = main(["resolve", str(req), "--extra-index-url", pyindex.index.url, "--json"])
    assert code == ExitCode.OK
    doc = _json(capsys)
    python = doc["python"]
    assert isinstance(python, dict)
    assert python["targets"][0]["packages"][0]["url"].startswith(pyindex.index.base)


def test_a_manifests_index_line_is_named_and_can_be_left_out(
    env: Path, tmp_path: Path, pyindex: Dists, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", f"--extra-index-url {DOWN}\ndep==1.0\n")
    flags = ["--registry", "team"]  # a profile that works, and the manifest's line beside it
    assert main(["resolve", str(req), *flags]) == ExitCode.NETWORK
    assert f"(from {req}:1) cannot be reached" in capsys.readouterr().out

    code = main(["resolve", str(req), *flags, "--ignore-manifest-indexes", "--json"])
    assert code == ExitCode.OK
    doc = _json(capsys)
    assert doc["index"] == pyindex.index.url


def test_registry_profile_and_unknown_names(
    env: Path, tmp_path: Path, pyindex: Dists, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.txt", "dep==1.0\n")
    assert main(["resolve", str(req), "--registry", "team", "--json"]) == ExitCode.OK
    assert _json(capsys)["index"] == pyindex.index.url
    assert main(["resolve", str(req), "--registry", "nope"]) == ExitCode.CONFIG
    assert "registry 'nope' is not a configured profile (team)" in capsys.readouterr().err
    assert main(["config", "--registry", "team"]) == ExitCode.OK
    shown = _json(capsys)
    python_index = shown["python_index"]
    assert isinstance(python_index, dict)
    assert python_index["index_url"] == pyindex.index.url
    assert python_index["origin"]["index_url"] == "registry profile 'team'"


def test_ferrys_retries_setting_is_uvs(tmp_path: Path) -> None:
    """uv gives up on an index as often as Ferry's `retries` says (uv's own default is 3
    retries with back-off: 6 s per unreachable index)."""
    import asyncio
    import socket
    import threading

    from ferry.services.python_bundle import resolve_python
    from ferry.settings import load_settings
    from ferry.targets import host_target

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted = [0]

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted[0] += 1
            conn.close()  # every request dies with the connection: uv retries it

    threading.Thread(target=hang_up, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/simple/"
    req = write(tmp_path / "requirements.txt", "dep==1.0\n")
    counts = {}
    try:
        for retries in (0, 2):
            accepted[0] = 0
            settings = load_settings(
                data_dir=tmp_path / f"data{retries}",
                index_url=url,
                use_machine_config=False,
                retries=retries,
            )
            outcome = asyncio.run(resolve_python(settings, [req], [host_target()]))
            assert outcome.resolution.unreachable
            counts[retries] = accepted[0]
    finally:
        listener.close()
    assert counts[0] >= 1 and counts[2] == 3 * counts[0], counts
