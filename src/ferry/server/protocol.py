"""uvicorn's HTTP protocol (httptools), taking a request body in bigger pieces and without
copying them on the way to the application.

A package upload is gigabytes of request body, read by the event loop piece by piece, and
every piece costs the loop a round through uvicorn, Starlette's middleware and the form
parser however long it is. Two things in the stock protocol made that dear:

- asyncio reads at most 256 KiB from a socket at a time (``max_size`` of its transports):
  8,000 rounds for 2 GB. Here a connection reads up to 1 MiB.
- uvicorn (0.55) appends each piece to a ``bytearray`` and hands the application
  ``bytes(...)`` of it: two copies of every byte on the event loop, on top of the one
  httptools makes. Here a piece is kept as the ``bytes`` httptools made, which ``bytes()``
  returns as it is; only pieces that arrive while the application has not taken the one
  before are joined (a copy, as before).

Flow control is uvicorn's own (reading pauses once more than 64 KiB waits), so what a slow
application holds is still about one piece. Both changes reach into uvicorn's and
asyncio's internals (the transport's ``max_size``, the cycle's ``body``):
tests/server/test_protocol.py runs a real uvicorn with this protocol and fails if pieces
stop being big or uncopied; the package tests that start ``ferry serve`` run through it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["READ_SIZE", "FerryHttpProtocol"]

READ_SIZE = 1024 * 1024


class FerryHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # asyncio's socket transports read ``self.max_size`` at a time (a class attribute,
        # 256 KiB); only this connection's is changed
        if hasattr(transport, "max_size"):
            transport.max_size = READ_SIZE

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if not cycle.body and not (
            (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete
        ):
            # nothing waiting: keep the piece itself (receive() hands out bytes(body), which
            # is ``body`` when it is a bytes object), then let uvicorn do the rest (a copy
            # only if it must join this piece to the next)
            cycle.body = body  # type: ignore[assignment]
            super().on_body(b"")
            return
        super().on_body(body)
