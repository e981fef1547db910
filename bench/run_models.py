#!/usr/bin/env python3
"""A model onto a machine from Ferry: `ferry agent install` against huggingface_hub's
`snapshot_download`, both from the same `ferry serve`, over plain loopback and through a
proxy that paces every TCP connection.

One generated model (4 GB by default, the layout of a Hub checkpoint: two
``model-0000N-of-00002.safetensors`` shards of random bytes with valid safetensors
headers, their index, config.json, generation_config.json, tokenizer.json,
tokenizer_config.json, README.md) is published to ``ferry serve`` (embedded SQLite, a
fresh data directory, 127.0.0.1) with ``ferry models import``. Then, for each condition,
rounds of two downloads of it from nothing, the order rotated every round:

- ``hf``: ``snapshot_download(repo_id, revision=V)`` run by the huggingface_hub 2.x of
  ``.venv-hf2`` with ``HF_ENDPOINT`` at the server, ``HF_TOKEN`` a Ferry read token and a
  fresh empty ``HF_HOME``; everything else as a user has it (8 files at a time, one
  connection per file);
- ``ferry``: ``ferry agent install org/name --dir <fresh dir>`` with ``FERRY_URL`` and
  ``FERRY_TOKEN`` (the same read token), no settings file.

Conditions: ``plain`` (the server's own port) and ``paced`` (``bench/pace_proxy.py`` in
front of it, each connection's server-to-client bytes held to ``--rate`` MB/s; both
clients get the proxy's URL). After every download each file's sha256 and size are
checked against the generated ones (not timed), then the files are deleted. Prints the
medians, hf / Ferry (the speed-up; goal: at least 2x paced, at least 1x plain), each
run's numbers, the client's and the server's CPU seconds, and in the paced condition the
connections each client opened and the bytes that went through the proxy (all of them
must: a URL naming the server's own port would bypass it, and the probe before the rounds
looks for one in every answer the clients read).

    .venv/bin/python bench/run_models.py [--size-gb 4] [--rounds 3] [--paced-rounds 2]
        [--rate 50] [--agent-env FERRY_X=Y ...] [--hf-venv .venv-hf2]

Everything lives in one temporary directory, removed at the end (peak disk: about twice
the model: the server's store and one client's copy; the generated files are deleted once
published). The OS page cache cannot be dropped here: the server reads its blobs from
memory after the import, in every run alike. Exit status 1 when any download failed or
left wrong bytes. Logs, results.json and report.md go to bench/out/<UTC time>/.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

# bench/ is sys.path[0] when this file runs as a script: share run.py's helpers
from run import REPO, git_state, say, source_fingerprint, workspace

VENV = REPO / ".venv" / "bin"
PY = str(VENV / "python")
FERRY = str(VENV / "ferry")
PROXY = Path(__file__).resolve().parent / "pace_proxy.py"
MB = 1_000_000
GOALS = {"plain": 1.0, "paced": 2.0}
MODEL_ID = "bench/ckpt"
VERSION = "1.0"
_TICK = os.sysconf("SC_CLK_TCK")

HF_SCRIPT = """\
import json, sys, time
began = time.perf_counter()
from huggingface_hub import snapshot_download
imported = time.perf_counter()
path = snapshot_download(sys.argv[1], revision=sys.argv[2])
done = time.perf_counter()
print(json.dumps({"path": path, "import_s": imported - began, "download_s": done - imported}))
"""


# -- the model ------------------------------------------------------------------------------


@dataclass
class ModelFile:
    path: str
    size: int
    sha256: str


class KeyStream:
    """Incompressible bytes, fast: AES-256-CTR's keystream (cryptography, ~5 GB/s here),
    or shake_256 blocks (~0.4 GB/s) without it."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.counter = 0
        self._aes: Any = None
        try:
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

            key = hashlib.sha256(seed).digest()
            self._aes = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
        except ImportError:
            pass

    def take(self, n: int) -> bytes:
        if self._aes is not None:
            return bytes(self._aes.update(bytes(n)))
        self.counter += 1
        return hashlib.shake_256(self.seed + self.counter.to_bytes(8, "big")).digest(n)


