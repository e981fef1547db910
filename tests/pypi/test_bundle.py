"""resolve → fetch → bundle against the local index: contents, cache reuse, corruption."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from conftest import Dists, write
from ferry.errors import IntegrityError
from ferry.services.bundle import bundle_python
from ferry.services.python_bundle import BundleOutcome
from ferry.settings import Settings
from ferry.store.cas import ContentStore
from ferry.targets import PythonTarget

LINUX = PythonTarget.parse("3.11", "manylinux_2_28_x86_64")
WINDOWS = PythonTarget.parse("3.12", "win_amd64")


def _bundle(
    settings: Settings, manifests: list[Path], out: Path, *targets: PythonTarget
) -> BundleOutcome:
    fmt = (
        "zip" if out.name.endswith(".zip") else "tar.gz" if out.name.endswith(".gz") else "tar.zst"
    )
    return asyncio.run(bundle_python(settings, manifests, list(targets), out, fmt))  # type: ignore[arg-type]


def _extract(archive: Path, dest: Path) -> Path:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    (root,) = dest.iterdir()
    return root


def test_bundle_layout_and_checksums(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "proj" / "requirements.txt", "app\nsdistonly\n")
    out = tmp_path / "out" / "bundle.zip"
    result = _bundle(settings, [req], out, LINUX, WINDOWS)
    root = _extract(out, tmp_path / "x")
    assert root.name == "bundle"

    names = {p.name for p in (root / "python-packages").iterdir()}
    assert "native-1.0-cp312-cp312-win_amd64.whl" in names
    assert "native-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl" in names
    assert "winonly-1.0-py3-none-any.whl" in names
    assert "sdistonly-1.0.tar.gz" in names and "ferry_test_backend-1.0-py3-none-any.whl" in names
    assert (root / "manifests" / "requirements.txt").read_text() == "app\nsdistonly\n"
    for script in ("install.sh", "install.ps1", "ferry_install.py"):
        assert (root / script).is_file()

    # SHA256SUMS covers every other file, and every digest is right
    listed = {}
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name

    manifest = json.loads((root / "manifest.json").read_text())
    keys = [t["key"] for t in manifest["python"]["targets"]]
    assert keys == [LINUX.key, WINDOWS.key]
    for f in manifest["files"]:
        assert f["url"].startswith(settings.index_url.rsplit("/simple", 1)[0])
        assert (root / f["path"]).stat().st_size == f["size"]
    win = manifest["python"]["targets"][1]
    assert {"parent": "app", "child": "winonly"}.items() <= next(
        e for e in win["edges"] if e["child"] == "winonly"
    ).items()
    assert any(p["kind"] == "no-wheel-for-target" for p in manifest["python"]["problems"])

    lock = tomllib.loads((root / "locks" / WINDOWS.key / "pylock.toml").read_text())
    assert lock["lock-version"] == "1.0"
    native = next(p for p in lock["packages"] if p["name"] == "native")
    (wheel,) = native["wheels"]
    assert wheel["name"] == "native-1.0-cp312-cp312-win_amd64.whl"
    assert (root / "locks" / WINDOWS.key / wheel["path"]).resolve().is_file()
    reqs = (root / "locks" / LINUX.key / "requirements.lock.txt").read_text()
    assert "app==1.0" in reqs and "--hash=sha256:" in reqs
    assert "ferry-test-backend" not in reqs  # build-only: pip fetches it from find-links
    assert result.files == len(names)


@pytest.mark.parametrize("name", ["b.tar.gz", "b.tar.zst"])
def test_tar_formats(settings: Settings, tmp_path: Path, name: str) -> None:
    req = write(tmp_path / "requirements.txt", "dep==1.0\n")
    _bundle(settings, [req], tmp_path / name, LINUX)
    root = _extract(tmp_path / name, tmp_path / "x") if name.endswith(".gz") else None
    if root is not None:
        assert (root / "python-packages" / "dep-1.0-py3-none-any.whl").is_file()
    from ferry.bundle.archive import iter_archive_members

    members = {n for n, _ in iter_archive_members(tmp_path / name)}
    assert "b/python-packages/dep-1.0-py3-none-any.whl" in members


def test_second_bundle_downloads_nothing(
    settings: Settings, pyindex: Dists, tmp_path: Path
) -> None:
    req = write(tmp_path / "requirements.txt", "app\nsdistonly\n")
    first = _bundle(settings, [req], tmp_path / "one.zip", LINUX, WINDOWS)
    assert first.bytes_fetched > 0
    served = pyindex.file_gets(".whl")
    second = _bundle(settings, [req], tmp_path / "two.zip", LINUX, WINDOWS)
    assert second.bytes_fetched == 0
    assert second.from_cache == second.files == first.files
    # uv revalidates its own cache (index pages, metadata, the sdist it reads metadata
    # from); Ferry downloads no distribution file again
    assert pyindex.file_gets(".whl") == served


def test_corrupted_file_is_rejected(settings: Settings, pyindex: Dists, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "dep==1.0\n")
    pyindex.index.corrupt("dep-1.0-py3-none-any.whl")
    out = tmp_path / "b.zip"
    with pytest.raises(IntegrityError) as info:
        _bundle(settings, [req], out, LINUX)
    assert "dep-1.0-py3-none-any.whl" in info.value.message
    assert not out.exists()
    good = pyindex.files["dep-1.0-py3-none-any.whl"]
    assert not ContentStore(settings.blob_dir).has(good.sha256)
    # a hash mismatch is not retried into silence
    gets = [p for m, p in pyindex.index.requests if m == "GET"]
    assert gets.count("/files/dep-1.0-py3-none-any.whl") == 1


def test_direct_references_are_bundled(settings: Settings, pyindex: Dists, tmp_path: Path) -> None:
    from support.pyindex import build_wheel

    local = build_wheel(tmp_path / "proj" / "dist", "localpkg", "0.3", requires_dist=["beta"])
    direct = pyindex.files["winonly-1.0-py3-none-any.whl"].url
    req = write(
        tmp_path / "proj" / "requirements.txt",
        f"./dist/{local.name}\nwinonly @ {direct}\n",
    )
    out = tmp_path / "b.zip"
    result = _bundle(settings, [req], out, LINUX)
    packages = result.resolve.resolution.targets[0].packages
    assert packages["localpkg"].file.url == local.resolve().as_uri()
    assert packages["winonly"].file.url == direct
    assert "beta" in packages  # the local wheel's own requirements are resolved
    root = _extract(out, tmp_path / "x")
    assert (root / "python-packages" / local.name).read_bytes() == local.read_bytes()
    assert (root / "python-packages" / "winonly-1.0-py3-none-any.whl").is_file()


def test_same_inputs_same_bytes_with_source_date_epoch(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    req = write(tmp_path / "requirements.txt", "app\n")
    _bundle(settings, [req], tmp_path / "one" / "b.tar.gz", LINUX)
    _bundle(settings, [req], tmp_path / "two" / "b.tar.gz", LINUX)
    one = (tmp_path / "one" / "b.tar.gz").read_bytes()
    assert one == (tmp_path / "two" / "b.tar.gz").read_bytes()


@pytest.mark.slow
def test_bundle_downloads_through_aria2_when_the_setting_says_so(
    settings: Settings, pyindex: Dists, tmp_path: Path
) -> None:
    # fetch_backend covers everything Ferry downloads, not only `ferry fetch`: the same
    # bundle, its wheels fetched by an aria2c daemon (as the server saw it), the
    # same verified bytes in the archive, and the daemon gone afterwards.
    aria2 = settings.model_copy(update={"fetch_backend": "aria2"})
    req = write(tmp_path / "requirements.txt", "app\n")
    out = tmp_path / "b.zip"
    result = _bundle(aria2, [req], out, LINUX)
    assert result.files > 0 and result.bytes_fetched > 0
    root = _extract(out, tmp_path / "x")
    wheels = sorted((root / "python-packages").glob("*.whl"))
    assert wheels
    for wheel in wheels:
        artifact = pyindex.files[wheel.name]
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == artifact.sha256
        # uv reads some wheels while it resolves; Ferry's own downloads are aria2c's: it
        # sends Ferry's User-Agent, but asks for RFC 3230 digests as no other client does.
        gets = pyindex.index.request_headers(f"/files/{wheel.name}", "GET")
        ours = [h for h in gets if not h.get("user-agent", "").startswith("uv/")]
        assert ours and all("want-digest" in h for h in ours), (wheel.name, gets)
    assert not _running_aria2c(settings.aria2_dir)


def _running_aria2c(state_dir: Path) -> list[int]:
    """aria2c processes started with a config under ``state_dir``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            cmdline
            and cmdline[0].endswith(b"aria2c")
            and str(state_dir).encode() in b" ".join(cmdline)
        ):
            pids.append(int(proc.name))
    return pids
