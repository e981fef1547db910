"""``s3://bucket/prefix``: where an S3 blob store keeps its objects.

Light on purpose (no S3 client imported): the settings check the URL when they are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["S3Location"]

# S3's own rule for new buckets; MinIO, SeaweedFS and Ceph follow it. Checked here so a typo
# fails when the settings are read, not at the first upload.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# a conservative subset of what S3 keys allow: nothing that needs escaping in a URL, nothing
# that means something in a path
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str  # "" or "a/b" (no slash at either end)

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        if "@" in parts.netloc or ":" in parts.netloc or parts.query or parts.fragment:
            # not echoed: what sits before an @ may be a secret
            raise ValueError(
                "an s3:// URL names a bucket and a prefix only; the endpoint is the "
                "s3_endpoint_url setting and credentials come from the AWS variables and files"
            )
        if not _BUCKET.fullmatch(parts.netloc) or ".." in parts.netloc:
            raise ValueError(
                f"{parts.netloc!r} is not a bucket name (3-63 lowercase letters, digits, "
                "'.' and '-')"
            )
        segments = [s for s in parts.path.split("/") if s]
        for segment in segments:
            if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
                raise ValueError(
                    f"{url!r}: prefix segment {segment!r} may hold letters, digits, "
                    "'.', '_' and '-' only"
                )
        return cls(parts.netloc, "/".join(segments))

    def key(self, name: str) -> str:
        """The object key of ``name`` under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