def _safetensors_header(data_size: int, shard: int, layers: range) -> tuple[bytes, list[str]]:
    """A safetensors header for ``data_size`` bytes: bf16 4096x4096 matrices named as a
    decoder's layers, the rest one U8 tensor. Returns the header and the tensor names."""
    matrix = 4096 * 4096 * 2
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset, i = 0, 0
    names = []
    kinds = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
    while data_size - offset >= matrix:
        layer = layers.start + i // len(kinds)
        name = f"model.layers.{layer}.{kinds[i % len(kinds)]}.weight"
        header[name] = {
            "dtype": "BF16",
            "shape": [4096, 4096],
            "data_offsets": [offset, offset + matrix],
        }
        names.append(name)
        offset += matrix
        i += 1
    if data_size > offset:
        name = f"model.extra_{shard}.weight"
        header[name] = {
            "dtype": "U8",
            "shape": [data_size - offset],
            "data_offsets": [offset, data_size],
        }
        names.append(name)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text, names


def _tokenizer(stream: KeyStream) -> bytes:
    """A BPE tokenizer.json of a realistic size (~2 MB)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    raw = stream.take(64000 * 6)
    vocab = {}
    for i in range(64000):
        word = "".join(alphabet[b % 26] for b in raw[i * 6 : i * 6 + 2 + raw[i * 6] % 5])
        vocab[f"\u0120{word}{i}"] = i
    merges = [f"{w[1:3]} {w[3:]}" for w in list(vocab)[:40000]]
    doc = {
        "version": "1.0",
        "added_tokens": [],
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    }
    return json.dumps(doc, indent=1).encode()


def write_model(root: Path, total: int) -> list[ModelFile]:
    """The model's files under ``root``, about ``total`` bytes; their sizes and digests."""
    stream = KeyStream(b"ferry bench model")
    small: dict[str, bytes] = {
        "config.json": json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "hidden_size": 4096,
                "intermediate_size": 11008,
                "num_attention_heads": 32,
                "num_hidden_layers": 32,
                "num_key_value_heads": 32,
                "max_position_embeddings": 4096,
                "rms_norm_eps": 1e-05,
                "torch_dtype": "bfloat16",
                "vocab_size": 64000,
                "transformers_version": "4.46.0",
            },
            indent=2,
        ).encode(),
        "generation_config.json": json.dumps(
            {"bos_token_id": 1, "eos_token_id": 2, "do_sample": True, "temperature": 0.6},
            indent=2,
        ).encode(),
        "tokenizer.json": _tokenizer(stream),
        "tokenizer_config.json": json.dumps(
            {"bos_token": "<s>", "eos_token": "</s>", "model_max_length": 4096}, indent=2
        ).encode(),
        "README.md": b"---\nlicense: apache-2.0\npipeline_tag: text-generation\n---\n\n"
        b"# ckpt\n\nA generated checkpoint for bench/run_models.py: random weights.\n",
    }
    shard_size = max(1 << 20, (total - sum(len(v) for v in small.values())) // 2)
    files: list[ModelFile] = []
    weight_map: dict[str, str] = {}
    for shard in (1, 2):
        name = f"model-0000{shard}-of-00002.safetensors"
        # the header's size depends on the tensors it lists: a few passes settle it
        layers = range((shard - 1) * 64, shard * 64)
        data_size = shard_size
        for _ in range(5):
            header, names = _safetensors_header(data_size, shard, layers)
            if len(header) + data_size == shard_size:
                break
            data_size = shard_size - len(header)
        weight_map.update(dict.fromkeys(names, name))
        digest = hashlib.sha256(header)
        with (root / name).open("wb") as fh:
            fh.write(header)
            left = data_size
            while left:
                block = stream.take(min(left, 8 << 20))
                fh.write(block)
                digest.update(block)
                left -= len(block)
            size = fh.tell()
        files.append(ModelFile(name, size, digest.hexdigest()))
    index = {
        "metadata": {"total_size": sum(f.size for f in files)},
        "weight_map": dict(sorted(weight_map.items())),
    }
    small["model.safetensors.index.json"] = json.dumps(index, indent=2).encode()
    for name, data in small.items():
        (root / name).write_bytes(data)
        files.append(ModelFile(name, len(data), hashlib.sha256(data).hexdigest()))
    return sorted(files, key=lambda f: f.path)


def check_files(folder: Path, files: list[ModelFile]) -> str | None:
    """None when ``folder`` holds exactly ``files`` (following symlinks), else what is
    wrong."""
    found = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink()) and not p.name.startswith(".")
    }
    wanted = {f.path for f in files}
    if found != wanted:
        return f"files differ: missing {sorted(wanted - found)}, extra {sorted(found - wanted)}"
    for f in files:
        path = folder / f.path
        size = path.stat().st_size
        if size != f.size:
            return f"{f.path}: {size} bytes, not {f.size}"
        with path.open("rb") as fh:
            if hashlib.file_digest(fh, "sha256").hexdigest() != f.sha256:
                return f"{f.path}: wrong sha256"
    return None


