"""METADATA read from a remote wheel with Range requests, never the whole file."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import httpx

from conftest import Dists, write
from ferry.ecosystems.pypi.lazywheel import remote_wheel_metadata
from ferry.services.python_bundle import resolve_python
from ferry.settings import Settings
from ferry.store.cas import ContentStore
from ferry.targets import PythonTarget
from support.pyindex import LocalIndex, build_wheel


def _metadata_of(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name)


def _fetch(url: str) -> bytes:
    async def go() -> bytes:
        async with httpx.AsyncClient() as client:
            return await remote_wheel_metadata(client, url)

    return asyncio.run(go())


def test_small_wheel(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "small", "1.0", requires_dist=["dep>=1"])
    with LocalIndex() as index:
        artifact = index.add(wheel, metadata=False)
        assert _fetch(artifact.url) == _metadata_of(wheel)


def test_central_directory_beyond_the_tail(tmp_path: Path) -> None:
    modules = {f"big/m{i:05d}_{'x' * 40}.py": "" for i in range(3000)}
    wheel = build_wheel(tmp_path, "big", "1.0", requires_dist=["dep"], modules=modules)
    with LocalIndex() as index:
        artifact = index.add(wheel, metadata=False)
        assert _fetch(artifact.url) == _metadata_of(wheel)


def test_zip64_wheel(tmp_path: Path) -> None:
    # a zip64 end record (over 65535 entries) and zip64 extra fields on every member
    path = tmp_path / "many-1.0-py3-none-any.whl"
    metadata = b"Metadata-Version: 2.1\nName: many\nVersion: 1.0\nRequires-Dist: dep\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(66_000):
            zf.writestr(f"many/{i}.txt", b"")
        with zf.open("many-1.0.dist-info/METADATA", "w", force_zip64=True) as fh:
            fh.write(metadata)
    with LocalIndex() as index:
        artifact = index.add(path, metadata=False)
        assert _fetch(artifact.url) == metadata


def test_resolve_reads_large_wheels_by_range(
    settings: Settings, pyindex: Dists, tmp_path: Path
) -> None:
    wheel = build_wheel(pyindex.dir, "heavy", "1.0", requires_dist=["dep<2"])
    artifact = pyindex.index.add(wheel, metadata=False)
    req = write(tmp_path / "requirements.txt", "heavy\n")
    ranged = settings.model_copy(update={"metadata_range_min_bytes": 0})
    target = PythonTarget.parse("3.11", "manylinux_2_28_x86_64")
    result = asyncio.run(resolve_python(ranged, [req], [target])).resolution.targets[0]
    assert ("heavy", "dep", "<2") in {(e.parent, e.child, e.specifier) for e in result.edges}
    assert not ContentStore(settings.blob_dir).has(artifact.sha256)  # never downloaded
