"""How a part's buffer leaves for S3: aiohttp gets it (behind aiobotocore's proxy object)
as a payload that hands over slices of the buffer, from where botocore left the file
position (a retry rewinds it), instead of reading it 64 KiB at a time in worker threads."""

from __future__ import annotations

import os
from typing import Any

import aiohttp.payload
from aiobotocore._endpoint_helpers import _IOBaseWrapper

from ferry.store.blob import s3 as s3_module


class _Collect:
    """Enough of aiohttp's stream writer: what was written, and in what pieces."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    async def write(self, chunk: Any) -> None:
        self.pieces.append(bytes(chunk))


async def test_a_part_goes_out_as_slices_of_its_buffer_from_the_file_position() -> None:
    data = bytearray(os.urandom(3 * 1024 * 1024 + 5))
    with s3_module._Body(data) as body:
        # as aiobotocore passes it to aiohttp
        payload = aiohttp.payload.PAYLOAD_REGISTRY.get(_IOBaseWrapper(body))
        assert isinstance(payload, s3_module._BodyPayload)
        assert payload.size == len(data)
        sent = _Collect()
        await payload.write_with_length(sent, None)  # type: ignore[arg-type]
        assert b"".join(sent.pieces) == data
        assert max(len(p) for p in sent.pieces) == s3_module._SEND_SLICE

        # botocore read part of it (signing), then rewound part way: the rest goes
        body.seek(1000)
        again = aiohttp.payload.PAYLOAD_REGISTRY.get(_IOBaseWrapper(body))
        assert again.size == len(data) - 1000
        sent = _Collect()
        await again.write_with_length(sent, 5000)  # type: ignore[arg-type]
        assert b"".join(sent.pieces) == data[1000:6000]
