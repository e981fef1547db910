"""``ferry cache``: what the cache and the kept store hold, and pruning both; and the cap
kept after every bundle."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from conftest import Dists, write
from ferry.cli.main import main
from ferry.db.engine import make_engine, upgrade
from ferry.errors import ExitCode
from ferry.settings import Settings
from ferry.store.cache import usage
from ferry.store.cas import ContentStore

HOUR = 3600.0


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FERRY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FERRY_INDEX_URL", str(settings.index_url))
    monkeypatch.setenv("FERRY_USE_MACHINE_CONFIG", "false")
    return settings


def _blob(root: Path, data: bytes, age: float) -> Path:
    """A blob in the store at ``root``, stored or last used ``age`` seconds ago."""
    store = ContentStore(root)
    digest = hashlib.sha256(data).hexdigest()
    with store.open_staging() as (tmp, out):
        out.write(data)
        store.commit(tmp, digest)
    path = store.path_for(digest)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    return doc


def test_info_and_prune(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    old = _blob(env.blob_dir, b"o" * 3000, age=5 * HOUR)
    recent = _blob(env.blob_dir, b"r" * 2000, age=2 * HOUR)
    fresh = _blob(env.blob_dir, b"f" * 1000, age=60)

    assert main(["cache", "info", "--json"]) == ExitCode.OK
    info = _json(capsys)
    assert info["cache"] == {
        "path": str(env.blob_dir),
        "files": 3,
        "bytes": 6000,
        "max_bytes": env.cache_max_bytes,
        "min_age": env.cache_min_age,
    }

    assert main(["cache", "prune", "--max-size", "3k", "--dry-run", "--json"]) == ExitCode.OK
    assert _json(capsys)["cache"] == {
        "removed": 1,
        "freed": 3000,
        "files": 2,
        "bytes": 3000,
        "spared": 0,
    }
    assert old.is_file()

    assert main(["cache", "prune", "--max-size", "3k"]) == ExitCode.OK
    assert "removed 1 files (3.0 kB)" in capsys.readouterr().out
    assert not old.exists() and recent.is_file()

    # --all takes what was used a minute ago too
    assert main(["cache", "prune", "--all", "--json"]) == ExitCode.OK
    assert _json(capsys)["cache"] == {
        "removed": 2,
        "freed": 3000,
        "files": 0,
        "bytes": 0,
        "spared": 0,
    }
    assert not fresh.exists()


def test_prune_collects_kept_blobs_nothing_names(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "prune", "--json"]) == ExitCode.OK
    assert _json(capsys)["kept"] is None  # no database: nothing can say what is named
    engine = make_engine(env.effective_database_url)
    upgrade(engine)
    engine.dispose()
    orphan = _blob(env.store_dir, b"left by a crash", age=2 * HOUR)
    young = _blob(env.store_dir, b"being recorded right now", age=1)

    assert main(["cache", "prune", "--json"]) == ExitCode.OK
    assert _json(capsys)["kept"] == {"removed": 1, "freed": 15, "blobs": 1}
    assert not orphan.exists() and young.is_file()


def test_bad_sizes_and_contradictions_are_usage_errors(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "prune", "--max-size", "lots"]) == ExitCode.USAGE
    assert "--max-size" in capsys.readouterr().err
    assert main(["cache", "prune", "--max-size", "1G", "--all"]) == ExitCode.USAGE
    assert "--all" in capsys.readouterr().err


def test_a_bundle_keeps_the_cache_under_its_cap(
    env: Settings,
    pyindex: Dists,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stale = _blob(env.blob_dir, b"s" * 50_000, age=5 * HOUR)
    monkeypatch.setenv("FERRY_CACHE_MAX_BYTES", "1")
    req = write(tmp_path / "requirements.txt", "app\n")
    out = tmp_path / "b.zip"
    args = ["bundle", str(req), "-o", str(out), "--platform", "win_amd64", "--python", "3.12"]
    assert main([*args, "--json"]) == ExitCode.OK
    first = _json(capsys)
    # over the cap: the stale file went, this bundle's own (just used) stayed
    assert not stale.exists()
    assert usage(ContentStore(env.blob_dir)).blobs == first["files"]
    assert main([*args, "--json"]) == ExitCode.OK
    assert _json(capsys)["bytes_fetched"] == 0
