"""Refuse oversized request bodies before they are read (and spooled to disk).

FastAPI's multipart parsing stores a whole upload before a route sees it, so a
zip-bomb-sized body would fill the disk first; this ASGI middleware answers 413 as soon as
the declared or received length passes the limit.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, paths: dict[str, int] | None = None) -> None:
        """``paths``: a limit of their own for these exact paths, or for every path under
        one ending in ``/`` (the package store and the model catalog take files far larger
        than any manifest, and stream them instead of spooling)."""
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths or {}

    def _limit(self, path: str) -> int:
        """The path's own limit: an exact entry, else the longest entry ending in ``/``
        that the path is under (a model's files upload below ``/api/models/``)."""
        if path in self.paths:
            return self.paths[path]
        under = [p for p in self.paths if p.endswith("/") and path.startswith(p)]
        return self.paths[max(under, key=len)] if under else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        received = 0
        refused = False

        async def limited() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    # Answer now: the form parser turns any error while reading into its
                    # own 400, which must not be what the client sees (nor anything else
                    # the app tries to send after this).
                    refused = True
                    await _too_large(send, limit)
                    raise _TooLarge
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited, unless_refused)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "type": "urn:ferry:upload-too-large",
        "title": "request body too large",
        "status": 413,
        "code": "upload-too-large",
        "message": f"the request body is over the {limit}-byte limit",
        "params": {"limit": str(limit)},
    }
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
