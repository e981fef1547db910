"""What a registry needs to know of a file, read from the file itself and checked against
what the bundle's manifest says it is.

A wheel's METADATA must name the project and version its file name does (pip checks the
same after download); an npm tarball's package.json must name the package and version the
manifest lists (npm would install it under that name). A file that says otherwise is
refused, and with it the whole bundle.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)

from ferry.registry.errors import ImportRejected, why

__all__ = ["Inspected", "inspect_npm", "inspect_python"]

# a METADATA or package.json larger than this is not one a registry should serve
_MAX_DOCUMENT = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Inspected:
    name: str
    version: str
    requires_python: str | None = None
    metadata: bytes | None = None  # a wheel's METADATA, served as PEP 658 core metadata
    manifest: dict[str, Any] | None = None  # an npm tarball's package.json


def inspect_python(bundle: str, path: Path, filename: str) -> Inspected:
    if filename.endswith(".whl"):
        return _wheel(bundle, path, filename)
    try:
        name, version = parse_sdist_filename(filename)
    except InvalidSdistFilename:
        raise ImportRejected(bundle, f"{filename} is neither a wheel nor an sdist") from None
    return Inspected(str(name), str(version))


def _wheel(bundle: str, path: Path, filename: str) -> Inspected:
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise ImportRejected(bundle, f"{filename}: {why(exc)}") from None
    try:
        with zipfile.ZipFile(path) as zf:
            found = [
                i
                for i in zf.infolist()
                if i.filename.count("/") == 1 and i.filename.endswith(".dist-info/METADATA")
            ]
            if len(found) != 1:
                raise ImportRejected(bundle, f"{filename} has no single .dist-info/METADATA")
            if found[0].file_size > _MAX_DOCUMENT:
                raise ImportRejected(bundle, f"{filename}'s METADATA is too large")
            metadata = zf.read(found[0])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ImportRejected(bundle, f"{filename} is not a readable wheel: {why(exc)}") from None
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(metadata)
    said_name, said_version = message.get("Name"), message.get("Version")
    if said_name is None or canonicalize_name(said_name) != name:
        raise ImportRejected(
            bundle, f"{filename}'s METADATA names the project {said_name!r}, not {str(name)!r}"
        )
    if said_version is None or canonicalize_version(said_version) != canonicalize_version(version):
        raise ImportRejected(
            bundle, f"{filename}'s METADATA says version {said_version!r}, not {str(version)!r}"
        )
    requires = message.get("Requires-Python")
    return Inspected(str(name), str(version), requires or None, metadata=metadata)


def inspect_npm(bundle: str, path: Path, filename: str, name: str, version: str) -> Inspected:
    """The tarball's package.json, which must be ``name``@``version``."""
    document = None
    try:
        with tarfile.open(path, mode="r:gz") as tf:
            for member in tf:
                parts = member.name.split("/")
                # npm pack writes package/…; what npm accepts is any one top directory
                if len(parts) == 2 and parts[1] == "package.json" and member.isfile():
                    if member.size > _MAX_DOCUMENT:
                        raise ImportRejected(bundle, f"{filename}'s package.json is too large")
                    body = tf.extractfile(member)
                    if body is not None:
                        document = json.loads(body.read())
                    break
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise ImportRejected(
            bundle, f"{filename} is not a readable npm tarball: {why(exc)}"
        ) from None
    if not isinstance(document, dict):
        raise ImportRejected(bundle, f"{filename} has no package.json")
    if document.get("name") != name or document.get("version") != version:
        said = f"{document.get('name')}@{document.get('version')}"
        raise ImportRejected(bundle, f"{filename}'s package.json is {said}, not {name}@{version}")
    return Inspected(name, version, manifest=document)
