"""``ferry fetch``: files like aria2c/curl fetch them, with meaningful exit codes.

The in-process tests drive ``main([...])``; the kill and memory tests run the real command
as a child process (SIGKILL mid-download; peak RSS of a 2 GB download).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferry.cli.main import main
from ferry.errors import ExitCode
from fetch.local_server import LocalServer, Route


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("FERRY_DATA_DIR", str(folder))
    return folder


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def test_fetch_urls_into_a_directory(
    server: LocalServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _blob(1, 70_000), _blob(2, 30_000)
    url_a = server.add("/dl/a.bin", Route(body=a))
    url_b = server.add("/dl/b%20c.bin", Route(body=b))
    out = tmp_path / "out"

    code = main(["fetch", url_a, url_b, "-o", str(out), "--json"])

    assert code == ExitCode.OK
    assert (out / "a.bin").read_bytes() == a and (out / "b c.bin").read_bytes() == b
    docs = json.loads(capsys.readouterr().out)
    assert [d["status"] for d in docs] == ["fetched", "fetched"]
    assert docs[0]["sha256"] == hashlib.sha256(a).hexdigest()
    assert sorted(p.name for p in out.iterdir()) == ["a.bin", "b c.bin"]


def test_rerun_keeps_complete_files(
    server: LocalServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _blob(3, 5000)
    url = server.add("/dl/k.bin", Route(body=body))
    digest = hashlib.sha256(body).hexdigest()
    out = tmp_path / "out"
    assert main(["fetch", url, "-o", str(out), "--sha256", digest]) == ExitCode.OK
    assert main(["fetch", url, "-o", str(out), "--sha256", digest]) == ExitCode.OK
    assert server.hits(url) == 1
    assert "complete" in capsys.readouterr().err
    assert main(["fetch", url, "-o", str(out), "--force"]) == ExitCode.OK
    assert server.hits(url) == 2


def test_digest_mismatch_exits_7_and_leaves_nothing(
    server: LocalServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.add("/dl/bad.bin", Route(body=b"tampered"))
    out = tmp_path / "out"

    code = main(["fetch", url, "-o", str(out), "--sha256", "0" * 64])

    assert code == ExitCode.INTEGRITY
    assert not (out / "bad.bin").exists()
    assert list(out.iterdir()) == []
    said = capsys.readouterr().err
    assert "does not match" in said
    # the user who fetched it is told what arrived instead
    assert f"(found sha256 {hashlib.sha256(b'tampered').hexdigest()})" in said


def test_network_failure_exits_6(
    server: LocalServer, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_RETRIES", "0")
    code = main(["fetch", server.base + "/dl/missing.bin", "-o", str(tmp_path)])
    assert code == ExitCode.NETWORK


def test_integrity_outranks_network_in_the_exit_code(
    server: LocalServer, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_RETRIES", "0")
    bad = server.add("/dl/bad.bin", Route(body=b"x"))
    listing = tmp_path / "list.txt"
    listing.write_text(f"{server.base}/dl/missing.bin\n{bad}\n  checksum=sha-256={'1' * 64}\n")
    assert main(["fetch", "-i", str(listing), "-o", str(tmp_path / "o")]) == ExitCode.INTEGRITY


def test_input_list_with_mirrors_names_and_folders(
    server: LocalServer, data_dir: Path, tmp_path: Path
) -> None:
    body = _blob(4, 20_000)
    good = server.add("/mirror/w.whl", Route(body=body))
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"{server.base}/gone/w.whl\t{good}\n"
        "  out=renamed.whl\n"
        "  dir=wheels\n"
        f"  checksum=sha-256={hashlib.sha256(body).hexdigest()}\n"
    )
    out = tmp_path / "out"
    assert main(["fetch", "-i", str(listing), "-o", str(out)]) == ExitCode.OK
    assert (out / "wheels" / "renamed.whl").read_bytes() == body


def test_bad_input_list_exits_4_naming_the_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("https://a.test/x\n  referer=y\n")
    assert main(["fetch", "-i", str(listing)]) == ExitCode.INPUT
    assert f"{listing}:2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch"], "nothing to fetch"),
        (["fetch", "ftp://h/x"], "not a URL Ferry can fetch"),
        (["fetch", "http://h/a", "http://h/b", "--sha256", "a" * 64], "one file"),
        (["fetch", "http://h/a", "--sha256", "xyz"], "--sha256"),
        (["fetch", "http://h/a/x.bin", "http://h/b/x.bin"], "both be saved"),
        (["fetch", "http://h/a", "--limit-rate", "fast"], "limit_rate"),
    ],
)
def test_usage_errors(
    data_dir: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(args)
    assert code in (ExitCode.USAGE, ExitCode.CONFIG)
    assert message in capsys.readouterr().err


def _ferry(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ferry.cli.main", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_proxy") and "PROXY" not in k}
    env.update(FERRY_DATA_DIR=str(data_dir), **extra)
    return env


_IMPORTS_OF_A_RUN = """
import runpy, sys
sys.argv = ["ferry", *sys.argv[1:]]
try:
    runpy.run_module("ferry.cli.main", run_name="__main__")
except SystemExit as exit:
    if exit.code:
        raise
