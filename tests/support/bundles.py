"""Real bundles taken apart and put together again, as an attacker (or a delta) would:
members changed, SHA256SUMS re-made to agree, the zip turned into a tar."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["manifest_of", "npm_tarball", "repack", "to_tar"]


def manifest_of(made: Path) -> dict:  # type: ignore[type-arg]
    with zipfile.ZipFile(made) as zf:
        root = zf.namelist()[0].split("/")[0]
        return json.loads(zf.read(f"{root}/manifest.json"))  # type: ignore[no-any-return]


def repack(
    made: Path,
    out: Path,
    change: Callable[[str, bytes], bytes],
    *,
    fix_sums: bool = False,
    extra: tuple[str, bytes] | None = None,
    drop: frozenset[str] = frozenset(),
) -> Path:
    """The bundle's members through ``change`` (names without the top directory) into a new
    zip; with ``fix_sums``, SHA256SUMS re-made to match what changed."""
    with zipfile.ZipFile(made) as zf:
        root = zf.namelist()[0].split("/")[0]
        members = {i.filename[len(root) + 1 :]: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    members = {name: change(name, data) for name, data in members.items() if name not in drop}
    if fix_sums:
        lines = [
            f"{hashlib.sha256(data).hexdigest()}  {name}\n"
            for name, data in sorted(members.items())
            if name != "SHA256SUMS"
        ]
        members["SHA256SUMS"] = "".join(lines).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(f"{root}/{name}", data)
        if extra is not None:
            zf.writestr(extra[0], extra[1])
    return out


def to_tar(made: Path, out: Path, link: tuple[str, str] | None = None) -> None:
    mode = "w:gz" if out.name.endswith(".gz") else "w"
    buffer = io.BytesIO()
    with zipfile.ZipFile(made) as zf, tarfile.open(fileobj=buffer, mode=mode) as tf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            data = zf.read(info)
            member = tarfile.TarInfo(info.filename)
            member.size = len(data)
            tf.addfile(member, io.BytesIO(data))
        if link is not None:
            member = tarfile.TarInfo(link[0])
            member.type = tarfile.SYMTYPE
            member.linkname = link[1]
            tf.addfile(member)
    raw = buffer.getvalue()
    if out.name.endswith(".zst"):
        import zstandard

        raw = zstandard.ZstdCompressor().compress(raw)
    out.write_bytes(raw)


def npm_tarball(package_json: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        data = json.dumps(package_json).encode()
        member = tarfile.TarInfo("package/package.json")
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    return buffer.getvalue()