# -- processes ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This process's environment without Ferry's, the Hub's or any proxy's variables."""
    drop = ("FERRY_", "HF_", "HUGGINGFACE_")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(drop) and "proxy" not in k.lower()
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"
    return env


@dataclass
class Ferry:
    base: str
    pid: int
    port: int
    admin: str
    reader: str
    data: Path


@contextlib.contextmanager
def ferry_serve(work: Path, config: Path, logs: Path) -> Iterator[Ferry]:
    """``ferry serve`` on a free port with a fresh data directory; its admin token (the one
    the first start writes) and a read token made with it."""
    data = work / "ferry-data"
    port = free_port()
    env = {**clean_env(), "FERRY_CONFIG": str(config), "FERRY_USE_MACHINE_CONFIG": "false"}
    argv = [FERRY, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)]
    with (logs / "ferry-serve.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ferry serve exited {proc.returncode}: see its log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("ferry serve did not answer in 120 s")
            time.sleep(0.1)
        admin = (data / "admin-token").read_text().strip()
        made = httpx.post(
            f"{base}/api/tokens",
            json={"name": "bench-read", "role": "read", "owner": "bench"},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
            trust_env=False,
        )
        made.raise_for_status()
        yield Ferry(base, proc.pid, port, admin, made.json()["token"], data)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # the resolver sandbox the server made for its data directory (settings.py,
        # effective_sandbox_dir: a directory in /tmp the server leaves behind)
        key = hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:12]
        shutil.rmtree(Path(tempfile.gettempdir()) / f"ferry-sandbox-{key}", ignore_errors=True)


@dataclass
class Proxy:
    base: str
    pid: int
    log: Path
    rate: float

    def position(self) -> int:
        return self.log.stat().st_size

    def connections_since(self, offset: int, wait: float = 10.0) -> tuple[int, int, int]:
        """(connections opened, of them closed, bytes down) in the log after ``offset``,
        once every connection opened there has closed (or ``wait`` s passed)."""
        deadline = time.monotonic() + wait
        while True:
            with self.log.open("rb") as fh:
                fh.seek(offset)
                lines = fh.read().decode().splitlines()
            opened = {ln.split()[1] for ln in lines if ln.startswith("open ")}
            closed = {ln.split()[1]: int(ln.split()[3]) for ln in lines if ln.startswith("conn ")}
            if opened <= closed.keys() or time.monotonic() > deadline:
                down = sum(n for c, n in closed.items() if c in opened)
                return len(opened), len(opened & closed.keys()), down
            time.sleep(0.1)


@contextlib.contextmanager
def pace_proxy(upstream_port: int, rate: float, logs: Path) -> Iterator[Proxy]:
    log = logs / "pace-proxy.log"
    argv = [PY, str(PROXY), "--upstream", f"127.0.0.1:{upstream_port}", "--rate", str(rate)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=clean_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"listening (\S+)", log.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the pacing proxy did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Proxy(f"http://{found[1]}", proc.pid, log, rate)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Timed:
    returncode: int
    seconds: float
    client_cpu: float
    cpu: dict[str, float]  # other processes' CPU seconds during the run, by name
    stdout: str


def timed(
    argv: list[str],
    env: dict[str, str],
    log: Path,
    watch: dict[str, int],
    timeout: float,
) -> Timed:
    """Run ``argv`` once (its output to ``log``.*): wall clock, its CPU (all its threads
    and waited-for children), and the CPU of the processes in ``watch`` meanwhile."""
    log.with_suffix(".cmd").write_text(shlex.join(argv) + "\n")
    with log.with_suffix(".stdout").open("wb") as out, log.with_suffix(".stderr").open("wb") as err:
        before = {name: cpu_seconds(pid) for name, pid in watch.items()}
        began = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = began + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - began
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in watch.items()}
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Timed(
        proc.returncode,
        seconds,
        usage.ru_utime + usage.ru_stime,
        cpu,
        log.with_suffix(".stdout").read_text(errors="replace"),
    )


