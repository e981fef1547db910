"""A package upload's multipart form, read as it arrives: the file's bytes go straight
into a blob writer, the other fields are kept up to their limits, and nothing is spooled.

FastAPI's ``UploadFile`` stores the whole body in a temporary file before the route runs:
for a package of gigabytes that is a second copy on the server's disk and a wait before
the first byte reaches the store. Here the body is parsed chunk by chunk
(python-multipart's push parser) and memory stays at about one chunk plus the writer's
buffer however large the file.

An optional ``sha256`` field names the file's bytes; bytes that do not match it are refused,
never stored. Before the file, the blob writer is opened expecting it, so an S3 store sends
them straight to their final name (instead of a staging object copied into place at the
end, a second pass over every byte on the S3 server). After the file, it is checked when
the writer commits: a client can hash the file while sending it instead of reading it
twice (``ferry packages upload`` does, where the store is not S3).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ferry.store.blob import BlobKey, BlobStore, BlobWriter

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks
from ferry.store.packages import (
    DESCRIPTION_MAX_BYTES,
    FIELD_LIMITS,
    PackageFields,
    PackageInvalid,
    PackageTooLarge,
    check_identifier,
    safe_filename,
)

TEXT_FIELDS = (*FIELD_LIMITS, "description", "sha256")
# what is kept of a field (one byte past its limit is enough to refuse it)
_KEEP = {
    **{f: n + 1 for f, n in FIELD_LIMITS.items()},
    "description": DESCRIPTION_MAX_BYTES + 1,
    "sha256": 65,
}
_MAX_PARTS = 32
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class _Form:
    """The parser's callbacks: what has arrived so far, and the file's bytes not yet
    handed to the writer."""

    def __init__(self) -> None:
        self.values: dict[str, bytearray] = {}
        self.lengths: dict[str, int] = {}
        self.filename: str | None = None
        self.file_seen = False
        # the sha256 field as it stood when the file began (None: not given before it)
        self.sha256_before_file: bytes | None = None
        self.file_began = False
        self.pending: list[memoryview] = []
        self.error: PackageInvalid | None = None
        self.parts = 0
        self._current: str | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> MultipartCallbacks:
        return cast(
            "MultipartCallbacks",
            {
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
            },
        )

    def _fail(self, **params: str) -> None:
        if self.error is None:
            self.error = PackageInvalid(params=params)

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > _MAX_PARTS:
            self._fail(problem="form")
        self._current = None
        self._headers = {}

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            if self.file_seen:
                self._fail(problem="twice", field="file")
                return
            self.file_seen = self.file_began = True
            if "sha256" in self.values:  # a part before this one: complete
                self.sha256_before_file = bytes(self.values["sha256"])
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None
            self._current = "file"
        elif name in TEXT_FIELDS:
            if name in self.values:
                self._fail(problem="twice", field=name)
                return
            self.values[name] = bytearray()
            self.lengths[name] = 0
            self._current = name
        # any other field is read past and forgotten

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None or self.error is not None:
            return
        if self._current == "file":
            # a view, not a copy: the writer copies it into its buffer before the parser
            # is given the next chunk (read_package_form empties ``pending`` after each)
            self.pending.append(memoryview(data)[start:end])
            return
        kept = self.values[self._current]
        self.lengths[self._current] += end - start
        room = _KEEP[self._current] - len(kept)
        if room > 0:
            kept += data[start : min(end, start + room)]

    def text(self, field: str) -> str | None:
        if field not in self.values:
            return None
        try:
            return self.values[field].decode("utf-8")
        except UnicodeDecodeError:
            if self.lengths[field] > len(self.values[field]):
                return None  # cut inside a character: too long is what to say
            raise PackageInvalid(params={"problem": "text", "field": field}) from None

    def identifiers(self) -> dict[str, str] | None:
        """name, version, platform and arch, if all have arrived and are valid."""
        found = {}
        for field in FIELD_LIMITS:
            value = self.text(field)
            if value is None:
                return None
            try:
                found[field] = check_identifier(field, value)
            except PackageInvalid:
                return None
        return found


async def read_package_form(
    request: Request,
    blobs: BlobStore,
    writers: contextlib.AsyncExitStack,
    *,
    max_bytes: int,
    before_file: Callable[[dict[str, str]], Awaitable[None]],
) -> tuple[PackageFields, BlobWriter]:
    """The form's fields, checked, and a writer of ``blobs`` holding its file (not
    committed), opened when the file begins (expecting the ``sha256`` field, when it came
    before the file) and entered into ``writers``, which aborts it unless committed.

    ``before_file`` is called with name, version, platform and arch when the file begins
    after all four (as ``ferry packages upload`` sends them), so that a duplicate is
    refused before its bytes are read.
    """
    kind, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise PackageInvalid(params={"problem": "form"})
    form = _Form()
    parser = MultipartParser(boundary, form.callbacks())
    writer: BlobWriter | None = None
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if form.error is not None:
                raise form.error
            if form.file_began and writer is None:
                early = form.identifiers()
                if early is not None:
                    await before_file(early)
                expect = _expected(form.sha256_before_file)
                writer = await writers.enter_async_context(blobs.open_writer(expect=expect))
            if writer is None:
                continue
            for piece in form.pending:
                await writer.write(piece)
            form.pending.clear()
            if writer.size > max_bytes:
                name = safe_filename(form.filename, "file")
                raise PackageTooLarge(params={"name": name, "limit": str(max_bytes)})
        parser.finalize()
    except MultipartParseError:
        raise PackageInvalid(params={"problem": "form"}) from None
    if form.error is not None:
        raise form.error
    fields = _fields(form, writer)
    assert writer is not None  # opened when the file began, and _fields saw the file
    return fields, writer


def _expected(sha256: bytes | None) -> BlobKey | None:
    if sha256 is None:
        return None
    text = sha256.decode("ascii", "replace")
    if not _SHA256.fullmatch(text):
        raise PackageInvalid("sha256 must be the file's SHA-256, as 64 hex digits")
    return BlobKey.sha256(text.lower())


def _fields(form: _Form, writer: BlobWriter | None) -> PackageFields:
    values = {}
    for field in FIELD_LIMITS:
        value = form.text(field)
        if value is None and field in form.lengths:
            limit = str(FIELD_LIMITS[field])
            raise PackageInvalid(params={"problem": "long", "field": field, "limit": limit})
        values[field] = check_identifier(field, value or "")
    if form.lengths.get("description", 0) > DESCRIPTION_MAX_BYTES:
        limit = str(DESCRIPTION_MAX_BYTES)
        raise PackageInvalid(params={"problem": "long", "field": "description", "limit": limit})
    description = form.text("description") or ""
    if not form.file_seen:
        raise PackageInvalid(params={"problem": "missing", "field": "file"})
    given = form.sha256_before_file
    if given is None and "sha256" in form.values:
        given = bytes(form.values["sha256"])
        _expected(given)  # after the file: only its shape is checked here, the bytes at commit
    if writer is None or writer.size == 0:
        raise PackageInvalid(params={"problem": "empty", "field": "file"})
    fallback = "-".join(values[f] for f in FIELD_LIMITS)
    return PackageFields(
        name=values["name"],
        version=values["version"],
        platform=values["platform"],
        arch=values["arch"],
        description=description,
        filename=safe_filename(form.filename, fallback),
        sha256=None if given is None else given.decode().lower(),
    )
