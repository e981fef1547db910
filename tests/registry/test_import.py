"""``ferry import``: a real bundle (local index and registry) into the far side's
registries, whole or not at all; bundles tampered with as an attacker would are refused
and leave nothing behind."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ferry.cli.main import main
from ferry.db.artifacts import ArtifactRepository
from ferry.db.engine import make_engine, make_sessionmaker, upgrade
from ferry.db.packages import PackageRepository
from ferry.db.repository import TaskRepository
from ferry.db.threads import DbThreads
from ferry.errors import ExitCode
from ferry.registry.errors import ImportRejected
from ferry.registry.importer import import_bundle
from ferry.settings import Settings
from ferry.store.blob import BlobKey, open_blob_store
from ferry.store.kept import KeptStore
from ferry.targets import NodeTarget, PythonTarget
from support.bundles import manifest_of, npm_tarball, repack, to_tar

pytestmark = pytest.mark.timeout(300)

LINUX_NODE = NodeTarget.parse("20", "linux", "x64", "glibc")
LINUX_PY = PythonTarget.parse("3.11", "manylinux_2_28_x86_64")


@dataclass
class FarSide:
    settings: Settings
    kept: KeptStore
    artifacts: ArtifactRepository
    db: DbThreads

    async def run(self, path: Path) -> object:
        return await import_bundle(
            path,
            self.kept,
            self.artifacts,
            self.db,
            work_dir=self.settings.data_dir / "imports",
            max_bytes=self.settings.import_max_bytes,
            owner="tester",
        )

    async def blobs(self) -> set[BlobKey]:
        return {key async for key in self.kept.blobs.iter_keys()}

    async def nothing_kept(self) -> None:
        assert await self.db(self.artifacts.imports) == []
        assert await self.db(self.artifacts.projects, "pypi") == []
        assert await self.db(self.artifacts.projects, "npm") == []
        assert await self.blobs() == set()
        spool = self.settings.data_dir / "imports"
        assert not spool.exists() or list(spool.iterdir()) == []


@pytest.fixture
async def far(tmp_path: Path) -> AsyncIterator[FarSide]:
    settings = Settings(data_dir=tmp_path / "far")
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    db = DbThreads()
    artifacts = ArtifactRepository(sessions)
    async with open_blob_store(settings) as blobs:
        kept = KeptStore(
            blobs, PackageRepository(sessions), TaskRepository(sessions), db, artifacts=artifacts
        )
        yield FarSide(settings, kept, artifacts, db)
    db.close()
    engine.dispose()


# ---- a good bundle ----------------------------------------------------------------------------


async def test_a_bundle_becomes_registry_files_once(far: FarSide, made: Path) -> None:
    record = await far.run(made)
    manifest = manifest_of(made)
    served = [f for f in manifest["files"] if not f.get("prebuilt")]
    assert record.file_count == len(served) and record.new_count == len(served)  # type: ignore[attr-defined]

    pypi = {
        a.filename: a
        for name in await far.db(far.artifacts.projects, "pypi")
        for a in await far.db(far.artifacts.files, "pypi", name)
    }
    npm = {
        a.filename: a
        for name in await far.db(far.artifacts.projects, "npm")
        for a in await far.db(far.artifacts.files, "npm", name)
    }
    assert set(await far.db(far.artifacts.projects, "npm")) == {
        "app",
        "dep",
        "lib",
        "@demo/native",
        "@demo/native-linux-x64",
    }
    # served under the package's own path: a scoped name never collides with a flat one
    assert {"app/-/app-1.0.0.tgz", "@demo/native/-/native-1.0.0.tgz"} <= set(npm)
    for record_ in served:
        base = record_["path"].rpartition("/")[2]
        if record_["ecosystem"] == "pypi":
            artifact = pypi[base]
        else:
            name = record_["package"]
            artifact = npm[f"{name}/-/{name.rpartition('/')[2]}-{record_['version']}.tgz"]
            # the integrity npm ci will check, the lock's own
            assert artifact.integrity == record_["integrity"]
            assert artifact.manifest is not None and artifact.manifest["name"] == record_["package"]
        assert artifact.sha256 == record_["sha256"] and artifact.size == record_["size"]
        assert await far.kept.blobs.has(BlobKey.sha256(artifact.sha256), artifact.size)
    wheels = [a for a in pypi.values() if a.filename.endswith(".whl")]
    assert wheels
    for wheel in wheels:  # its METADATA kept for PEP 658, and it names the wheel's project
        assert wheel.metadata_sha256 is not None
        chunks = [c async for c in far.kept.blobs.read(BlobKey.sha256(wheel.metadata_sha256))]
        assert b"Name: " in b"".join(chunks)

    # the same bundle again: recognised, nothing added
    blobs = await far.blobs()
    again = await far.run(made)
    assert again.repeated and again.id == record.id  # type: ignore[attr-defined]
    assert len(await far.db(far.artifacts.imports)) == 1
    assert await far.blobs() == blobs

    # the same files in another archive: a new import that adds no file
    other = repack(made, made.parent / "other.zip", lambda name, data: data)
    third = await far.run(other)
    assert not third.repeated and third.new_count == 0  # type: ignore[attr-defined]
    assert await far.blobs() == blobs


async def test_a_tar_zst_bundle_imports_as_well(far: FarSide, made: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle.tar.zst"
    to_tar(made, out)
    record = await far.run(out)
    assert record.new_count == record.file_count > 0  # type: ignore[attr-defined]


# ---- bad bundles: refused whole, nothing kept ----------------------------------------------------


def _wheel_of(made: Path) -> str:
    return next(f["path"] for f in manifest_of(made)["files"] if f["path"].endswith(".whl"))


def _tgz_of(made: Path, package: str) -> dict[str, object]:
    return next(
        f
        for f in manifest_of(made)["files"]
        if f.get("package") == package and f["ecosystem"] == "npm"
    )


async def test_a_tampered_file_is_refused(far: FarSide, made: Path, tmp_path: Path) -> None:
    wheel = _wheel_of(made)

    def flip(name: str, data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 1]) if name == wheel else data

    bad = repack(made, tmp_path / "tampered.zip", flip)
    with pytest.raises(ImportRejected, match=f"{wheel} has sha256 .*; SHA256SUMS says"):
        await far.run(bad)
    await far.nothing_kept()


async def test_a_truncated_archive_is_refused(far: FarSide, made: Path, tmp_path: Path) -> None:
    tar = tmp_path / "bundle.tar.gz"
    to_tar(made, tar)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tar.read_bytes()[: tar.stat().st_size * 2 // 3])
    with pytest.raises(ImportRejected, match=r"cut\.tar\.gz was not imported"):
        await far.run(cut)
    await far.nothing_kept()


async def test_a_manifest_that_lies_about_a_hash_is_refused(
    far: FarSide, made: Path, tmp_path: Path
) -> None:
    wheel = _wheel_of(made)

    def lie(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        doc = json.loads(data)
        for f in doc["files"]:
            if f["path"] == wheel:
                f["sha256"] = "0" * 64
        return json.dumps(doc).encode()

    # SHA256SUMS re-made to agree: only the manifest lies
    bad = repack(made, tmp_path / "lying.zip", lie, fix_sums=True)
    with pytest.raises(ImportRejected, match=f"manifest.json says {wheel} has sha256 0000"):
        await far.run(bad)
    await far.nothing_kept()


async def test_a_tarball_naming_another_package_is_refused(
    far: FarSide, made: Path, tmp_path: Path
) -> None:
    app = _tgz_of(made, "app")
    evil = npm_tarball({"name": "evil", "version": "1.0.0"})

    def swap(name: str, data: bytes) -> bytes:
        if name == app["path"]:
            return evil
        if name == "manifest.json":  # made to agree in every digest: only the name is wrong
            doc = json.loads(data)
            for f in doc["files"]:
                if f["path"] == app["path"]:
                    f["sha256"] = hashlib.sha256(evil).hexdigest()
                    f["size"] = len(evil)
                    f["integrity"] = (
                        "sha512-" + base64.b64encode(hashlib.sha512(evil).digest()).decode()
                    )
            return json.dumps(doc).encode()
        return data

    bad = repack(made, tmp_path / "evil.zip", swap, fix_sums=True)
    with pytest.raises(
        ImportRejected, match=re.escape("package.json is evil@1.0.0, not app@1.0.0")
    ):
        await far.run(bad)
    await far.nothing_kept()


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "bundle/../../x", "other-root/x"])
async def test_members_outside_the_bundle_are_refused(
    far: FarSide, made: Path, tmp_path: Path, name: str
) -> None:
    bad = repack(made, tmp_path / "escape.zip", lambda n, d: d, extra=(name, b"x"))
    with pytest.raises(ImportRejected, match=r"outside the bundle|not under the bundle"):
        await far.run(bad)
    await far.nothing_kept()


async def test_a_link_in_a_tar_is_refused(far: FarSide, made: Path, tmp_path: Path) -> None:
    out = tmp_path / "link.tar.gz"
    to_tar(made, out, link=("bundle/python-packages/evil", "/etc/passwd"))
    with pytest.raises(ImportRejected, match="is not a regular file"):
        await far.run(out)
    await far.nothing_kept()


async def test_a_bundle_inflating_past_the_limit_is_refused(far: FarSide, made: Path) -> None:
    far.settings = far.settings.model_copy(update={"import_max_bytes": 10_000})
    with pytest.raises(ImportRejected, match="unpacks to more than 10000 bytes"):
        await far.run(made)
    await far.nothing_kept()


# ---- the command ------------------------------------------------------------------------------


def test_the_command(
    made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FERRY_DATA_DIR", str(tmp_path / "far"))
    bad = repack(
        made, tmp_path / "tampered.zip", lambda n, d: b"x" + d if n == _wheel_of(made) else d
    )
    assert main(["import", str(made), str(made), "--json"]) == ExitCode.OK
    doc = json.loads(capsys.readouterr().out)
    first, second = doc["imports"]
    assert first["new_count"] == first["file_count"] > 0 and not first["repeated"]
    assert second["repeated"] and second["new_count"] == 0
    assert main(["import", str(bad)]) == ExitCode.INTEGRITY
    out = capsys.readouterr().out
    assert "refused  tampered.zip" in out and "SHA256SUMS says" in out
    assert main(["import", str(tmp_path / "missing.zip")]) == ExitCode.USAGE


# ---- helpers ----------------------------------------------------------------------------------
