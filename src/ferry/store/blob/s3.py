"""The blob store in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Ceph, ...).

Objects are ``<prefix>/<algorithm>/<aa>/<bb>/<hex>``, the local store's layout. S3 has no
rename, and an object's name must be given when its upload starts, so how bytes reach
their name depends on what is known when they do:

* the blob is smaller than one part: it is hashed while buffered, then PUT once under its
  final name (one request; most packages are this);
* the caller knows the digest (``expect``, ``put_file``): the multipart upload goes to the
  final name directly. Parts are invisible until CompleteMultipartUpload, which is only
  sent after the hash matched; a mismatch aborts the upload and nothing ever appears;
* the digest is only known at the end: the upload goes to ``<prefix>/tmp/<uuid>``, and
  once hashed is copied server-side to its final name (CopyObject; UploadPartCopy in
  parts past 5 GiB, S3's limit for one copy) and the temporary object deleted.

A client may also PUT a blob itself (:meth:`S3BlobStore.presigned_put`: the length and the
SHA-256 are signed headers, so the bucket takes no other bytes), where the bucket is found
to check digests; :meth:`S3BlobStore.verified` then tells from the object's stored
checksum that it did.

A crash leaves at worst an unfinished multipart upload or a ``tmp/`` object, never a wrong
blob: :meth:`S3BlobStore.clean_staging` removes both. Parts are sent as they fill, one at a
time, so a writer holds about one part in memory; the part size is a setting.

Each part is signed without its payload's SHA-256 over HTTPS (TLS guards the bytes on the
way, and the store hashes every blob itself); botocore signs it over plain HTTP, where
nothing else would. Hashing 2 GB takes 1.6 s of CPU here, and botocore does it on the
event loop, so this is most of what an S3 upload costs Ferry's server beyond the upload.
A private CA (MinIO or SeaweedFS behind a company certificate) is given as AWS tools take
it: ``AWS_CA_BUNDLE``, or ``ca_bundle`` in the AWS config file.

Credentials come from botocore's default chain (``AWS_ACCESS_KEY_ID`` and friends,
``AWS_PROFILE``, ``~/.aws/credentials`` and ``config``, SSO, the instance's role); Ferry
never reads, stores or prints them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import logging
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, cast
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import aiohttp.payload
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from aiohttp.abc import AbstractStreamWriter
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from ferry.errors import Hint
from ferry.store.blob.interface import (
    BlobInfo,
    BlobKey,
    BlobNotFound,
    BlobStoreError,
    NoDirectUpload,
    PresignedPut,
    check_bounds,
    check_range,
)
from ferry.store.blob.location import S3Location
from ferry.store.blob.writer import StreamingWriter
from ferry.store.cas import ALGORITHMS, CHUNK_SIZE

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

__all__ = ["MAX_PARTS", "MIN_PART_SIZE", "S3BlobStore"]

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024**2  # S3's minimum for every part but the last
_SEND_SLICE = 1024**2  # how much of a part aiohttp is handed at a time
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000
MAX_COPY_SIZE = 5 * 1024**3  # the largest object one CopyObject may copy
MAX_PUT_SIZE = 5 * 1024**3  # the largest object one PutObject may send
# what S3 servers answer a PUT whose bytes do not match its x-amz-checksum-sha256
_DIGEST_REFUSED = frozenset({"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"})
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit
_COPY_CONCURRENCY = 4
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_TMP = "tmp/"

AddressingStyle = Literal["auto", "path", "virtual"]


class S3BlobStore:
    """Blobs in ``s3://bucket/prefix``; see the module docstring."""

    def __init__(
        self,
        location: S3Location | str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        part_size: int = 16 * 1024**2,
        addressing_style: AddressingStyle = "auto",
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        copy_threshold: int = MAX_COPY_SIZE,
        copy_part_size: int = 512 * 1024**2,
        session: AioSession | None = None,
    ) -> None:
        self._loc = location if isinstance(location, S3Location) else S3Location.parse(location)
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part size {part_size} is outside S3's {MIN_PART_SIZE}..5 GiB")
        if not MIN_PART_SIZE <= copy_part_size <= MAX_PART_SIZE or copy_threshold < 0:
            raise ValueError("copy part size outside S3's 5 MiB..5 GiB")
        self.part_size = part_size
        self.copy_threshold = min(copy_threshold, MAX_COPY_SIZE)
        self.copy_part_size = copy_part_size
        self._endpoint_url = endpoint_url
        self._endpoint = _display_endpoint(endpoint_url, region)
        self._region = region
        if addressing_style == "auto" and endpoint_url:
            # MinIO, SeaweedFS and Ceph answer path-style on any host; virtual-host style
            # needs a wildcard DNS name the endpoint rarely has
            addressing_style = "path"
        s3_options: dict[str, Any] = {"addressing_style": addressing_style}
        if _over_tls(endpoint_url):
            # TLS already guards what is sent, and the blob's digest proves it: signing each
            # part's SHA-256 as well would hash every byte a second time, on the event loop.
            # Over plain HTTP the signature is all that guards the body: botocore signs it.
            s3_options["payload_signing_enabled"] = False
        self._config = AioConfig(
            signature_version="s3v4",
            s3=s3_options,
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # botocore >= 1.36 adds CRC checksums to every upload, which many S3-compatible
            # servers reject; the store's own digest already proves the bytes
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._session = session
        self._client: S3Client | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._connecting = asyncio.Lock()
        self._checks_digests: bool | None = None
        self._probing = asyncio.Lock()
        # staging objects and uploads this process is writing (two writers of the same
        # expected blob share a name, hence a count): clean_staging leaves them
        self._active: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"S3BlobStore({self.location!r})"

    @property
    def location(self) -> str:
        return f"{self._loc} at {self._endpoint}"

    @property
    def digest_first(self) -> bool:
        return True  # without it, every byte is copied from tmp/ to its name at the end

    @property
    def bucket(self) -> str:
        return self._loc.bucket

    def object_key(self, key: BlobKey) -> str:
        return self._loc.key(key.relpath)

    # -- reading ---------------------------------------------------------------------------

    async def has(self, key: BlobKey, size: int | None = None) -> bool:
        info = await self.stat(key)
        return info is not None and (size is None or info.size == size)

    async def stat(self, key: BlobKey) -> BlobInfo | None:
        head = await self._head(key)
        return None if head is None else BlobInfo(key, head["ContentLength"])

    async def _head(self, key: BlobKey, **extra: Any) -> Mapping[str, Any] | None:
        """The object's HEAD (``extra``: more of HeadObject's parameters); None if absent."""
        client = await self._s3()
        with self._errors(f"looking up blob {key}"):
            try:
                return await client.head_object(
                    Bucket=self.bucket, Key=self.object_key(key), **extra
                )
            except ClientError as exc:
                if _status(exc) == 404:
                    return None
                raise

    async def size(self, key: BlobKey) -> int:
        info = await self.stat(key)
        if info is None:
            raise BlobNotFound(key, self.location)
        return info.size

    async def read(
        self, key: BlobKey, start: int | None = None, end: int | None = None
    ) -> AsyncIterator[bytes]:
        check_bounds(start, end, key)
        lo = start or 0
        if end is not None and end == lo:
            # S3 has no empty range; the bounds still have to be inside the blob
            check_range(key, await self.size(key), start, end, self.location)
            return
        client = await self._s3()
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_key(key)}
        ranged = lo > 0 or end is not None
        if ranged:
            params["Range"] = f"bytes={lo}-{'' if end is None else end - 1}"
        with self._errors(f"reading blob {key}"):
            try:
                resp = await client.get_object(**params)
            except ClientError as exc:
                if _status(exc) == 404:
                    raise BlobNotFound(key, self.location) from None
                if _status(exc) != 416:
                    raise
                # past the end, or an open range starting right at it (nothing to read)
                check_range(key, await self.size(key), start, end, self.location)
                return
            body = resp["Body"]
            try:
                if ranged:
                    # S3 shortens a range that runs past the end; the interface refuses it
                    found = _CONTENT_RANGE.fullmatch(resp.get("ContentRange", ""))
                    if found is not None:
                        check_range(key, int(found[3]), start, end, self.location)
                while chunk := await body.read(CHUNK_SIZE):
                    yield chunk
            finally:
                body.close()

    async def iter_keys(self) -> AsyncIterator[BlobKey]:
        async for info in self.iter_blobs():
            yield info.key

    async def iter_blobs(self) -> AsyncIterator[BlobInfo]:
        client = await self._s3()
        pages = client.get_paginator("list_objects_v2")
        for algorithm in ALGORITHMS:
            top = self._loc.key(f"{algorithm}/")
            with self._errors("listing blobs"):
                async for page in pages.paginate(Bucket=self.bucket, Prefix=top):
                    for obj in page.get("Contents", []):
                        key = _parse_relpath(algorithm, obj["Key"][len(top) :])
                        if key is not None:
                            yield BlobInfo(key, obj["Size"], obj["LastModified"].timestamp())

    async def presigned_url(self, key: BlobKey, expires: float) -> str | None:
        if not 1 <= expires <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"a presigned URL lives 1..{MAX_PRESIGN_SECONDS} seconds")
        client = await self._s3()
        with self._errors(f"signing a URL for blob {key}"):
            return await client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.object_key(key)},
                ExpiresIn=int(expires),
            )

    async def verified(self, key: BlobKey) -> BlobInfo | None:
        head = await self._head(key, ChecksumMode="ENABLED")
        if head is None:
            return None
        # a multipart object's checksum is of its parts' checksums ("...-3"), never the
        # whole's digest: only a single PUT's full-object SHA-256 can say the bytes are key's
        if head.get("ChecksumSHA256") != _b64(key) or key.algorithm != "sha256":
            return None
        return BlobInfo(key, head["ContentLength"])

    # -- writing ---------------------------------------------------------------------------

    async def presigned_put(self, key: BlobKey, size: int, expires: float) -> PresignedPut:
        if not 1 <= expires <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"a presigned URL lives 1..{MAX_PRESIGN_SECONDS} seconds")
        if key.algorithm != "sha256":
            raise NoDirectUpload(f"S3 checks SHA-256 digests, not {key.algorithm}")
        if size > MAX_PUT_SIZE:
            raise NoDirectUpload(
                f"{size} bytes are more than one PUT to S3 takes ({MAX_PUT_SIZE}); parts "
                "would be checked one by one, never the whole file against its digest"
            )
        if not await self.checks_digests():
            raise NoDirectUpload(
                f"the bucket at {self._endpoint} stores bytes whatever their digest "
                "(a SHA-256 that did not match was accepted)"
            )
        client = await self._s3()
        checksum = _b64(key)
        with self._errors(f"signing an upload of blob {key}"):
            url = await client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.object_key(key),
                    # both become signed headers: another length or digest is refused
                    # (403), and bytes that do not match the digest too (400 BadDigest)
                    "ContentLength": size,
                    "ChecksumSHA256": checksum,
                },
                ExpiresIn=int(expires),
            )
        headers = {"Content-Length": str(size), "x-amz-checksum-sha256": checksum}
        return PresignedPut(url, headers, int(time.time() + expires))

    async def checks_digests(self) -> bool:
        """Whether the bucket refuses a PUT whose bytes do not match its
        ``x-amz-checksum-sha256`` (AWS S3 and SeaweedFS do; moto and some gateways store
        them regardless). Asked once, by trying it, on a client that does not retry."""
        if self._checks_digests is None:
            async with self._probing:
                if self._checks_digests is None:
                    self._checks_digests = await self._probe_digests()
        return self._checks_digests

    async def _probe_digests(self) -> bool:
        await self._s3()  # the bucket is there and the credentials work
        name = self._tmp_key()
        wrong = base64.b64encode(hashlib.sha256(b"").digest()).decode()
        once = self._config.merge(AioConfig(retries={"mode": "standard", "max_attempts": 1}))
        async with self._new_client(once) as client:
            with self._errors("checking that the bucket verifies digests"):
                try:
                    await client.put_object(
                        Bucket=self.bucket, Key=name, Body=b"ferry", ChecksumSHA256=wrong
                    )
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code")
                    if code in _DIGEST_REFUSED:
                        return True
                    if _status(exc) == 400:
                        log.info("%s refused a PUT with a checksum: %s", self.location, code)
                        return False
                    raise
        await self._delete_object(name)
        log.info("%s keeps bytes that do not match their SHA-256", self.location)
        return False

    def open_writer(self, *, expect: BlobKey | None = None, algorithm: str = "sha256") -> _S3Writer:
        return _S3Writer(self, expect=expect, algorithm=algorithm)

    async def put_file(self, path: Path, key: BlobKey) -> BlobInfo:
        size = (await asyncio.to_thread(Path(path).stat)).st_size
        if await self.has(key, size):
            return BlobInfo(key, size)
        # a known size lets the part size grow to fit S3's 10,000 parts
        part_size = max(self.part_size, math.ceil(size / MAX_PARTS))
        async with _S3Writer(self, expect=key, verify=False, part_size=part_size) as writer:
            fh = await asyncio.to_thread(Path(path).open, "rb")
            try:
                while chunk := await asyncio.to_thread(fh.read, CHUNK_SIZE):
                    await writer.write(chunk)
            finally:
                fh.close()
            return await writer.commit()

    async def move_file(self, path: Path, key: BlobKey) -> BlobInfo:
        info = await self.put_file(path, key)
        await asyncio.to_thread(Path(path).unlink)
        return info

    async def delete(self, key: BlobKey) -> None:
        client = await self._s3()
        with self._errors(f"deleting blob {key}"):
            await client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    async def clean_staging(self, older_than: float = 3600.0) -> int:
        client = await self._s3()
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        removed = 0
        # unfinished uploads: under tmp/, and under a final name when the digest was known
        uploads = client.get_paginator("list_multipart_uploads")
        for top in [self._loc.key(_TMP)] + [self._loc.key(f"{a}/") for a in ALGORITHMS]:
            with self._errors("listing unfinished uploads"):
                async for page in uploads.paginate(Bucket=self.bucket, Prefix=top):
                    for upload in page.get("Uploads", []):
                        name, upload_id = upload["Key"], upload["UploadId"]
                        if not name.startswith(top) or name in self._active:
                            continue
                        if _started(name, top, upload["Initiated"]) > cutoff:
                            continue
                        try:
                            await client.abort_multipart_upload(
                                Bucket=self.bucket, Key=name, UploadId=upload_id
                            )
                        except ClientError as exc:
                            if _status(exc) != 404:  # 404: another cleaner was first
                                raise
                        else:
                            removed += 1
        objects = client.get_paginator("list_objects_v2")
        top = self._loc.key(_TMP)
        with self._errors("listing staging objects"):
            async for page in objects.paginate(Bucket=self.bucket, Prefix=top):
                for obj in page.get("Contents", []):
                    name = obj["Key"]
                    if (
                        name not in self._active
                        and _started(name, top, obj["LastModified"]) <= cutoff
                    ):
                        await client.delete_object(Bucket=self.bucket, Key=name)
                        removed += 1
        return removed

    # -- the connection --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._s3()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _s3(self) -> S3Client:
        """The client, made and the bucket checked at first use.

        Checked once, up front, because S3 answers a HEAD of an object in a missing bucket
        with the same bare 404 as a missing object: unchecked, a misspelt bucket would
        look like an empty store.
        """
        if self._client is not None:
            return self._client
        async with self._connecting:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                try:
                    with self._errors("connecting"):
                        client = await stack.enter_async_context(self._new_client(self._config))
                        await client.head_bucket(Bucket=self.bucket)
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack, self._client = stack, client
        return self._client

    def _new_client(self, config: AioConfig) -> contextlib.AbstractAsyncContextManager[S3Client]:
        session = self._session or get_session()
        made = session.create_client(
            "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
        )
        return cast("contextlib.AbstractAsyncContextManager[S3Client]", made)

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn the client's exceptions into one that names the endpoint and bucket."""
        try:
            yield
        except ClientError as exc:
            raise self._refused(exc, action) from exc
        except NoCredentialsError as exc:
            raise BlobStoreError(
                f"no AWS credentials for the blob store {self.location}",
                hint=Hint("s3-credentials"),
            ) from exc
        except (BotoConnectionError, HTTPClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise BlobStoreError(
                f"cannot reach {self._endpoint} ({action} in bucket {self.bucket!r}): "
                f"{_describe(exc)}",
                hint=Hint("s3-endpoint"),
            ) from exc
        except BotoCoreError as exc:
            raise BlobStoreError(
                f"the blob store {self.location} failed ({action}): {_describe(exc)}"
            ) from exc

    def _refused(self, exc: Any, action: str) -> BlobStoreError:
        status = _status(exc)
        error: Mapping[str, Any] = exc.response.get("Error", {})
        code = str(error.get("Code", status))
        detail = error.get("Message") or code
        if code == "NoSuchBucket" or (action == "connecting" and status == 404):
            return BlobStoreError(
                f"bucket {self.bucket!r} does not exist at {self._endpoint}",
                hint=Hint("s3-bucket"),
            )
        if status in (301, 307) or code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
            return BlobStoreError(
                f"bucket {self.bucket!r} at {self._endpoint} is in another region ({detail})",
                hint=Hint("s3-region"),
            )
        if status == 403 or code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return BlobStoreError(
                f"{self._endpoint} refused access to bucket {self.bucket!r} ({action}): {code}",
                hint=Hint("s3-access"),
            )
        return BlobStoreError(
            f"the blob store {self.location} failed ({action}): {detail} (HTTP {status})"
        )

    # -- used by the writer ----------------------------------------------------------------

    def _tmp_key(self) -> str:
        # the start time in the name: clean_staging's age of a staged write does not depend
        # on the times a server reports (moto gives every upload the same date in 2010)
        return self._loc.key(f"{_TMP}{int(time.time() * 1000)}-{uuid.uuid4().hex}")

    async def _copy(self, source: str, dest: str, size: int) -> None:
        client = await self._s3()
        copy_source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": source}
        if size <= self.copy_threshold:
            with self._errors("copying a staged blob into place"):
                await client.copy_object(Bucket=self.bucket, Key=dest, CopySource=copy_source)
            return
        part = max(self.copy_part_size, math.ceil(size / MAX_PARTS))
        self._active[dest] += 1
        upload_id: str | None = None
        try:
            with self._errors("copying a staged blob into place"):
                started = await client.create_multipart_upload(Bucket=self.bucket, Key=dest)
                upload_id = uploading = started["UploadId"]
                gate = asyncio.Semaphore(_COPY_CONCURRENCY)

                async def copy_part(number: int, lo: int) -> CompletedPartTypeDef:
                    async with gate:
                        copied = await client.upload_part_copy(
                            Bucket=self.bucket,
                            Key=dest,
                            UploadId=uploading,
                            PartNumber=number,
                            CopySource=copy_source,
                            CopySourceRange=f"bytes={lo}-{min(lo + part, size) - 1}",
                        )
                    return {"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]}

                parts = await asyncio.gather(
                    *(copy_part(n, lo) for n, lo in enumerate(range(0, size, part), start=1))
                )
                await client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=dest,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": list(parts)},
                )
                upload_id = None
        finally:
            if upload_id is not None:
                await self._abort_upload(dest, upload_id)
            self._active -= Counter({dest: 1})

    async def _abort_upload(self, name: str, upload_id: str) -> None:
        """Best effort: what fails here is left to clean_staging."""
        try:
            client = await self._s3()
            await client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        except ClientError as exc:
            if _status(exc) != 404:  # 404: a sweep already aborted it
                log.warning("could not abort an upload to %s in %s", name, self.location)
        except (BotoCoreError, aiohttp.ClientError, TimeoutError, BlobStoreError):
            log.warning("could not abort an upload to %s in %s", name, self.location)

    async def _delete_object(self, name: str) -> None:
        """Best effort, as :meth:`_abort_upload`."""
        try:
            client = await self._s3()
            await client.delete_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError, aiohttp.ClientError, TimeoutError, BlobStoreError):
            log.warning("could not delete the staging object %s in %s", name, self.location)


