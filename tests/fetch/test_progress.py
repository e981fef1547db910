from __future__ import annotations

import io
import re

from rich.console import Console

from ferry.errors import FetchError
from ferry.fetch import (
    Fetcher,
    FetchRequest,
    PlainProgress,
    RichProgress,
    make_progress,
)
from ferry.fetch.wire import AiohttpWire
from ferry.store import ContentStore
from fetch.local_server import LocalServer

SUMMARY = re.compile(
    r"(?P<files>\d+) files, (?P<size>\d+(?:\.\d)? [kMG]?B) fetched, (?P<cached>\d+) from cache, "
    r"(?P<failed>\d+) failed in \d+\.\d s"
)


def test_plain_progress_lines() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)

    progress.start(3, 2_500_000)
    progress.advance("a.whl", 2_000_000)
    progress.advance("a.whl", 500_000)
    progress.file_done("a.whl", from_cache=False)
    progress.file_done("b.whl", from_cache=True)
    progress.file_failed("c.whl", FetchError("c.whl: HTTP 404 Not Found from http://x/c.whl"))
    progress.finish()

    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "fetched a.whl (2.5 MB)",
        "cached  b.whl",
        "failed  c.whl: c.whl: HTTP 404 Not Found from http://x/c.whl",
    ]
    summary = SUMMARY.fullmatch(lines[3])
    assert summary, lines[3]
    assert summary.group("files", "size", "cached", "failed") == ("3", "2.5 MB", "1", "1")


async def test_plain_progress_from_a_real_fetch(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    cached = server.serve("cached.whl", b"c" * 1000)
    await Fetcher(store, client).fetch_one(cached)
    # A dropped connection makes the engine throw bytes away; the total must not count them.
    fresh = server.serve("fresh.whl", b"f" * 300_000, drops=1, drop_after=100_000)
    missing = FetchRequest(server.base + "/missing.whl", "0" * 64, None, "missing.whl")
    out = io.StringIO()

    fetcher = Fetcher(store, client, backoff=0, listener=PlainProgress(out))
    report = await fetcher.fetch_all([cached, fresh, missing])

    lines = out.getvalue().splitlines()
    assert "cached  cached.whl" in lines
    assert "fetched fresh.whl (300.0 kB)" in lines
    assert any(line.startswith("failed  missing.whl: ") and "404" in line for line in lines)
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    assert summary.group("files", "size", "cached", "failed") == ("3", "300.0 kB", "1", "1")
    assert report.bytes_fetched == 300_000


def test_rich_progress_renders_and_summarises() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    progress = RichProgress(console)

    progress.start(2, 1000)
    progress.advance("a.whl", 1000)
    progress.file_done("a.whl", from_cache=False)
    # Brackets in messages must not be taken for Rich markup.
    progress.file_failed("[b].whl", FetchError("[SSL: CERTIFICATE_VERIFY_FAILED] nope"))
    progress.finish()

    text = out.getvalue()
    assert "[SSL: CERTIFICATE_VERIFY_FAILED] nope" in text
    assert "[b].whl" in text
    assert "2 files, 1.0 kB fetched, 0 from cache, 1 failed" in text


def test_make_progress_picks_by_terminal() -> None:
    assert isinstance(make_progress(Console(file=io.StringIO())), PlainProgress)
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(make_progress(terminal), RichProgress)
