"""The HTTP protocol ``ferry serve`` runs uvicorn with: request bodies arrive whole and in
order, in pieces of up to 1 MiB, and the pieces the application gets are the ``bytes``
httptools made (no copy on the event loop).

A real uvicorn server on 127.0.0.1, with an application that hashes what it receives and
is a little slower than the sender, so that the socket always has more waiting than one
read takes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn

from ferry.server.protocol import READ_SIZE, FerryHttpProtocol

pytestmark = pytest.mark.timeout(60)

STOCK_READ_SIZE = 256 * 1024  # asyncio's


class _Spy(FerryHttpProtocol):
    """Keeps every piece httptools hands over (so that no id is reused)."""

    given: ClassVar[list[bytes]] = []

    def on_body(self, body: bytes) -> None:
        _Spy.given.append(body)
        super().on_body(body)


class _Site:
    def __init__(self) -> None:
        self.received: list[list[bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        pieces: list[bytes] = []
        self.received.append(pieces)
        digest = hashlib.sha256()
        more = True
        while more:
            message = await receive()
            pieces.append(message["body"])
            digest.update(message["body"])
            more = message.get("more_body", False)
            await asyncio.sleep(0.003)  # slower than the sender: pieces wait in the socket
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": digest.hexdigest().encode()})


@pytest.fixture
def site() -> Iterator[tuple[str, _Site]]:
    app = _Site()
    _Spy.given = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, loop="asyncio", http=_Spy, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/", app
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_big_body_arrives_whole_in_big_uncopied_pieces(site: tuple[str, _Site]) -> None:
    url, app = site
    data = os.urandom(24 * 1024 * 1024)
    answer = httpx.post(url, content=data, timeout=30)

    assert answer.text == hashlib.sha256(data).hexdigest()
    (pieces,) = app.received
    sizes = [len(p) for p in pieces]
    assert max(sizes) > STOCK_READ_SIZE and max(sizes) <= READ_SIZE
    assert len(pieces) < len(data) // STOCK_READ_SIZE
    given = {id(p) for p in _Spy.given}
    uncopied = [p for p in pieces if p and id(p) in given]
    # a piece joined to the one after it (the application was late) is a copy: rare here
    assert len(uncopied) >= 0.8 * len([p for p in pieces if p])


def test_a_chunked_body_and_a_second_request_on_the_same_connection(
    site: tuple[str, _Site],
) -> None:
    url, app = site
    data = os.urandom(5 * 1024 * 1024 + 17)

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(data), 100_000):
            yield data[at : at + 100_000]

    with httpx.Client(timeout=30) as client:
        first = client.post(url, content=chunks())
        second = client.post(url, content=b"small")
        third = client.post(url, content=data)

    assert first.text == hashlib.sha256(data).hexdigest()
    assert second.text == hashlib.sha256(b"small").hexdigest()
    assert third.text == hashlib.sha256(data).hexdigest()
    assert b"".join(app.received[1]) == b"small"