def _over_tls(endpoint_url: str | None) -> bool:
    """Whether requests go over HTTPS (AWS's own endpoints, with none given, do)."""
    return endpoint_url is None or urlsplit(endpoint_url).scheme.lower() == "https"


class _S3Writer(StreamingWriter):
    """Parts uploaded as they fill; see the module docstring for where they go."""

    def __init__(
        self,
        store: S3BlobStore,
        *,
        expect: BlobKey | None,
        algorithm: str = "sha256",
        verify: bool = True,
        part_size: int | None = None,
    ) -> None:
        super().__init__(
            buffer_size=part_size or store.part_size,
            location=store.location,
            expect=expect,
            algorithm=algorithm,
            verify=verify,
        )
        self._s3store = store
        # with the digest known, parts can go to the final name: they stay invisible until
        # completed, and completion waits for the hash to match
        self._name = store.object_key(expect) if expect is not None else store._tmp_key()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._single: bytearray | None = None
        self._staged: str | None = None  # a completed tmp/ object still to delete
        self._holding = False

    def _hold(self) -> None:
        if not self._holding:
            self._s3store._active[self._name] += 1
            self._holding = True

    def _release(self) -> None:
        if self._holding:
            # Counter subtraction drops names that reach zero
            self._s3store._active -= Counter({self._name: 1})
            self._holding = False

    async def _store(self, chunk: bytearray, *, final: bool) -> None:
        store = self._s3store
        if final and self._upload_id is None:
            # smaller than one part: PUT whole once its digest is known (in _finish)
            self._single = chunk
            return
        if not chunk:
            return
        client = await store._s3()
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise BlobStoreError(
                f"a blob over {MAX_PARTS} parts of {self._buffer_size} bytes is too big for "
                f"the blob store {store.location}",
                hint=Hint("s3-part-size"),
            )
        with store._errors("uploading a blob"):
            if self._upload_id is None:
                self._hold()
                started = await client.create_multipart_upload(Bucket=store.bucket, Key=self._name)
                self._upload_id = started["UploadId"]
            with _Body(chunk) as body:
                sent = await client.upload_part(
                    Bucket=store.bucket,
                    Key=self._name,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=body,
                )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    async def _finish(self, key: BlobKey, size: int) -> bool:
        store = self._s3store
        if await store.has(key):
            await self._discard()
            return False
        client = await store._s3()
        final = store.object_key(key)
        if self._upload_id is None:
            with store._errors("uploading a blob"), _Body(self._single or bytearray()) as body:
                await client.put_object(Bucket=store.bucket, Key=final, Body=body)
            self._single = None
            return True
        with store._errors("completing an upload"):
            await client.complete_multipart_upload(
                Bucket=store.bucket,
                Key=self._name,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._upload_id = None
        if self._name != final:
            self._staged = self._name
            await store._copy(self._name, final, size)
            await store._delete_object(self._name)
            self._staged = None
        self._release()
        return True

    async def _discard(self) -> None:
        store = self._s3store
        self._single = None
        try:
            if self._upload_id is not None:
                upload_id, self._upload_id = self._upload_id, None
                await store._abort_upload(self._name, upload_id)
            if self._staged is not None:
                staged, self._staged = self._staged, None
                await store._delete_object(staged)
        finally:
            self._release()


class _Body(io.RawIOBase):
    """A part's buffer as a file, read in place.

    Given the buffer itself, the HTTP client slices it (a copy) and the socket transport
    queues what the kernel did not take at once (another): three parts in memory. A file
    is sent in small reads, each waiting for the socket to drain.

    botocore reads it as a file (to sign it over plain HTTP, and to rewind it for a retry);
    aiohttp sends it as :class:`_BodyPayload`, in slices of the buffer.
    """

    def __init__(self, data: bytearray) -> None:
        super().__init__()
        self._view = memoryview(data)
        self._pos = 0

    def __len__(self) -> int:
        return len(self._view)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._pos + size
        out = bytes(self._view[self._pos : end])
        self._pos += len(out)
        return out

    def readinto(self, buffer: Any) -> int:
        out = self.read(len(buffer))
        buffer[: len(out)] = out
        return len(out)

    def rest(self) -> memoryview:
        """What is left to read, in place (reading nothing)."""
        return self._view[self._pos :]

    def close(self) -> None:
        # the buffer is reused (and finally resized) by the writer: no export may outlive
        # the request. A read still running in a worker thread (the request was cancelled)
        # holds one a moment longer; the writer is failed then and resizes nothing.
        with contextlib.suppress(BufferError):
            self._view.release()
        super().close()


class _BodyPayload(aiohttp.payload.Payload):
    """How aiohttp sends a :class:`_Body`: slices of the buffer handed to the connection
    one after the other, waiting only when the socket is behind.

    As a file (aiohttp's IOBasePayload) each 64 KiB was read in a worker thread, a thread
    hop per read: 32,000 for 2 GB, which py-spy found costing the event loop more than the
    socket writes themselves in an S3 upload (2026-12-06). The part is in memory already.
    """

    def __init__(self, value: _Body, *args: Any, **kwargs: Any) -> None:
        super().__init__(value, *args, **kwargs)
        self._size = len(value.rest())

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._value.rest()).decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        rest = self._value.rest()
        if content_length is not None:
            rest = rest[:content_length]
        for at in range(0, len(rest), _SEND_SLICE):
            await writer.write(rest[at : at + _SEND_SLICE])


