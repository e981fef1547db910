from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from ferry.store import ContentStore

DATA = b"some wheel bytes"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "store")


def _put(store: ContentStore, data: bytes = DATA) -> Path:
    with store.open_staging() as (tmp, fh):
        fh.write(data)
        return store.commit(tmp, hashlib.sha256(data).hexdigest())


def test_layout(store: ContentStore) -> None:
    assert store.path_for(SHA) == store.root / "sha256" / SHA[:2] / SHA[2:4] / SHA


@pytest.mark.parametrize(
    "bad",
    [
        "../" * 20 + "etc/passwd",
        "../../" + SHA[6:],
        SHA[:-2] + "/x",
        SHA.upper(),
        SHA[:-1],
        SHA + "0",
        "",
        "g" * 64,
        SHA[:63] + "\n",
    ],
)
def test_names_that_could_escape_are_refused(store: ContentStore, bad: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        store.path_for(bad)
    with pytest.raises(ValueError):
        store.has(bad)
    with pytest.raises(ValueError), store.open_staging() as (tmp, _):
        store.commit(tmp, bad)
    assert list(store.staging_dir.iterdir()) == []


def test_commit_and_has(store: ContentStore) -> None:
    assert not store.has(SHA)
    path = _put(store)
    assert path.read_bytes() == DATA
    assert store.has(SHA)
    assert store.has(SHA, size=len(DATA))
    assert not store.has(SHA, size=len(DATA) + 1)
    assert store.verify(SHA)
    assert list(store.staging_dir.iterdir()) == []


def test_commit_is_idempotent(store: ContentStore) -> None:
    first = _put(store)
    second = _put(store)
    assert first == second
    assert first.read_bytes() == DATA
    assert list(store.staging_dir.iterdir()) == []


def test_staging_is_on_the_store_filesystem_and_removed_unless_committed(
    store: ContentStore,
) -> None:
    with store.open_staging() as (tmp, fh):
        fh.write(b"partial")
        assert tmp.parent == store.root / "tmp"
        assert tmp.stat().st_dev == store.root.stat().st_dev
    assert not tmp.exists()

    with pytest.raises(RuntimeError), store.open_staging() as (tmp, fh):
        fh.write(b"partial")
        raise RuntimeError("download failed")
    assert not tmp.exists()


def test_commit_flushes_buffered_writes(store: ContentStore) -> None:
    data = b"x" * 100  # far below the buffer size: still in Python's buffer at commit
    path = _put(store, data)
    assert path.read_bytes() == data


def test_verify_detects_corruption(store: ContentStore) -> None:
    path = _put(store)
    path.write_bytes(b"bit rot")
    assert not store.verify(SHA)
    assert store.has(SHA)  # has() is only a cheap stat
    assert not store.verify("0" * 64)


def test_add_file(store: ContentStore, tmp_path: Path) -> None:
    src = tmp_path / "local.whl"
    src.write_bytes(DATA * 100_000)
    sha = store.add_file(src)
    assert sha == hashlib.sha256(DATA * 100_000).hexdigest()
    assert store.verify(sha)
    assert src.exists()


def test_clean_staging_removes_only_old_files(store: ContentStore) -> None:
    store.staging_dir.mkdir(parents=True)
    old = store.staging_dir / "part-old.tmp"
    new = store.staging_dir / "part-new.tmp"
    other = store.staging_dir / "README"
    for p in (old, new, other):
        p.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))

    with store.open_staging() as (in_use, _):
        os.utime(in_use, (two_hours_ago, two_hours_ago))
        assert store.clean_staging(3600) == 1
        assert in_use.exists()

    assert not old.exists()
    assert new.exists()
    assert other.exists()


def test_clean_staging_without_a_staging_dir(store: ContentStore) -> None:
    assert store.clean_staging() == 0
