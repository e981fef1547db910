"""Uploaded manifests: checked by name, size and content before anything is written.

Names are never used as paths as given: only a bare file name that Ferry knows as a
manifest is accepted, so nothing can be written outside the task's upload directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferry.errors import Hint, UploadError, UploadTooLargeError, UploadUnsupportedError
from ferry.manifests import is_python_manifest
from ferry.manifests.npm import is_npm_manifest


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


# Manifest names are short; a long one is a probe (and past 255 bytes, an OSError).
MAX_NAME = 128


def check_name(name: str) -> str:
    if len(name.encode()) > MAX_NAME:
        raise UploadError(
            params={"name": repr(name[:40]), "size": len(name.encode()), "limit": MAX_NAME},
            hint=Hint("upload-short-name"),
        )
    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or ":" in name:
        raise UploadError(
            params={"name": repr(name)},
            hint=Hint("upload-plain-name"),
        )
    if not (is_python_manifest(name) or is_npm_manifest(name)):
        raise UploadUnsupportedError(
            params={"name": name},
            hint=Hint("upload-accepted"),
        )
    return name


def check_content(upload: Upload, max_bytes: int) -> None:
    if len(upload.data) > max_bytes:
        raise UploadTooLargeError(
            params={"name": upload.name, "size": len(upload.data), "limit": max_bytes}
        )
    if b"\0" in upload.data:
        raise UploadUnsupportedError(params={"name": upload.name, "content": "binary"})
    try:
        upload.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UploadUnsupportedError(params={"name": upload.name, "byte": exc.start}) from None


def validate(uploads: list[Upload], max_bytes: int) -> None:
    if not uploads:
        raise UploadError(params={}, hint=Hint("upload-files"))
    seen: set[str] = set()
    for upload in uploads:
        check_name(upload.name)
        if upload.name in seen:
            raise UploadError(params={"name": upload.name, "uploaded": "twice"})
        seen.add(upload.name)
        check_content(upload, max_bytes)


def store(directory: Path, uploads: list[Upload]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for upload in uploads:
        path = directory / check_name(upload.name)
        path.write_bytes(upload.data)
        paths.append(path)
    return paths
