"""The machine's pip configuration, as users write it: pip.conf files where pip looks for
them and PIP_* variables, merged in pip's order. Read by pip's own code, whatever shape
the installed pip hands it back in (pip 26 changed it, and every mirror was bypassed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Dists, write
from ferry.cli.main import main
from ferry.ecosystems.pypi.sources import discover_sources, pip_sections
from ferry.errors import ExitCode
from ferry.settings import load_settings


def _sources() -> object:
    return discover_sources(load_settings(use_machine_config=True))


def test_pip_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = write(
        tmp_path / "pip.conf",
        "[global]\n"
        "index-url = http://127.0.0.1:9/simple\n"
        "extra-index-url =\n    http://127.0.0.1:8/simple\n    http://127.0.0.1:7/simple\n"
        "find-links = http://127.0.0.1:6/wheels/\n",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    sources = _sources()
    assert sources.index_url == "http://127.0.0.1:9/simple/"  # type: ignore[attr-defined]
    assert sources.extra_index_urls == (  # type: ignore[attr-defined]
        "http://127.0.0.1:8/simple/",
        "http://127.0.0.1:7/simple/",
    )
    assert sources.find_links == ("http://127.0.0.1:6/wheels/",)  # type: ignore[attr-defined]
    assert sources.strategy == "unsafe-best-match"  # type: ignore[attr-defined]
    assert sources.origin["index_url"] == "pip configuration"  # type: ignore[attr-defined]


def test_the_users_file_and_a_global_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIP_CONFIG_FILE")  # as on a machine: pip looks where it looks
    system = tmp_path / "etc-xdg"
    write(system / "pip" / "pip.conf", "[global]\nindex-url = http://127.0.0.1:5/simple\n")
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(system))
    assert _sources().index_url == "http://127.0.0.1:5/simple/"  # type: ignore[attr-defined]
    # the user's file overrides the global one
    user = Path(str(tmp_path / "home-config"))
    write(user / "pip" / "pip.conf", "[global]\nindex-url = http://127.0.0.1:4/simple\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user))
    assert _sources().index_url == "http://127.0.0.1:4/simple/"  # type: ignore[attr-defined]


def test_variables_win_and_sections_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = write(
        tmp_path / "pip.conf",
        "[global]\nindex-url = http://127.0.0.1:9/simple\ncert = /nowhere/global.pem\n"
        "[install]\nindex-url = http://127.0.0.1:3/simple\n",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    ca = write(tmp_path / "ca.pem", "not really a certificate")
    monkeypatch.setenv("PIP_CERT", str(ca))
    assert _sources().index_url == "http://127.0.0.1:3/simple/"  # type: ignore[attr-defined]
    assert _sources().cert == ca  # type: ignore[attr-defined]
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:2/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:1/a http://127.0.0.1:1/b")
    sources = _sources()
    assert sources.index_url == "http://127.0.0.1:2/simple/"  # type: ignore[attr-defined]
    assert sources.extra_index_urls == (  # type: ignore[attr-defined]
        "http://127.0.0.1:1/a/",
        "http://127.0.0.1:1/b/",
    )


def test_both_shapes_of_pips_answer() -> None:
    merged = [("global.index-url", "http://a/"), (":env:.index-url", "http://b/")]
    per_file = [
        ("/etc/pip.conf", {"global.index-url": "http://a/"}),
        (":env:", {":env:.index-url": "http://b/"}),
    ]
    expected = {"global": {"index-url": "http://a/"}, ":env:": {"index-url": "http://b/"}}
    assert pip_sections(merged) == expected
    assert pip_sections(per_file) == expected


def test_ferry_resolves_from_the_index_pip_is_told_to_use(
    pyindex: Dists,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Only PIP_INDEX_URL names the test index: its packages exist nowhere else."""
    monkeypatch.setenv("PIP_INDEX_URL", pyindex.index.url)
    monkeypatch.setenv("FERRY_DATA_DIR", str(tmp_path / "data"))
    req = write(tmp_path / "requirements.txt", "app\n")
    code = main(["resolve", str(req), "--python", "3.12", "--platform", "win_amd64", "--json"])
    assert code == ExitCode.OK, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert doc["index"] == pyindex.index.url
    assert "winonly" in {p["name"] for p in doc["python"]["targets"][0]["packages"]}
    code = main(["config"])
    shown = json.loads(capsys.readouterr().out)["python_index"]
    assert shown["index_url"] == pyindex.index.url
    assert shown["origin"]["index_url"] == "pip configuration"