# -- the runs -------------------------------------------------------------------------------


@dataclass
class Run:
    condition: str  # plain | paced
    round: int
    client: str  # hf | ferry
    position: int  # 1: ran first in its round
    ok: bool
    seconds: float
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    proxy_cpu: float | None = None
    connections: int | None = None  # through the proxy
    proxied_bytes: int | None = None
    sync_after: float = 0.0  # the sync right after it: what it left unwritten
    hf_download_s: float | None = None  # snapshot_download's own time (no import)
    check_s: float = 0.0  # the bench's sha256 of every file afterwards (not in seconds)
    load: float = 0.0
    error: str = ""


@dataclass
class Bench:
    work: Path
    logs: Path
    config: Path
    files: list[ModelFile]
    ferry: Ferry
    hf_python: str
    agent_env: dict[str, str]
    timeout: float
    runs: list[Run] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def one(self, client: str, condition: str, rnd: int, position: int, proxy: Proxy | None) -> Run:
        base = proxy.base if proxy else self.ferry.base
        here = self.work / f"{client}-{condition}-{rnd}"
        here.mkdir()
        env = clean_env()
        if client == "hf":
            env.update(
                HF_ENDPOINT=base,
                HF_TOKEN=self.ferry.reader,
                HF_HOME=str(here / "hf-home"),
                HF_HUB_DISABLE_TELEMETRY="1",
            )
            argv = [self.hf_python, "-c", HF_SCRIPT, MODEL_ID, VERSION]
        else:
            env.update(
                FERRY_URL=base,
                FERRY_TOKEN=self.ferry.reader,
                FERRY_CONFIG=str(self.config),
                FERRY_USE_MACHINE_CONFIG="false",
                **self.agent_env,
            )
            argv = [FERRY, "agent", "install", MODEL_ID, "--dir", str(here / "agent")]
        watch = {"server": self.ferry.pid}
        if proxy:
            watch["proxy"] = proxy.pid
        os.sync()  # nobody pays for the write-back of the run before
        load = os.getloadavg()[0]
        offset = proxy.position() if proxy else 0
        say(f"{condition} round {rnd + 1}: {client} ...")
        result = timed(argv, env, self.logs / here.name, watch, self.timeout)
        began = time.perf_counter()
        os.sync()
        sync_after = time.perf_counter() - began
        run = Run(
            condition,
            rnd,
            client,
            position,
            ok=False,
            seconds=result.seconds,
            client_cpu=result.client_cpu,
            server_cpu=result.cpu["server"],
            proxy_cpu=result.cpu.get("proxy"),
            sync_after=sync_after,
            load=load,
        )
        if proxy:
            opened, _, down = proxy.connections_since(offset)
            run.connections, run.proxied_bytes = opened, down
        problem = None
        folder: Path | None = None
        if result.returncode != 0:
            tail = (self.logs / f"{here.name}.stderr").read_text(errors="replace")[-600:]
            problem = f"exit {result.returncode}: {tail.strip()}"
        elif client == "hf":
            try:
                doc = json.loads(result.stdout.strip().splitlines()[-1])
                folder = Path(doc["path"])
                run.hf_download_s = doc["download_s"]
            except (ValueError, KeyError, IndexError):
                problem = f"no snapshot path printed: {result.stdout[-300:]}"
        else:
            found = re.search(r"ready at (.+)$", result.stdout.strip())
            folder = Path(found[1].strip()) if found else None
            if folder is None:
                problem = f"not ready: {result.stdout[-300:]}"
        if folder is not None:
            began = time.perf_counter()
            problem = check_files(folder, self.files)
            run.check_s = time.perf_counter() - began
        if problem is None and proxy and (run.proxied_bytes or 0) < self.size:
            problem = (
                f"only {run.proxied_bytes} of {self.size} bytes went through the proxy: "
                "part of the download bypassed it"
            )
        run.ok = problem is None
        run.error = problem or ""
        say(
            f"  {result.seconds:.2f} s, {self.size / MB / result.seconds:.0f} MB/s, "
            f"client cpu {result.client_cpu:.1f} s, server cpu {run.server_cpu:.1f} s"
            + (f", {run.connections} connections" if proxy else "")
            + ("" if run.ok else f"  FAILED: {problem}")
        )
        shutil.rmtree(here)
        self.runs.append(run)
        return run


