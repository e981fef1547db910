from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import struct
import subprocess
import tarfile
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from ferry.bundle.archive import (
    FIXED_MTIME,
    MIN_MTIME,
    SUPPORTED_FORMATS,
    ArchiveEntry,
    ArchiveFormat,
    format_from_name,
    iter_archive_members,
    write_archive,
)
from ferry.errors import BundleError

ROOT = "ferry-bundle"
SUFFIX: dict[ArchiveFormat, str] = {"zip": ".zip", "tar.gz": ".tar.gz", "tar.zst": ".tar.zst"}
INSTALL_SH = b"#!/bin/sh\nset -eu\necho installing\n"
MANIFEST = b'{"schema": 1}\n'


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    src.mkdir()
    # Random bytes larger than one copy chunk, so chunk boundaries are exercised.
    big = src / "big.bin"
    big.write_bytes(os.urandom((1 << 20) + 12345))
    wheel = src / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK" + os.urandom(5000))
    text = src / "notes.txt"
    text.write_bytes(b"hello\n" * 1000)
    empty = src / "empty"
    empty.write_bytes(b"")
    return {"big": big, "wheel": wheel, "text": text, "empty": empty}


def _entries(sources: dict[str, Path]) -> list[ArchiveEntry]:
    return [
        ArchiveEntry("ferry.json", MANIFEST),
        ArchiveEntry("install.sh", INSTALL_SH, mode=0o755),
        ArchiveEntry("wheels/demo-1.0-py3-none-any.whl", sources["wheel"]),
        ArchiveEntry("data/deep/big.bin", sources["big"]),
        ArchiveEntry("docs/notes.txt", sources["text"]),
        ArchiveEntry("docs/empty", sources["empty"]),
    ]


def _expected(sources: dict[str, Path]) -> dict[str, bytes]:
    return {
        f"{ROOT}/{e.arcname}": e.source if isinstance(e.source, bytes) else e.source.read_bytes()
        for e in _entries(sources)
    }


def _open_tar(path: Path, fmt: ArchiveFormat) -> tarfile.TarFile:
    if fmt == "tar.gz":
        return tarfile.open(path, "r:gz")
    data = zstandard.ZstdDecompressor().stream_reader(path.read_bytes(), read_across_frames=True)
    return tarfile.open(fileobj=io.BytesIO(data.read()), mode="r:")


def _extract(path: Path, fmt: ArchiveFormat, dest: Path) -> None:
    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            zf.extractall(dest)
    else:
        with _open_tar(path, fmt) as tf:
            tf.extractall(dest, filter="data")


def _tree(base: Path) -> dict[str, bytes]:
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- format_from_name --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("b.zip", "zip"),
        ("b.ZIP", "zip"),
        ("b.tar.gz", "tar.gz"),
        ("b.tgz", "tar.gz"),
        ("b.tar.zst", "tar.zst"),
        ("b.tzst", "tar.zst"),
        ("dir.zip/b.tar", None),
        ("b.gz", None),
        ("b.zst", None),
        ("b", None),
        (".zip", None),
    ],
)
def test_format_from_name(name: str, fmt: str | None) -> None:
    assert format_from_name(Path(name)) == fmt


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_round_trip(tmp_path: Path, sources: dict[str, Path], fmt: ArchiveFormat) -> None:
    out = tmp_path / f"bundle{SUFFIX[fmt]}"
    size = write_archive(out, fmt, _entries(sources), root=ROOT)
    assert size == out.stat().st_size
    assert _leftovers(tmp_path) == []

    dest = tmp_path / "x"
    _extract(out, fmt, dest)
    assert _tree(dest) == _expected(sources)
    if fmt != "zip":  # zipfile.extractall ignores permissions; checked below for zip
        assert (dest / ROOT / "install.sh").stat().st_mode & 0o111 == 0o111
        assert (dest / ROOT / "ferry.json").stat().st_mode & 0o111 == 0

    members = dict(iter_archive_members(out))
    assert members == {name: len(data) for name, data in _expected(sources).items()}


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst"])
def test_tar_headers(tmp_path: Path, sources: dict[str, Path], fmt: ArchiveFormat) -> None:
    os.utime(sources["text"], (0, 0))  # 1970: must be clamped to 1980
    os.utime(sources["big"], (1_700_000_000, 1_700_000_000))
    out = tmp_path / f"bundle{SUFFIX[fmt]}"
    write_archive(out, fmt, _entries(sources), root=ROOT)
    with _open_tar(out, fmt) as tf:
        assert tf.pax_headers is not None
        infos = {m.name: m for m in tf.getmembers()}
    assert all(m.isreg() for m in infos.values())
    assert all((m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "") for m in infos.values())
    assert infos[f"{ROOT}/install.sh"].mode == 0o755
    assert infos[f"{ROOT}/ferry.json"].mode == 0o644
    assert infos[f"{ROOT}/ferry.json"].mtime == FIXED_MTIME
    assert infos[f"{ROOT}/docs/notes.txt"].mtime == MIN_MTIME
    assert infos[f"{ROOT}/data/deep/big.bin"].mtime == 1_700_000_000