# aiobotocore hands aiohttp the body behind a proxy object (which isinstance sees through
# and type() does not): only a try-first entry is asked before aiohttp's own for files
aiohttp.payload.PAYLOAD_REGISTRY.register(
    _BodyPayload, _Body, order=aiohttp.payload.Order.try_first
)


def _started(name: str, top: str, reported: datetime) -> datetime:
    """When a staged write began: from its ``tmp/<ms>-<uuid>`` name, else as reported."""
    if top.endswith(_TMP):
        millis, sep, _ = name[len(top) :].partition("-")
        if sep and millis.isdigit():
            return datetime.fromtimestamp(int(millis) / 1000, UTC)
    return reported


def _b64(key: BlobKey) -> str:
    """The digest as S3's checksum headers carry it."""
    return base64.b64encode(bytes.fromhex(key.digest)).decode()


def _status(exc: Any) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _display_endpoint(endpoint_url: str | None, region: str | None) -> str:
    """The endpoint for messages, without any user:password@ someone put in the URL."""
    if not endpoint_url:
        return f"AWS S3 ({region})" if region else "AWS S3"
    parts = urlsplit(endpoint_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _parse_relpath(algorithm: str, rel: str) -> BlobKey | None:
    """The key of ``<aa>/<bb>/<hex>`` under ``algorithm/``; None for anything else."""
    segments = rel.split("/")
    if len(segments) != 3:
        return None
    aa, bb, digest = segments
    try:
        key = BlobKey(algorithm, digest)
    except ValueError:
        return None
    return key if digest[:2] == aa and digest[2:4] == bb else None