def probe_urls(ferry: Ferry, proxy: Proxy, files: list[ModelFile]) -> list[str]:
    """Everything the clients read through the proxy, asked once: any redirect, or any
    answer that names the server's own port (a client would follow it past the proxy)."""
    headers = {"Authorization": f"Bearer {ferry.reader}"}
    own = re.compile(rf"(127\.0\.0\.1|localhost):{ferry.port}\b")
    found = []
    asks = [
        ("GET", f"/api/models/{MODEL_ID}"),
        ("GET", f"/api/models/{MODEL_ID}/revision/{VERSION}"),
        ("GET", f"/api/models/{MODEL_ID}/revision/main"),
        ("GET", f"/api/models/{MODEL_ID}/tree/{VERSION}?recursive=true"),
    ]
    for f in files:
        asks.append(("HEAD", f"/{MODEL_ID}/resolve/{VERSION}/{f.path}"))
        asks.append(("HEAD", f"/storage/models/{MODEL_ID}/{VERSION}/{f.path}"))
    with httpx.Client(base_url=proxy.base, headers=headers, trust_env=False, timeout=30) as c:
        for method, path in asks:
            answer = c.request(method, path, follow_redirects=False)
            if answer.status_code >= 300:
                found.append(f"{method} {path}: HTTP {answer.status_code}")
            text = "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
            if method == "GET":
                text += "\n" + answer.text
            for hit in own.finditer(text):
                found.append(f"{method} {path}: names the server's port ({hit[0]})")
    return found


# -- the report -----------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _f(value: float | None, fmt: str = ".2f") -> str:
    return "" if value is None else format(value, fmt)