def test_tar_gz_is_pax_and_gzip_header_is_stable(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = tmp_path / "b.tar.gz"
    write_archive(out, "tar.gz", _entries(sources), root=ROOT)
    header = out.read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08"
    assert struct.unpack("<L", header[4:8])[0] == FIXED_MTIME
    with gzip.open(out) as gz:
        first = gz.read(512)
    # A PAX archive carries the "ustar\0" magic (GNU format would be "ustar  ").
    assert first[257:263] == b"ustar\x00"


def test_zip_headers(tmp_path: Path, sources: dict[str, Path]) -> None:
    os.utime(sources["text"], (0, 0))
    os.utime(sources["big"], (1_700_000_000, 1_700_000_000))
    out = tmp_path / "b.zip"
    write_archive(out, "zip", _entries(sources), root=ROOT)
    with zipfile.ZipFile(out) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert all(i.create_system == 3 for i in infos.values())
    assert all(stat.S_ISREG(i.external_attr >> 16) for i in infos.values())
    assert (infos[f"{ROOT}/install.sh"].external_attr >> 16) & 0o777 == 0o755
    assert (infos[f"{ROOT}/ferry.json"].external_attr >> 16) & 0o777 == 0o644
    assert infos[f"{ROOT}/wheels/demo-1.0-py3-none-any.whl"].compress_type == zipfile.ZIP_STORED
    assert infos[f"{ROOT}/docs/notes.txt"].compress_type == zipfile.ZIP_DEFLATED
    assert infos[f"{ROOT}/ferry.json"].date_time == time.gmtime(FIXED_MTIME)[:6]
    assert infos[f"{ROOT}/docs/notes.txt"].date_time == (1980, 1, 1, 0, 0, 0)
    assert infos[f"{ROOT}/data/deep/big.bin"].date_time == time.gmtime(1_700_000_000)[:6]


def test_zip_unzip_cli_keeps_exec_bit(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = tmp_path / "b.zip"
    write_archive(out, "zip", _entries(sources), root=ROOT)
    unzip = shutil.which("unzip")
    if unzip is None:
        pytest.skip("unzip CLI not installed")
    dest = tmp_path / "x"
    subprocess.run([unzip, "-q", str(out), "-d", str(dest)], check=True)
    assert _tree(dest) == _expected(sources)
    assert (dest / ROOT / "install.sh").stat().st_mode & 0o111 == 0o111
    assert (dest / ROOT / "ferry.json").stat().st_mode & 0o111 == 0
    subprocess.run([unzip, "-tq", str(out)], check=True, capture_output=True)


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_output_is_reproducible(
    tmp_path: Path, sources: dict[str, Path], fmt: ArchiveFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / f"a{SUFFIX[fmt]}", tmp_path / f"b{SUFFIX[fmt]}"
    write_archive(a, fmt, _entries(sources), root=ROOT)
    # Any wall-clock timestamp leaking into the output would now differ.
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    write_archive(b, fmt, _entries(sources), root=ROOT)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_empty_bundle(tmp_path: Path, fmt: ArchiveFormat) -> None:
    out = tmp_path / f"b{SUFFIX[fmt]}"
    write_archive(out, fmt, [], root=ROOT)
    assert list(iter_archive_members(out)) == []


def test_entries_may_be_a_generator(tmp_path: Path) -> None:
    def gen() -> Iterator[ArchiveEntry]:
        for i in range(3):
            yield ArchiveEntry(f"f{i}", b"x" * i)

    out = tmp_path / "b.tar.zst"
    write_archive(out, "tar.zst", gen(), root=ROOT)
    assert list(iter_archive_members(out)) == [(f"{ROOT}/f{i}", i) for i in range(3)]


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arcname",
    [
        "../evil",
        "a/../../evil",
        "a/..",
        "..",
        "/etc/passwd",
        "C:/evil",
        "c:evil",
        "a\\b",
        "..\\evil",
        "",
        "a//b",
        "./a",
        "a/./b",
        "a/",
        "a\x00b",
    ],
)
def test_bad_arcname_rejected(arcname: str) -> None:
    with pytest.raises(BundleError, match="invalid archive path"):
        ArchiveEntry(arcname, b"x")


@pytest.mark.parametrize("mode", [0o4755, -1, 0o1000])
def test_bad_mode_rejected(mode: int) -> None:
    with pytest.raises(BundleError, match="invalid mode"):
        ArchiveEntry("a", b"x", mode=mode)


@pytest.mark.parametrize("root", ["", "..", ".", "a/b", "/abs", "a\\b"])
def test_bad_root_rejected(tmp_path: Path, root: str) -> None:
    out = tmp_path / "b.zip"
    with pytest.raises(BundleError, match="invalid bundle root"):
        write_archive(out, "zip", [ArchiveEntry("a", b"x")], root=root)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_duplicate_rejected(tmp_path: Path, fmt: ArchiveFormat) -> None:
    out = tmp_path / f"b{SUFFIX[fmt]}"
    entries = [
        ArchiveEntry("wheels/a.whl", b"1"),
        ArchiveEntry("wheels/b.whl", b"2"),
        ArchiveEntry("wheels/a.whl", b"3"),
    ]
    with pytest.raises(BundleError, match=r"duplicate path in bundle: wheels/a\.whl"):
        write_archive(out, fmt, entries, root=ROOT)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "names", [("a", "a/b"), ("a/b", "a"), ("x/a", "x/a/b/c"), ("x/a/b/c", "x/a/b")]
)
def test_file_directory_clash_rejected(tmp_path: Path, names: tuple[str, str]) -> None:
    out = tmp_path / "b.zip"
    with pytest.raises(BundleError, match="both a file and a directory"):
        write_archive(out, "zip", [ArchiveEntry(n, b"x") for n in names], root=ROOT)
    assert not out.exists()


def test_unknown_format_lists_supported(tmp_path: Path) -> None:
    out = tmp_path / "b.rar"
    with pytest.raises(BundleError) as err:
        write_archive(out, "rar", [], root=ROOT)  # type: ignore[arg-type]
    assert "'rar'" in err.value.message
    assert "zip, tar.gz, tar.zst" in err.value.message
    assert list(tmp_path.iterdir()) == []


# -- failure leaves nothing behind -----------------------------------------------------


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_missing_source_leaves_nothing(
    tmp_path: Path, sources: dict[str, Path], fmt: ArchiveFormat
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"b{SUFFIX[fmt]}"
    missing = tmp_path / "src" / "gone.whl"
    entries = [*_entries(sources), ArchiveEntry("wheels/gone.whl", missing)]
    with pytest.raises(BundleError, match=r"gone\.whl") as err:
        write_archive(out, fmt, entries, root=ROOT)
    assert str(missing) in err.value.message
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_failure_keeps_previous_archive(
    tmp_path: Path, sources: dict[str, Path], fmt: ArchiveFormat
) -> None:
    out = tmp_path / f"b{SUFFIX[fmt]}"
    write_archive(out, fmt, _entries(sources), root=ROOT)
    before = out.read_bytes()
    with pytest.raises(BundleError):
        write_archive(out, fmt, [ArchiveEntry("x", tmp_path / "nope")], root=ROOT)
    assert out.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_interrupt_mid_write_removes_temp(tmp_path: Path) -> None:
    def gen() -> Iterator[ArchiveEntry]:
        yield ArchiveEntry("a", b"x" * 100_000)
        raise KeyboardInterrupt

    out = tmp_path / "b.tar.zst"
    with pytest.raises(KeyboardInterrupt):
        write_archive(out, "tar.zst", gen(), root=ROOT)
    assert list(tmp_path.iterdir()) == []


def test_directory_source_rejected(tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    with pytest.raises(BundleError, match=r"cannot read|not a regular file"):
        write_archive(out, "zip", [ArchiveEntry("d", tmp_path)], root=ROOT)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_missing_output_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot create"):
        write_archive(tmp_path / "no" / "b.zip", "zip", [], root=ROOT)


# -- reading back ----------------------------------------------------------------------


def test_iter_members_unknown_name(tmp_path: Path) -> None:
    path = tmp_path / "b.rar"
    path.write_bytes(b"x")
    with pytest.raises(BundleError, match=r"supported: zip, tar\.gz, tar\.zst"):
        list(iter_archive_members(path))


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_iter_members_corrupt(tmp_path: Path, fmt: ArchiveFormat) -> None:
    path = tmp_path / f"b{SUFFIX[fmt]}"
    path.write_bytes(b"definitely not an archive" * 100)
    with pytest.raises(BundleError, match="cannot read archive"):
        list(iter_archive_members(path))


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_iter_members_truncated(
    tmp_path: Path, sources: dict[str, Path], fmt: ArchiveFormat
) -> None:
    path = tmp_path / f"b{SUFFIX[fmt]}"
    write_archive(path, fmt, _entries(sources), root=ROOT)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="cannot read archive"):
        list(iter_archive_members(path))


# -- ZIP64 ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_zip64_member_over_4gib(tmp_path: Path) -> None:
    size = 4 * 1024**3 + 100 * 1024**2  # 4.1 GiB
    huge = tmp_path / "model.tar.gz"  # already-compressed suffix, so it is ZIP_STORED
    with huge.open("wb") as f:
        f.truncate(size)  # sparse: costs no disk space to create
        f.seek(size - 8)
        f.write(b"TAIL-END")  # proves the bytes past 4 GiB land where they belong
    out = tmp_path / "b.zip"
    entries = [ArchiveEntry("ferry.json", MANIFEST), ArchiveEntry("models/m.tar.gz", huge)]

    try:
        tracemalloc.start()
        try:
            started = time.monotonic()
            written = write_archive(out, "zip", entries, root=ROOT)
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        print(f"ZIP64 write: {size / 1024**3:.1f} GiB in {elapsed:.1f}s, peak {peak / 1e6:.1f} MB")
        assert peak < 50_000_000
        assert written == out.stat().st_size > size

        with zipfile.ZipFile(out) as zf:
            info = zf.getinfo(f"{ROOT}/models/m.tar.gz")
            assert zf.getinfo(f"{ROOT}/ferry.json").file_size == len(MANIFEST)
        assert info.file_size == size
        assert info.compress_size == size
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.file_size > 0xFFFFFFFF

        with out.open("rb") as f:
            # Local header: the 32-bit sizes must be 0xFFFFFFFF with a ZIP64 extra (id 1)
            # carrying the real ones.
            f.seek(info.header_offset)
            local = f.read(30)
            assert local[:4] == b"PK\x03\x04"
            csize, usize, name_len, extra_len = struct.unpack("<IIHH", local[18:30])
            assert (csize, usize) == (0xFFFFFFFF, 0xFFFFFFFF)
            f.seek(name_len, os.SEEK_CUR)
            extra = f.read(extra_len)
            tag, tag_len, real_usize, real_csize = struct.unpack("<HHQQ", extra[:20])
            assert tag == 1 and tag_len >= 16
            assert (real_usize, real_csize) == (size, size)
            data_start = info.header_offset + 30 + name_len + extra_len
            f.seek(data_start + size - 8)
            assert f.read(8) == b"TAIL-END"
            # The central directory starts past 4 GiB, so the ZIP64 end records must exist.
            f.seek(-(1 << 16), os.SEEK_END)
            tail = f.read()
            assert b"PK\x06\x06" in tail  # ZIP64 end of central directory record
            assert b"PK\x06\x07" in tail  # ZIP64 end of central directory locator
        assert dict(iter_archive_members(out))[f"{ROOT}/models/m.tar.gz"] == size
    finally:
        # pytest keeps the last runs' tmp dirs; a 4 GiB leftover there is not welcome.
        out.unlink(missing_ok=True)
        huge.unlink(missing_ok=True)


def test_archive_permissions_follow_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        out = tmp_path / "b.zip"
        write_archive(out, "zip", [ArchiveEntry("a.txt", b"x")], root="b")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644  # a file, not an executable
