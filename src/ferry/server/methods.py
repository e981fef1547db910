"""HTTP methods the routing does not get right by itself.

- HEAD answers wherever GET does, with GET's status and headers and no body. FastAPI
  routes take only the methods declared (a HEAD is a 405), and declaring HEAD on each
  route would put a second operation per path into the OpenAPI schema. So HEAD is routed
  as GET here, and the answer stops after its headers: the first body message goes out
  empty and the endpoint is stopped there, so a HEAD of a large archive reads one chunk
  of it, not all of it.
- A 405 names every method the path takes (``Allow``), from the OpenAPI schema's paths:
  Starlette's own answer names only the first route that matched the path.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _HeadDone(Exception):
    """The headers of a HEAD answer are out: nothing more of it is wanted."""


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        scope = {**scope, "method": "GET", "ferry.head": True}
        started = False

        async def headers_only(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                await send(message)
            elif message["type"] == "http.response.body":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                raise _HeadDone
            else:
                await send(message)

        try:
            await self.app(scope, receive, headers_only)
        except _HeadDone:
            return
        except BaseExceptionGroup as group:  # a streaming answer's task group wraps it
            rest = group.split(_HeadDone)[1]
            if rest is not None:
                raise rest from None


def methods_by_path(schema: dict[str, Any]) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Each documented path as a pattern, with the methods it takes (HEAD with GET)."""
    index = []
    for path, operations in schema.get("paths", {}).items():
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
        methods = {m.upper() for m in operations if m.lower() != "parameters"}
        if "GET" in methods:
            methods.add("HEAD")
        index.append((pattern, frozenset(methods)))
    return index


def allowed(index: list[tuple[re.Pattern[str], frozenset[str]]], path: str) -> list[str]:
    found: set[str] = set()
    for pattern, methods in index:
        if pattern.match(path):
            found |= methods
    return sorted(found)