def summary(bench: Bench, conditions: list[tuple[str, str]]) -> str:
    rows = [
        "| condition | hf median s | Ferry median s | hf / Ferry | same round | goal | hf MB/s"
        " | Ferry MB/s | client CPU s hf / Ferry | server CPU s hf / Ferry"
        " | connections hf / Ferry | ok |",
        "|---|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for condition, label in conditions:
        mine = [r for r in bench.runs if r.condition == condition]
        if not mine:
            continue
        good = {c: [r for r in mine if r.client == c and r.ok] for c in ("hf", "ferry")}
        hf = _median([r.seconds for r in good["hf"]])
        fy = _median([r.seconds for r in good["ferry"]])
        ratio = hf / fy if hf and fy else None
        by_round = {
            rnd: {r.client: r.seconds for r in mine if r.round == rnd and r.ok}
            for rnd in sorted({r.round for r in mine})
        }
        same = ", ".join(
            f"{d['hf'] / d['ferry']:.2f}" for d in by_round.values() if {"hf", "ferry"} <= d.keys()
        )
        goal = GOALS[condition]
        met = "" if ratio is None else ("yes" if ratio >= goal else "**no**")

        def med(client: str, attr: str, good: dict[str, list[Run]] = good) -> str:
            return _f(_median([getattr(r, attr) for r in good[client]]))

        conns = ""
        if condition == "paced":
            conns = (
                f"{_f(_median([r.connections or 0 for r in good['hf']]), '.0f')} / "
                f"{_f(_median([r.connections or 0 for r in good['ferry']]), '.0f')}"
            )
        rows.append(
            f"| {label} | {_f(hf)} | {_f(fy)} | {_f(ratio)}× | {same} | ≥{goal:g}×: {met}"
            f" | {_f(bench.size / MB / hf if hf else None, '.0f')}"
            f" | {_f(bench.size / MB / fy if fy else None, '.0f')}"
            f" | {med('hf', 'client_cpu')} / {med('ferry', 'client_cpu')}"
            f" | {med('hf', 'server_cpu')} / {med('ferry', 'server_cpu')}"
            f" | {conns} | {sum(r.ok for r in mine)}/{len(mine)} |"
        )
        # like for like: hf's files hashed afterwards, as Ferry hashes while they arrive
        checked = {r.round: r.seconds + r.check_s for r in good["hf"]}
        ref = _median(list(checked.values()))
        if ref and fy:
            same = ", ".join(
                f"{checked[r.round] / r.seconds:.2f}" for r in good["ferry"] if r.round in checked
            )
            rows.append(
                f"| {label}: reference, hf then sha256 of its files | {ref:.2f} | {fy:.2f}"
                f" | {ref / fy:.2f}× | {same} | | {bench.size / MB / ref:.0f} | | | | | |"
            )
    return "\n".join(rows)


def per_run(bench: Bench) -> str:
    rows = [
        "| condition | round | client | order | s | MB/s | client CPU s | server CPU s"
        " | proxy CPU s | connections | MB via proxy | sync after s | check s | load | verified |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in bench.runs:
        via = "" if r.proxied_bytes is None else f"{r.proxied_bytes / MB:,.0f}"
        rows.append(
            f"| {r.condition} | {r.round + 1} | {r.client} | {r.position} | {r.seconds:.2f}"
            f" | {bench.size / MB / r.seconds:.0f} | {r.client_cpu:.2f} | {r.server_cpu:.2f}"
            f" | {_f(r.proxy_cpu)} | {'' if r.connections is None else r.connections} | {via}"
            f" | {r.sync_after:.2f} | {r.check_s:.2f} | {r.load:.1f}"
            f" | {'yes' if r.ok else 'NO: ' + r.error[:120]} |"
        )
    return "\n".join(rows)


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=4.0, help="the model's size (4)")
    parser.add_argument("--rounds", type=int, default=3, help="plain loopback rounds (3)")
    parser.add_argument("--paced-rounds", type=int, default=2, help="rounds through the proxy (2)")
    parser.add_argument(
        "--rate", type=float, default=50.0, help="MB/s per connection through the proxy (50)"
    )
    parser.add_argument(
        "--agent-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="for `ferry agent install`, e.g. FERRY_SEGMENTS=16 (to try a setting)",
    )
    parser.add_argument("--hf-venv", default=str(REPO / ".venv-hf2"), help="huggingface_hub's venv")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per download")
    args = parser.parse_args()
    total = int(args.size_gb * 1000**3)
    agent_env = dict(item.split("=", 1) for item in args.agent_env)
    hf_python = str(Path(args.hf_venv) / "bin" / "python")
    if not Path(hf_python).is_file():
        print(f"{hf_python} is missing: scripts/install.sh --dev makes it")
        return 1

    # As an installed Ferry starts: its bytecode compiled at install time.
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "src")], check=True)
    hf_version = _output([hf_python, "-c", "import huggingface_hub as h; print(h.__version__)"])
    header = [
        f"# bench/run_models.py {' '.join(sys.argv[1:])}",
        "",
        f"- date_utc: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"- host: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        f"- load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- ferry: {_output([FERRY, '--version'])} (git {git_state()}; src sha256"
        f" {source_fingerprint()})",
        f"- huggingface_hub: {hf_version} ({Path(args.hf_venv).name})",
    ]
    if agent_env:
        header.append(f"- ferry agent with: {' '.join(args.agent_env)}")
    logs, work, config = workspace("ferry-bench-models-")
    failed = True
    try:
        source = work / "model"
        source.mkdir()
        say(f"writing a {total / 1000**3:g} GB model ...")
        began = time.perf_counter()
        files = write_model(source, total)
        size = sum(f.size for f in files)
        made = time.perf_counter() - began
        shards = [f for f in files if f.path.endswith(".safetensors")]
        header.append(
            f"- model: {len(files)} files, {size / MB:,.0f} MB ({len(shards)} shards of"
            f" {shards[0].size / MB:,.0f} MB, random bytes; {len(files) - len(shards)} small"
            f" files of {sum(f.size for f in files if f not in shards) / MB:.1f} MB), written"
            f" in {made:.1f} s"
        )
        with ferry_serve(work, config, logs) as ferry:
            env = clean_env()
            env.update(
                FERRY_URL=ferry.base,
                FERRY_TOKEN=ferry.admin,
                FERRY_CONFIG=str(config),
                FERRY_USE_MACHINE_CONFIG="false",
            )
            say("publishing it with ferry models import ...")
            argv = [FERRY, "models", "import", str(source), "--id", MODEL_ID]
            argv += ["--version", VERSION, "--json"]
            result = timed(argv, env, logs / "import", {"server": ferry.pid}, args.timeout)
            if result.returncode != 0:
                raise RuntimeError(f"ferry models import failed: see {logs / 'import.stderr'}")
            header.append(
                f"- published with `ferry models import` in {result.seconds:.1f} s"
                f" ({result.client_cpu:.1f} s client CPU, {result.cpu['server']:.1f} s server CPU)"
            )
            shutil.rmtree(source)  # the digests are known: the disk holds one copy less
            bench = Bench(work, logs, config, files, ferry, hf_python, agent_env, args.timeout)
            counter = 0
            conditions: list[tuple[str, str]] = []
            if args.rounds:
                conditions.append(("plain", "plain loopback"))
                for rnd in range(args.rounds):
                    order = ("hf", "ferry") if counter % 2 == 0 else ("ferry", "hf")
                    counter += 1
                    for position, client in enumerate(order, 1):
                        bench.one(client, "plain", rnd, position, None)
            probe: list[str] = []
            if args.paced_rounds:
                with pace_proxy(ferry.port, args.rate, logs) as proxy:
                    conditions.append(("paced", f"paced, {args.rate:g} MB/s per connection"))
                    probe = probe_urls(ferry, proxy, files)
                    for rnd in range(args.paced_rounds):
                        order = ("hf", "ferry") if counter % 2 == 0 else ("ferry", "hf")
                        counter += 1
                        for position, client in enumerate(order, 1):
                            bench.one(client, "paced", rnd, position, proxy)
        header.append(f"- load at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        failed = not all(r.ok for r in bench.runs)
        notes = [
            "",
            "hf / Ferry: hf's median over Ferry's (the speed-up); same round: each round's"
            " ratio. Times are the client command's wall clock from start to exit (its"
            " interpreter start and imports included); CPU: the client process's own (all"
            " threads), the server's and the proxy's during the run. sync after: an `os.sync()`"
            " right after the run (hf does not fsync what it writes; Ferry fsyncs each file"
            " before naming it, inside its time). Every run starts from nothing (fresh"
            " HF_HOME / --dir) and is checked file by file (sha256, size) afterwards, not"
            " timed (check s: one thread, from the page cache). huggingface_hub does not check"
            " what it downloads; Ferry checks every byte's sha256 as it arrives: the reference"
            " row adds the check's time to hf's, the work a user who wants checked files does"
            " after snapshot_download.",
        ]
        if args.paced_rounds:
            notes.append(
                "\nURLs through the proxy: "
                + (
                    "no redirect, no answer naming the server's own port"
                    if not probe
                    else "; ".join(probe)
                )
                + "; every paced run's bytes all went through it (the MB via proxy column)."
            )
        report = "\n".join(
            [
                *header,
                "",
                summary(bench, conditions),
                "",
                "Every run:",
                "",
                per_run(bench),
                *notes,
                "",
            ]
        )
        print(report)
        (logs / "report.md").write_text(report)
        raw = {
            "args": vars(args),
            "files": [asdict(f) for f in files],
            "probe": probe,
            "runs": [asdict(r) for r in bench.runs],
        }
        (logs / "results.json").write_text(json.dumps(raw, indent=2) + "\n")
        say(f"report and logs in {logs.relative_to(REPO)}")
        for r in bench.runs:
            if not r.ok:
                say(f"FAILED: {r.condition} round {r.round + 1} {r.client}: {r.error}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
