"""A plain file host on 127.0.0.1: where native addons' prebuilt binaries live in tests
(a GitHub release page or an S3 bucket, for node-pre-gyp and prebuild-install)."""

from __future__ import annotations

import io
import tarfile
import threading
from http import HTTPStatus
from urllib.parse import urlsplit

from support.served import LoopbackHandler, ServedOnLoopback


def tar_gz(files: dict[str, bytes], *, symlink: tuple[str, str] | None = None) -> bytes:
    """A tar.gz of ``files`` (path -> bytes), and optionally one symlink (name, target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if symlink is not None:
            link = tarfile.TarInfo(symlink[0])
            link.type, link.linkname = tarfile.SYMTYPE, symlink[1]
            tf.addfile(link)
    return out.getvalue()


class BinaryHost(ServedOnLoopback):
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self._files_lock = threading.Lock()
        owner = self

        class Handler(LoopbackHandler):
            served = owner

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                owner.record_request(self.command, path, self.headers)
                with owner._files_lock:
                    body = owner.files.get(path)
                if body is None:
                    self.send_body(HTTPStatus.NOT_FOUND, b"not found", "text/plain", head=False)
                else:
                    self.send_body(HTTPStatus.OK, body, "application/gzip", head=False)

        super().__init__(Handler)

    def put(self, path: str, body: bytes) -> str:
        """Serve ``body`` at ``path``; its URL."""
        with self._files_lock:
            self.files[path] = body
        return self.base + path