print(" ".join(sorted(sys.modules)))
"""


def test_a_plain_download_does_not_import_what_it_does_not_use(
    server: LocalServer, tmp_path: Path
) -> None:
    # Start-up is a third of the time of 500 small files (bench/RESULTS.md): httpx (only
    # for HTTP/2) and rich's live progress (only on a terminal) must stay out of it.
    url = server.add("/i/x.bin", Route(body=_blob(9, 1000)))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTS_OF_A_RUN, "fetch", url, "-o", str(out)],
        env=_child_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "x.bin").read_bytes() == _blob(9, 1000)
    modules = set(proc.stdout.split())
    assert "aiohttp" in modules  # the list is real: the engine's client is in it
    assert not {"httpx", "rich.progress", "rich.live"} & modules


@pytest.mark.slow
def test_killed_mid_download_resumes_from_the_bytes_on_disk(
    server: LocalServer, tmp_path: Path
) -> None:
    size = 24 << 20
    source = tmp_path / "model.bin"
    source.write_bytes(_blob(5, size))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    url = server.add("/m/model.bin", Route(file=source, etag='"m1"', rate=6_000_000))
    out = tmp_path / "out"
    env = _child_env(tmp_path / "data", FERRY_SEGMENT_MIN_SIZE=str(2 << 20))
    args = ("fetch", url, "-o", str(out), "--sha256", digest, "-x", "4")

    first = _ferry(*args, env=env)
    control = out / "model.bin.ferry-part.json"
    deadline = time.monotonic() + 30
    kept = 0
    while kept < 6 << 20:
        assert time.monotonic() < deadline, "the first run made no progress"
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        time.sleep(0.05)
        if control.exists():
            try:
                kept = sum(p[2] for p in json.loads(control.read_text())["pieces"])
            except (ValueError, KeyError):
                continue
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (out / "model.bin").exists()  # never a half file under the final name
    sent_before = server.route(url).bytes_sent
    asked_before = len(server.seen(url))
    pieces = json.loads(control.read_text())["pieces"]
    on_disk = sum(p[2] for p in pieces)
    assert on_disk >= 6 << 20

    server.route(url).rate = None
    second = _ferry(*args, env=env)
    assert second.wait(timeout=60) == 0, second.stderr.read() if second.stderr else ""

    assert hashlib.sha256((out / "model.bin").read_bytes()).hexdigest() == digest
    assert not control.exists() and not (out / "model.bin.ferry-part").exists()
    # The second run asked only for what was missing (If-Range with the same validator).
    resumed = server.seen(url)[asked_before:]
    assert resumed and all(s.headers.get("If-Range") == '"m1"' for s in resumed)
    assert all(int(s.headers["Range"][6:].split("-")[0]) > 0 for s in resumed)
    sent_after = server.route(url).bytes_sent - sent_before
    # Beyond the missing bytes: a slice per piece, and per range split for an idle
    # connection what the server had in flight when the connection it was taken from
    # stopped (at most the socket buffers, a few MB on loopback).
    unfinished = sum(1 for start, end, done in pieces if start + done < end)
    splits = max(0, len(resumed) - unfinished)
    assert sent_after <= size - on_disk + (256 * 1024) * len(pieces) + splits * (4 << 20)


def _peak_rss_kib(args: list[str], env: dict[str, str]) -> int:
    """The child's high-water RSS (VmHWM), read from /proc while it runs.

    Not getrusage: a forked child's ru_maxrss starts from the parent's size (the pytest
    process) and survives exec, which would hide the child's own peak.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferry.cli.main", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    status = Path(f"/proc/{proc.pid}/status")
    peak = 0
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return peak


def _sparse(path: Path, size: int) -> str:
    with path.open("wb") as fh:
        fh.truncate(size)
    hasher = hashlib.sha256()
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        hasher.update(zeros)
    return hasher.hexdigest()


@pytest.mark.slow
def test_memory_stays_flat_for_a_2_gb_file(server: LocalServer, tmp_path: Path) -> None:
    # The smaller one is big enough for the allocator to reach its steady state (glibc
    # raises its mmap threshold as big chunks are freed, moving them onto the heap).
    sizes = {"small.bin": 512 << 20, "large.bin": 2 << 30}
    peaks: dict[str, int] = {}
    for name, size in sizes.items():
        digest = _sparse(tmp_path / name, size)
        url = server.add(f"/m/{name}", Route(file=tmp_path / name, etag=f'"{name}"'))
        out = tmp_path / "out"
        env = _child_env(tmp_path / "data")
        peaks[name] = _peak_rss_kib(["fetch", url, "-o", str(out), "--sha256", digest], env)
        assert (out / name).stat().st_size == size
        (out / name).unlink()
    print(f"peak RSS: {peaks}")
    # Four times the bytes, and the peak may not grow by more than noise.
    assert peaks["large.bin"] < peaks["small.bin"] + 24 * 1024, peaks


def test_fetch_with_the_aria2_backend(
    server: LocalServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _blob(6, 3_000_000)
    url = server.add("/dl/model.bin", Route(body=body, etag='"m"'))
    digest = hashlib.sha256(body).hexdigest()
    out = tmp_path / "out"

    code = main(["fetch", url, "-o", str(out), "--sha256", digest, "--backend", "aria2", "--json"])

    assert code == ExitCode.OK
    assert (out / "model.bin").read_bytes() == body
    [doc] = json.loads(capsys.readouterr().out)
    assert doc["status"] == "fetched" and doc["sha256"] == digest
    # aria2c made the request (it asks for metalinks and digests; Ferry's engine does not).
    assert "metalink" in server.seen(url)[0].headers.get("Accept", "")
    assert sorted(p.name for p in out.iterdir()) == ["model.bin"]
