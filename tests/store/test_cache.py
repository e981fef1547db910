"""The cache's cap: least recently used files go first, recently used ones never."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from ferry.services.cache import trim_cache
from ferry.settings import Settings
from ferry.store.cache import prune, usage
from ferry.store.cas import ContentStore
from ferry.units import parse_size

HOUR = 3600.0


def _add(store: ContentStore, data: bytes, used: float) -> str:
    """A blob last used ``used`` seconds ago."""
    digest = hashlib.sha256(data).hexdigest()
    with store.open_staging() as (tmp, out):
        out.write(data)
        store.commit(tmp, digest)
    stamp = time.time() - used
    os.utime(store.path_for(digest), (stamp, stamp))
    return digest


def test_the_least_recently_used_go_first_down_to_the_cap(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    oldest = _add(store, b"a" * 1000, used=10 * HOUR)
    older = _add(store, b"b" * 1000, used=5 * HOUR)
    newer = _add(store, b"c" * 1000, used=3 * HOUR)
    assert usage(store).bytes == 3000

    result = prune(store, 1500, min_age=HOUR)

    assert (result.removed, result.freed, result.kept.blobs, result.kept.bytes) == (
        2,
        2000,
        1,
        1000,
    )
    assert not store.has(oldest) and not store.has(older)
    assert store.has(newer)


def test_files_used_within_min_age_stay_even_over_the_cap(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    old = _add(store, b"a" * 1000, used=2 * HOUR)
    fresh = [_add(store, bytes([i]) * 1000, used=60) for i in range(3)]

    result = prune(store, 0, min_age=HOUR)

    assert (result.removed, result.spared) == (1, 3)
    assert not store.has(old)
    assert all(store.has(d) for d in fresh)
    assert result.kept.bytes == 3000


def test_a_dry_run_removes_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    digest = _add(store, b"a" * 1000, used=2 * HOUR)
    result = prune(store, 0, min_age=HOUR, dry_run=True)
    assert (result.removed, result.freed) == (1, 1000)
    assert store.has(digest)


def test_a_lookup_that_finds_a_blob_marks_it_used(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    looked_up = _add(store, b"a" * 1000, used=10 * HOUR)
    left_alone = _add(store, b"b" * 1000, used=5 * HOUR)

    assert store.has(looked_up, 1000)  # a bundle finds it in the cache: it is in use again
    result = prune(store, 1000, min_age=HOUR)

    assert store.has(looked_up)
    assert not store.has(left_alone)
    assert result.removed == 1


def test_staging_files_and_strays_are_not_blobs(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    _add(store, b"a" * 1000, used=2 * HOUR)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    (tmp_path / "tmp" / "part-x.tmp").write_bytes(b"x" * 5000)
    stray = tmp_path / "sha256" / "README"
    stray.write_text("not a blob")
    assert usage(store).blobs == 1
    prune(store, 0, min_age=0)
    assert stray.is_file()
    assert usage(store).blobs == 0


def test_the_setting_caps_the_cache_and_zero_means_no_limit(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, cache_max_bytes="1.5k", cache_min_age=HOUR)
    assert settings.cache_max_bytes == 1500
    store = ContentStore(settings.blob_dir)
    _add(store, b"a" * 1000, used=3 * HOUR)
    _add(store, b"b" * 1000, used=2 * HOUR)

    assert trim_cache(settings.model_copy(update={"cache_max_bytes": 0})) is None
    assert usage(store).blobs == 2
    result = trim_cache(settings)
    assert result is not None and result.removed == 1
    assert usage(store).bytes == 1000


@pytest.mark.parametrize(
    ("text", "size"),
    [("20G", 20 * 1000**3), ("1.5 GiB", 1536 * 1024**2), ("500m", 500 * 1000**2), ("100", 100)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_a_bad_size_names_itself() -> None:
    with pytest.raises(ValueError, match="'lots'"):
        parse_size("lots")
    with pytest.raises(ValueError, match="cache_max_bytes"):
        Settings(cache_max_bytes="lots")
