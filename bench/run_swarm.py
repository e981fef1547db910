#!/usr/bin/env python3
"""Issue 19's benchmark: one model onto 20 nodes at once, through the swarm (`ferry agent
install --p2p`) and over plain HTTP, on a small network of network namespaces.

Run as root (it makes network namespaces): ``.venv/bin/python bench/run_swarm.py``.

The network lives on this machine and touches none of its interfaces: a namespace
``fswarm-sw`` holds a Linux bridge (no address); the origin (``fswarm-origin``, 10.77.0.1)
and every peer (``fswarm-p01``..., 10.77.0.11 on) each get a namespace of their own and a
veth pair to the bridge, both ends created inside the namespaces (the host's own namespace
never sees an interface). Every link is capped both ways with ``tc`` (a tbf qdisc on each end
of each veth: the node's upload and its download), ``--rate-mbit`` each.

The origin is ``ferry serve --host 0.0.0.0`` in its namespace (embedded SQLite, a fresh
data directory, an empty settings file; ``--origin-env FERRY_X=Y`` for settings). A
generated model (``weights.bin``, ``--size-mb`` of random bytes, and a small config.json)
is published to it with ``ferry models import``, one version per run named after it
(``bench/swarm@swarm``, ``@http``, ``@churn``), each with bytes of its own: a fresh
torrent and swarm per run, as the tracker keeps a swarm's peers for 15 minutes. Each
torrent is made (one ``GET /api/v1/torrents``) before anything is timed; a read token is
made for the peers. Then three runs, each from nothing (fresh peer directories, deleted
after the run):

- ``swarm``: in every peer's namespace, at (nearly) the same moment, ``ferry agent install
  bench/swarm@swarm --dir DIR --p2p --listen 0.0.0.0:6881`` with ``FERRY_URL`` at the origin and
  ``FERRY_TOKEN`` the read token; a peer whose install exits 0 goes straight on to ``ferry
  agent seed --dir DIR --listen 0.0.0.0:6881`` until every peer is done, then ``ferry agent
  stop --dir DIR`` (SIGTERM after 20 s, SIGKILL after 10 more);
- ``http``: the same without ``--p2p`` (plain HTTP from the origin, no seeding);
- ``churn``: ``swarm`` again, and once the median peer holds ``--kill-at`` (40 %) of the
  model, ``--kill`` peers (5, spread over the list) have their agent SIGKILLed; the others
  must finish.

Measured per run: each peer's completion time (its install's exit, from the common start),
p50 / p99 / max over the peers that finished (Kraken's format; p99 interpolated), the total
(the last peer's), and the bytes the origin sent: its veth's tx_bytes (``ip -s link``)
before and after, in copies of the model (frames, so Ethernet/IP/TCP headers count: ~4 %;
the goal for the swarm is at most 1.2). After each run (not timed) every file of every
peer that finished is checked (sha256, size) against the generated ones. Prints the table
and the ratio HTTP total / swarm total; report.md, results.json and every process's log go
to bench/out/<UTC time>/.

Defaults: 20 peers, 100 Mbit/s per link (the issue's rate), a 150 MB model. The issue's
2 GB would keep the HTTP baseline alone at 20 × 2 GB / 12.5 MB/s = 53 min; at 150 MB its
floor is 20 × 150 MB / 12.5 MB/s = 240 s, and the three runs with set-up and checks take
~8 min on this 2-core machine. 1 Gbit/s links were tried and not chosen: 20 nodes sharing
2 CPUs cannot fill them (the swarm moved ~190 MB/s in all there, CPU-bound, and a 100 MB
model took 19.6 s through the swarm against 22.2 s over HTTP), so the bench would measure
the CPUs, not the network; at 100 Mbit/s the links are what is scarce, as in the issue.
Peak disk: the origin's three versions and 20 peers' copies, ~3.5 GB at the defaults.

An install that has all its bytes on disk and has not exited ``--hang-after`` seconds
later (60) is looked at (its threads' kernel wait channels, a gdb backtrace, to
``<peer>.hung.txt``), SIGKILLed and counted as failed, so one stuck peer does not hold the
run until ``--timeout``.

Leftovers of a crashed run (namespaces named ``fswarm-*``, the processes in them, scratch
directories whose bench process is gone) are removed at the start; the namespaces and the
scratch directory are always removed at the end, also on an error, Ctrl-C, SIGTERM or
SIGHUP.

    .venv/bin/python bench/run_swarm.py [--peers 20] [--rate-mbit 100] [--size-mb 150]
        [--kill 5] [--kill-at 0.4] [--timeout 600] [--hang-after 60]
        [--only swarm,http,churn]
        [--origin-env FERRY_X=Y ...]

Exit status 1 when a peer that should have finished did not, or holds wrong bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# bench/ is sys.path[0] when this file runs as a script: share the other benches' helpers
from run import REPO, git_state, say, source_fingerprint, workspace
from run_models import KeyStream, ModelFile, check_files, clean_env, cpu_seconds

VENV = REPO / ".venv" / "bin"
PY = str(VENV / "python")
FERRY = str(VENV / "ferry")
MB = 1_000_000

PREFIX = "fswarm-"  # every namespace this bench makes; leftovers are swept by it
SWITCH = f"{PREFIX}sw"
ORIGIN = f"{PREFIX}origin"
SUBNET = "10.77.0"
ORIGIN_IP = f"{SUBNET}.1"
PORT = 8000
LISTEN = "0.0.0.0:6881"
WORK_PREFIX = "ferry-bench-swarm-"
OWNER_FILE = "bench-pid"

MODEL_ID = "bench/swarm"
BIG = "weights.bin"

# run inside the origin's namespace: the bench itself stays in the host's
HELPER = """\
import json, sys, time
import httpx

base, what = sys.argv[1], sys.argv[2]
if what == "wait":
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/health", timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            sys.exit("ferry serve did not answer in 120 s")
        time.sleep(0.1)
elif what == "token":
    made = httpx.post(
        base + "/api/tokens",
        json={"name": "bench-swarm-read", "role": "read", "owner": "bench"},
        headers={"Authorization": "Bearer " + sys.argv[3]},
        timeout=30,
        trust_env=False,
    )
    made.raise_for_status()
    print(made.json()["token"])
elif what == "torrents":
    began = time.monotonic()
    listed = httpx.get(
        base + "/api/v1/torrents",
        params={"repo_id": sys.argv[4], "commit_hash": sys.argv[5]},
        headers={"Authorization": "Bearer " + sys.argv[3]},
        timeout=600,
        trust_env=False,
    )
    listed.raise_for_status()
    doc = listed.json()
    doc["seconds"] = time.monotonic() - began
    print(json.dumps(doc))
"""


# -- commands -------------------------------------------------------------------------------


def sh(*argv: str, check: bool = True) -> str:
    """Run a command (ip, tc, sysctl); its stdout. A failure raises with its stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def in_ns(ns: str, *argv: str) -> list[str]:
    # `ip netns exec` execs the command: the child's pid is the command's own
    return ["ip", "netns", "exec", ns, *argv]


PROCS: list[subprocess.Popen[bytes]] = []  # every process started, ended at the end


def spawn(argv: list[str], env: dict[str, str], out: Path, err: Path | None = None) -> Any:
    """Start ``argv`` (stdout to ``out``, stderr to ``err`` or ``out`` too), kept in PROCS."""
    with contextlib.ExitStack() as files:
        fo = files.enter_context(out.open("wb"))
        fe: Any = files.enter_context(err.open("wb")) if err else subprocess.STDOUT
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fo,
            stderr=fe,
            start_new_session=True,  # a Ctrl-C reaches the bench, which ends them in order
        )
    PROCS.append(proc)
    return proc


def end(proc: subprocess.Popen[bytes], wait: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the network ----------------------------------------------------------------------------


def our_namespaces() -> list[str]:
    names = [line.split()[0] for line in sh("ip", "netns", "list").splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIX)]


def remove_namespaces() -> list[str]:
    """Kill what runs in this bench's namespaces (only its own processes run there), then
    delete them (their veths and the bridge go with them); the names removed."""
    names = our_namespaces()
    for ns in names:
        for pid in sh("ip", "netns", "pids", ns, check=False).split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    for ns in names:
        deadline = time.monotonic() + 10
        while sh("ip", "netns", "pids", ns, check=False).split():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        sh("ip", "netns", "del", ns, check=False)
    return names


def sweep_leftovers() -> None:
    """What a crashed run left: namespaces (and their processes), scratch directories whose
    bench process is gone."""
    gone = remove_namespaces()
    if gone:
        say(f"removed {len(gone)} namespaces an earlier run left: {', '.join(gone[:4])} ...")
    for old in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        try:
            pid = int((old / OWNER_FILE).read_text())
            os.kill(pid, 0)
            continue  # a bench still running
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass
        say(f"removing {old}, left by an earlier run")
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class Net:
    peers: int
    rate_mbit: float

    def peer_ns(self, i: int) -> str:
        return f"{PREFIX}p{i + 1:02d}"

    def peer_ip(self, i: int) -> str:
        return f"{SUBNET}.{11 + i}"

    def tbf(self, ns: str, dev: str) -> None:
        rate = self.rate_mbit * 1e6 / 8  # bytes per second
        # a burst of 4 ms of the rate, never under 256 KB (a GSO packet on a veth is 64 KB:
        # smaller buckets split them, and tbf then costs CPU instead of shaping)
        burst = max(int(rate * 0.004), 256 * 1024)
        sh(
            "tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf",
            "rate", f"{self.rate_mbit:g}mbit", "burst", str(burst), "latency", "50ms",
        )  # fmt: skip

    def node(self, ns: str, ip: str, port_name: str) -> None:
        sh("ip", "netns", "add", ns)
        sh(
            "ip", "link", "add", port_name, "netns", SWITCH, "type", "veth",
            "peer", "name", "eth0", "netns", ns,
        )  # fmt: skip
        sh("ip", "-n", SWITCH, "link", "set", port_name, "master", "br0")
        sh("ip", "-n", SWITCH, "link", "set", port_name, "up")
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.tbf(ns, "eth0")  # what the node sends
        self.tbf(SWITCH, port_name)  # what it receives

    def up(self) -> None:
        sh("ip", "netns", "add", SWITCH)
        sh("ip", "netns", "exec", SWITCH, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", SWITCH, "link", "set", "br0", "up")
        self.node(ORIGIN, ORIGIN_IP, "sw-origin")
        for i in range(self.peers):
            self.node(self.peer_ns(i), self.peer_ip(i), f"sw-p{i + 1:02d}")
        # every peer reaches the origin, and the last one the first
        for ns, ip in (
            (self.peer_ns(0), ORIGIN_IP),
            (self.peer_ns(self.peers - 1), self.peer_ip(0)),
        ):
            probe = "import socket; socket.create_connection((%r, 9), 2)" % ip  # noqa: UP031
            done = subprocess.run(in_ns(ns, PY, "-c", probe), capture_output=True, text=True)
            if "refused" not in done.stderr.lower():  # no listener there: refused, not lost
                raise RuntimeError(f"{ns} cannot reach {ip}: {done.stderr.strip()[-300:]}")


def tx_bytes(ns: str, dev: str = "eth0") -> int:
    doc = json.loads(sh("ip", "-n", ns, "-j", "-s", "link", "show", "dev", dev))
    return int(doc[0]["stats64"]["tx"]["bytes"])


def rx_bytes(ns: str, dev: str = "eth0") -> int:
    doc = json.loads(sh("ip", "-n", ns, "-j", "-s", "link", "show", "dev", dev))
    return int(doc[0]["stats64"]["rx"]["bytes"])


# -- the model and the origin ---------------------------------------------------------------


def write_model(root: Path, size: int, seed: str) -> list[ModelFile]:
    """``BIG`` (``size`` random bytes, other ones for every ``seed``) and a config.json."""
    stream = KeyStream(f"ferry bench swarm {seed}".encode())
    digest = hashlib.sha256()
    with (root / BIG).open("wb") as fh:
        left = size
        while left:
            block = stream.take(min(left, 8 << 20))
            fh.write(block)
            digest.update(block)
            left -= len(block)
    config = json.dumps(
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096},
        indent=2,
    ).encode()
    (root / "config.json").write_bytes(config)
    return [
        ModelFile("config.json", len(config), hashlib.sha256(config).hexdigest()),
        ModelFile(BIG, size, digest.hexdigest()),
    ]


@dataclass
class Origin:
    proc: Any
    admin: str
    reader: str
    data: Path

    @property
    def url(self) -> str:
        return f"http://{ORIGIN_IP}:{PORT}"


def helper(*args: str) -> str:
    done = subprocess.run(
        in_ns(ORIGIN, PY, "-c", HELPER, f"http://127.0.0.1:{PORT}", *args),
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"helper {args[0]}: {done.stderr.strip()[-1000:]}")
    return done.stdout.strip()


def start_origin(work: Path, config: Path, logs: Path, extra: dict[str, str]) -> Origin:
    data = work / "origin-data"
    env = {
        **clean_env(),
        "FERRY_CONFIG": str(config),
        "FERRY_USE_MACHINE_CONFIG": "false",
        **extra,
    }
    argv = in_ns(ORIGIN, FERRY, "serve", "--host", "0.0.0.0", "--port", str(PORT))
    proc = spawn([*argv, "--data-dir", str(data)], env, logs / "origin.log")
    helper("wait")
    if proc.poll() is not None:
        raise RuntimeError(f"ferry serve exited {proc.returncode}: see {logs / 'origin.log'}")
    admin = (data / "admin-token").read_text().strip()
    return Origin(proc, admin, helper("token", admin), data)


def ferry_env(config: Path, origin: Origin, token: str) -> dict[str, str]:
    return {
        **clean_env(),
        "FERRY_CONFIG": str(config),
        "FERRY_USE_MACHINE_CONFIG": "false",
        "FERRY_URL": origin.url,
        "FERRY_TOKEN": token,
    }


@dataclass
class Published:
    files: list[ModelFile]
    import_s: float
    torrent: dict[str, Any]


def publish_all(
    origin: Origin, conditions: list[str], size: int, work: Path, config: Path, logs: Path
) -> dict[str, Published]:
    """A version of the model per run, named after it, each with bytes of its own: the
    tracker keeps a swarm's peers for three announce intervals (15 min), and a run after
    another would otherwise find the last run's peers listed (at the very addresses its own
    peers listen on) and skip the part where peers find each other."""
    env = ferry_env(config, origin, origin.admin)
    env["FERRY_URL"] = f"http://127.0.0.1:{PORT}"  # inside the origin: not on its link
    made: dict[str, Published] = {}
    for condition in conditions:
        source = work / "model"
        source.mkdir()
        say(f"publishing {MODEL_ID}@{condition} ({size / MB:g} MB) with ferry models import ...")
        files = write_model(source, size, condition)
        began = time.monotonic()
        argv = in_ns(ORIGIN, FERRY, "models", "import", str(source), "--id", MODEL_ID)
        with (logs / f"import-{condition}.log").open("wb") as log:
            done = subprocess.run(
                [*argv, "--version", condition, "--json"], env=env, stdout=log, stderr=log
            )
        if done.returncode != 0:
            raise RuntimeError(f"ferry models import failed: see {log.name}")
        imported = time.monotonic() - began
        shutil.rmtree(source)  # the digests are known
        listed = json.loads(helper("torrents", origin.reader, MODEL_ID, condition))
        torrents = listed["torrents"]
        if [t["filename"] for t in torrents] != [BIG]:
            raise RuntimeError(f"the origin offers torrents of {torrents}, not of {BIG} alone")
        made[condition] = Published(files, imported, torrents[0])
    return made


# -- one run --------------------------------------------------------------------------------


@dataclass
class Peer:
    index: int
    ns: str
    dir: Path
    install: Any = None
    seeder: Any = None
    done_s: float | None = None
    returncode: int | None = None
    killed_at: float | None = None  # its progress when it was killed
    fell_back: bool = False  # the swarm stalled: the rest over plain HTTP
    hung: bool = False  # its bytes all there, its install not exiting: killed, failed
    seeder_killed: bool = False  # did not stop on `ferry agent stop`
    first_byte_s: float | None = None  # 1 MB of the model on its disk
    all_bytes_s: float | None = None  # all of it on its disk (then: the check, the exit)
    uploaded: int | None = None  # what its seeder said it sent
    rx: int = 0  # bytes its link received during the run
    ok: bool = False
    error: str = ""


@dataclass
class Result:
    condition: str
    version: str
    peers: int
    finished: int  # of those expected to
    expected: int
    times: list[float]
    total_s: float | None
    origin_tx: int
    model_bytes: int
    server_cpu: float
    load_start: float
    load_end: float
    killed: list[int] = field(default_factory=list)
    kill_s: float | None = None
    kill_median: float | None = None
    seeder_up: int = 0
    fell_back: int = 0
    spawn_spread_s: float = 0.0  # from the first install started to the last
    rate_mbit: float = 0.0
    hung: int = 0
    seeders_killed: int = 0
    timeline: list[tuple[float, int, int, int]] = field(default_factory=list)
    peer_rx: list[int] = field(default_factory=list)
    peer_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def copies(self) -> float:
        return self.origin_tx / self.model_bytes

    @property
    def verified(self) -> bool:
        return self.finished == self.expected


def progress(peer: Peer) -> int:
    """Bytes of ``BIG`` on the peer's disk: blocks allocated to files named so (libtorrent's
    in .swarm/ is sparse until every piece is in, the fetch engine's .part too), each
    inode once."""
    seen: dict[int, int] = {}
    for root, _, names in os.walk(peer.dir):
        for name in names:
            if name.startswith(BIG):
                with contextlib.suppress(FileNotFoundError):
                    st = os.lstat(os.path.join(root, name))  # noqa: PTH118
                    seen[st.st_ino] = st.st_blocks * 512
    return sum(seen.values())


def diagnose(peer: Peer, log: Path) -> str:
    """Why a peer's install has not exited though its bytes are all there: its threads
    (name, kernel wait channel), and where gdb finds them (the whole backtrace to ``log``);
    a line for the report."""
    pid = peer.install.pid
    lines = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        with contextlib.suppress(OSError):
            comm = (task / "comm").read_text().strip()
            lines.append(f"thread {task.name} {comm}: {(task / 'wchan').read_text().strip()}")
    said = ""
    if shutil.which("gdb"):
        bt = subprocess.run(
            ["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 12"],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        lines += ["", bt]
        frames = re.findall(r"in (libtorrent::[\w:~]+|std::thread::join)", bt)
        said = f"; gdb: {' < '.join(dict.fromkeys(frames))}" if frames else ""
    staged = [f for f in peer.dir.glob(f".swarm/*/{BIG}") if f.is_file()]
    lines.append(f"staged: {[str(f) for f in staged]}")
    log.write_text("\n".join(lines) + "\n")
    return said


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def run_one(
    condition: str,
    net: Net,
    origin: Origin,
    files: list[ModelFile],
    work: Path,
    config: Path,
    logs: Path,
    args: argparse.Namespace,
) -> Result:
    p2p = condition != "http"
    version = condition  # a version (and torrent, and swarm) of its own: see publish_all
    here = work / condition
    plogs = logs / condition
    plogs.mkdir()
    size = sum(f.size for f in files)
    big = next(f.size for f in files if f.path == BIG)
    peers = [
        Peer(i, net.peer_ns(i), here / f"p{i + 1:02d}") for i in range(net.peers)
    ]  # fmt: skip
    for p in peers:
        p.dir.mkdir(parents=True)
    victims: set[int] = set()
    if condition == "churn":
        step = net.peers / args.kill
        victims = {int(step * k + step / 2) for k in range(args.kill)}
    env = ferry_env(config, origin, origin.reader)
    os.sync()  # nobody pays for the write-back of what came before
    load_start = os.getloadavg()[0]
    tx0, cpu0 = tx_bytes(ORIGIN), cpu_seconds(origin.proc.pid)
    rx0 = {p.index: rx_bytes(p.ns) for p in peers}
    say(f"{condition}: {net.peers} peers {'through the swarm' if p2p else 'over plain HTTP'} ...")
    began = time.monotonic()
    for p in peers:
        argv = in_ns(p.ns, FERRY, "agent", "install", f"{MODEL_ID}@{version}")
        argv += ["--dir", str(p.dir)]
        if p2p:
            argv += ["--p2p", "--listen", LISTEN]
        name = f"p{p.index + 1:02d}"
        (plogs / f"{name}.install.cmd").write_text(" ".join(argv) + "\n")
        p.install = spawn(
            argv, env, plogs / f"{name}.install.out", plogs / f"{name}.install.err"
        )  # fmt: skip
    spread = time.monotonic() - began
    kill_s: float | None = None
    kill_median: float | None = None
    last_say = last_look = last_mark = began
    deadline = began + args.timeout
    shares = [0.0] * len(peers)
    held = [0] * len(peers)
    timeline: list[tuple[float, int, int, int]] = []  # t, origin sent, peers hold, done
    while True:
        now = time.monotonic()
        running = [p for p in peers if p.done_s is None and p.killed_at is None and not p.hung]
        if now - last_look >= 0.25:  # where each peer is
            last_look = now
            for p in running:
                held[p.index] = progress(p)
                shares[p.index] = min(1.0, held[p.index] / big)
                if p.first_byte_s is None and held[p.index] >= MB:
                    p.first_byte_s = now - began
                if p.all_bytes_s is None and held[p.index] >= big:
                    p.all_bytes_s = now - began
                if (
                    p.all_bytes_s is not None
                    and now - began - p.all_bytes_s > args.hang_after
                    and p.install.poll() is None
                ):
                    name = f"p{p.index + 1:02d}"
                    said = diagnose(p, plogs / f"{name}.hung.txt")
                    p.install.kill()
                    p.install.wait()
                    p.hung = True
                    p.error = (
                        f"hung: all its bytes on disk at {p.all_bytes_s:.1f} s, the install"
                        f" still running {args.hang_after:g} s later{said}; SIGKILLed"
                    )
                    say(f"  {now - began:.0f} s: {name} {p.error}")
        if now - last_mark >= 1.0:
            last_mark = now
            done = sum(p.done_s is not None for p in peers)
            timeline.append((now - began, tx_bytes(ORIGIN) - tx0, sum(held), done))
        for p in running:
            rc = p.install.poll()
            if rc is None or p.hung:
                continue
            p.done_s, p.returncode = time.monotonic() - began, rc
            p.all_bytes_s = p.all_bytes_s or p.done_s  # done before a look saw it all
            p.first_byte_s = p.first_byte_s or p.done_s
            if rc == 0 and p2p:
                name = f"p{p.index + 1:02d}"
                argv = in_ns(p.ns, FERRY, "agent", "seed", "--dir", str(p.dir), "--listen", LISTEN)
                p.seeder = spawn(argv, env, plogs / f"{name}.seed.out", plogs / f"{name}.seed.err")
        running = [p for p in peers if p.done_s is None and p.killed_at is None and not p.hung]
        if not running:
            break
        if victims and kill_s is None:
            median = statistics.median(
                1.0 if p.done_s is not None else shares[p.index] for p in peers
            )
            if median >= args.kill_at:
                kill_s, kill_median = now - began, median
                for p in peers:
                    if p.index in victims and p.done_s is None:
                        p.install.send_signal(signal.SIGKILL)
                        p.install.wait()
                        p.killed_at = min(1.0, progress(p) / big)
                say(
                    f"  {kill_s:.1f} s: median peer at {median:.0%}: SIGKILLed "
                    + ", ".join(f"p{i + 1:02d}" for i in sorted(victims))
                )
        if now - last_say > 15:
            last_say = now
            done = sum(p.done_s is not None for p in peers)
            say(f"  {now - began:.0f} s: {done}/{net.peers} done")
        if now > deadline:
            for p in running:
                p.install.kill()
                p.install.wait()
                p.error = f"not done in {args.timeout:g} s"
            break
        time.sleep(0.05 if victims and kill_s is None else 0.1)
    ends = [p.done_s for p in peers if p.done_s is not None and not p.hung]
    total = max(ends) if ends else None
    # every peer is done: the seeders stop, as `ferry agent stop` stops them
    seeders = [p for p in peers if p.seeder is not None]
    stops = [
        subprocess.Popen(
            in_ns(p.ns, FERRY, "agent", "stop", "--dir", str(p.dir)),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in seeders
    ]
    for s in stops:
        s.wait()
    for p in seeders:
        try:
            p.seeder.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.seeder_killed = True
            end(p.seeder)
        out = (plogs / f"p{p.index + 1:02d}.seed.out").read_text(errors="replace")
        if found := re.search(r"seeded \d+ files, (\d+) bytes up", out):
            p.uploaded = int(found[1])
    tx1, cpu1 = tx_bytes(ORIGIN), cpu_seconds(origin.proc.pid)
    for p in peers:
        p.rx = rx_bytes(p.ns) - rx0[p.index]
    load_end = os.getloadavg()[0]

    def check(p: Peer) -> None:
        name = f"p{p.index + 1:02d}"
        err = (plogs / f"{name}.install.err").read_text(errors="replace")
        p.fell_back = "plain HTTP instead" in err
        if p.killed_at is not None or p.error or p.hung:
            return
        if p.returncode != 0:
            p.error = f"exit {p.returncode}: {err.strip()[-300:]}"
            return
        out = (plogs / f"{name}.install.out").read_text(errors="replace")
        if not (found := re.search(r"ready at (.+)$", out.strip())):
            p.error = f"not ready: {out.strip()[-300:]}"
            return
        problem = check_files(Path(found[1].strip()), files)
        p.ok, p.error = problem is None, problem or ""

    say(f"  checking every file of {sum(p.killed_at is None for p in peers)} peers ...")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(check, peers))
    shutil.rmtree(here)
    finished = [p for p in peers if p.ok]
    expected = [p for p in peers if p.index not in victims]
    result = Result(
        condition,
        version,
        net.peers,
        len([p for p in finished if p.index not in victims]),
        len(expected),
        [p.done_s for p in finished if p.done_s is not None],
        total,
        tx1 - tx0,
        size,
        cpu1 - cpu0,
        load_start,
        load_end,
        killed=sorted(victims),
        kill_s=kill_s,
        kill_median=kill_median,
        seeder_up=sum(p.uploaded or 0 for p in peers),
        fell_back=sum(p.fell_back for p in peers),
        spawn_spread_s=spread,
        rate_mbit=net.rate_mbit,
        hung=sum(p.hung for p in peers),
        seeders_killed=sum(p.seeder_killed for p in peers),
        timeline=timeline,
        peer_rx=[p.rx for p in peers],
        peer_rows=[
            {
                "peer": f"p{p.index + 1:02d}",
                "ip": net.peer_ip(p.index),
                "first_byte_s": p.first_byte_s,
                "all_bytes_s": p.all_bytes_s,
                "done_s": p.done_s,
                "exit": p.returncode,
                "killed_at_progress": p.killed_at,
                "fell_back_to_http": p.fell_back,
                "hung": p.hung,
                "seeder_killed": p.seeder_killed,
                "seeded_bytes": p.uploaded,
                "rx_bytes": p.rx,
                "ok": p.ok,
                "error": p.error,
            }
            for p in peers
        ],
    )
    times = result.times
    say(
        f"  {condition}: {len(finished)}/{net.peers} verified"
        + (
            f", p50 {percentile(times, 0.5):.1f} s, max {max(times):.1f} s"
            f", origin sent {result.copies:.2f} copies"
            if times
            else ""
        )
    )
    for p in peers:
        if not p.ok and p.killed_at is None:
            say(f"  FAILED p{p.index + 1:02d}: {p.error}")
    return result


# -- the report -----------------------------------------------------------------------------

LABELS = {
    "swarm": "swarm (`--p2p`)",
    "http": "plain HTTP",
    "churn": "swarm, {kill} peers killed at {at}",
}


def table(results: list[Result], args: argparse.Namespace) -> str:
    rows = [
        "| condition | peers | p50 s | p99 s | max s | total s | origin sent, copies"
        " (goal ≤ 1.2 swarm) | origin MB | server CPU s | all verified |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        label = LABELS[r.condition].format(kill=len(r.killed), at=f"{args.kill_at:.0%}")
        peers = str(r.peers) if r.finished == r.peers else f"{r.finished}/{r.expected}"
        if r.killed:
            peers += f" (+{len(r.killed)} killed)"
        if r.times:
            p50, p99 = percentile(r.times, 0.5), percentile(r.times, 0.99)
            stats = f"{p50:.1f} | {p99:.1f} | {max(r.times):.1f}"
        else:
            stats = " |  | "
        total = "" if r.total_s is None else f"{r.total_s:.1f}"
        rows.append(
            f"| {label} | {peers} | {stats} | {total} | {r.copies:.2f}"
            f" | {r.origin_tx / MB:,.0f} | {r.server_cpu:.1f}"
            f" | {'yes' if r.verified else '**no**'} |"
        )
    return "\n".join(rows)


def details(results: list[Result]) -> str:
    lines = []
    for r in results:
        times = ", ".join(f"{t:.1f}" for t in sorted(r.times))
        lines.append(f"- {r.condition} (`{MODEL_ID}@{r.version}`): completion times, s: {times}")
        rows = [row for row in r.peer_rows if row["ok"]]

        def med(key: str, rows: list[dict[str, Any]] = rows) -> str:
            values = [row[key] for row in rows if row[key] is not None]
            return f"{statistics.median(values):.1f}" if values else "?"

        extra = [
            f"installs started within {r.spawn_spread_s:.2f} s",
            f"median peer: first MB on disk at {med('first_byte_s')} s, all of it at"
            f" {med('all_bytes_s')} s, install exited at {med('done_s')} s",
            f"load {r.load_start:.1f} → {r.load_end:.1f}",
            f"peers' links received {sum(r.peer_rx) / MB:,.0f} MB in all",
        ]
        if r.timeline and rows:
            # the origin's pace while the median peer downloaded
            until = statistics.median(row["done_s"] for row in rows)
            seen = [m for m in r.timeline if m[0] <= until]
            if seen:
                rate = seen[-1][1] / seen[-1][0] / MB
                steps = [(b[1] - a[1]) / (b[0] - a[0]) / MB for a, b in itertools.pairwise(seen)]
                extra.append(
                    f"the origin sent {rate:.1f} MB/s on average until the median peer was"
                    f" done (its link: {r.rate_mbit / 8:g} MB/s), at most"
                    f" {max(steps, default=rate):.1f} MB/s in a second"
                )
        if r.condition != "http":
            extra.append(f"seeders reported {r.seeder_up / MB:,.0f} MB up after their installs")
            extra.append(f"{r.fell_back} peers fell back to plain HTTP (swarm stalled)")
            if r.seeders_killed:
                extra.append(f"{r.seeders_killed} seeders did not stop in 20 s: SIGTERM/KILL")
        if r.hung:
            names = [row["peer"] for row in r.peer_rows if row["hung"]]
            extra.append(
                f"**{r.hung} installs hung** ({', '.join(names)}) after all their bytes"
                " arrived: see their .hung.txt"
            )
        if r.killed:
            extra.append(
                f"killed p{', p'.join(f'{i + 1:02d}' for i in r.killed)} at"
                f" {r.kill_s:.1f} s (median peer at {r.kill_median:.0%}); their progress then:"
                " "
                + ", ".join(
                    f"{row['killed_at_progress']:.0%}"
                    for row in r.peer_rows
                    if row["killed_at_progress"] is not None
                )
            )
        lines.append("  " + "; ".join(extra))
    return "\n".join(lines)


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True).stdout.strip()


def write_report(
    header: list[str],
    results: list[Result],
    models: dict[str, Published],
    args: argparse.Namespace,
    logs: Path,
) -> None:
    by = {r.condition: r for r in results}
    ratio = ""
    if "swarm" in by and "http" in by and by["swarm"].total_s and by["http"].total_s:
        ratio = (
            f"HTTP total / swarm total: {by['http'].total_s:.1f} / {by['swarm'].total_s:.1f}"
            f" s = **{by['http'].total_s / by['swarm'].total_s:.2f}×**"
        )
    report = "\n".join(
        [
            *header,
            f"- load at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            "",
            table(results, args),
            "",
            ratio,
            "",
            details(results),
            "",
            "Times: from the common start (the first install started) to each install's"
            " exit; p99 interpolated between the two slowest; first MB / all of it: the"
            f" bytes of {BIG} on the peer's disk, looked at every 0.25 s."
            " Origin sent: tx_bytes of the origin's veth, Ethernet frames (headers"
            " included), over the model's size. Every finished peer's files checked"
            " (sha256, size) after its run.",
            "",
        ]
    )
    print(report)
    (logs / "report.md").write_text(report)
    raw: dict[str, Any] = {"args": vars(args)}
    raw["models"] = {c: asdict(m) for c, m in models.items()}
    raw["runs"] = [asdict(r) for r in results]
    (logs / "results.json").write_text(json.dumps(raw, indent=2) + "\n")
    say(f"report and logs in {logs.relative_to(REPO)}")


def _teardown_signals() -> None:
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--peers", type=int, default=20, help="peer namespaces (20)")
    parser.add_argument("--rate-mbit", type=float, default=100.0, help="each link, Mbit/s (100)")
    parser.add_argument("--size-mb", type=float, default=150.0, help="the large file, MB (150)")
    parser.add_argument("--kill", type=int, default=5, help="peers killed in the churn run (5)")
    parser.add_argument(
        "--kill-at", type=float, default=0.4, help="the median peer's share at the kill (0.4)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run (600)")
    parser.add_argument(
        "--hang-after",
        type=float,
        default=60,
        help="seconds an install may go on once its bytes are all on disk (60): then it is"
        " looked at (threads, gdb), SIGKILLed and counted as failed",
    )
    parser.add_argument(
        "--only", default="swarm,http,churn", help="runs, in order (swarm,http,churn)"
    )
    parser.add_argument(
        "--origin-env", action="append", default=[], metavar="KEY=VALUE", help="for ferry serve"
    )
    args = parser.parse_args()
    conditions = [c for c in args.only.split(",") if c]
    if unknown := set(conditions) - {"swarm", "http", "churn"}:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    if os.geteuid() != 0:
        parser.error("run as root: it makes network namespaces")
    if not 2 <= args.peers <= 200:
        parser.error("--peers: 2 to 200")
    if "churn" in conditions and not 1 <= args.kill < args.peers:
        parser.error("--kill: at least 1, fewer than --peers")
    size = int(args.size_mb * MB)
    origin_env = dict(item.split("=", 1) for item in args.origin_env)

    _teardown_signals()
    sweep_leftovers()
    # as an installed Ferry starts: its bytecode compiled at install time
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "src")], check=True)
    header = [
        f"# bench/run_swarm.py {' '.join(sys.argv[1:])}",
        "",
        f"- date_utc: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"- host: {platform.system()} {platform.machine()} {platform.release()},"
        f" {os.cpu_count()} CPUs",
        f"- load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- ferry: {_output([FERRY, '--version'])} (git {git_state()}; src sha256"
        f" {source_fingerprint()})",
        f"- libtorrent: {_output([PY, '-c', 'import libtorrent as t; print(t.__version__)'])}",
        f"- network: {args.peers} peers + the origin, each on a veth to one bridge, every"
        f" link capped at {args.rate_mbit:g} Mbit/s each way (tbf on both ends)",
    ]
    logs, work, config = workspace(WORK_PREFIX)
    (work / OWNER_FILE).write_text(str(os.getpid()))
    net = Net(args.peers, args.rate_mbit)
    results: list[Result] = []
    models: dict[str, Published] = {}
    failed = True
    origin: Origin | None = None
    try:
        say(f"network: {args.peers} peers at {args.rate_mbit:g} Mbit/s ...")
        net.up()
        origin = start_origin(work, config, logs, origin_env)
        models = publish_all(origin, conditions, size, work, config, logs)
        t = models[conditions[0]].torrent
        header.append(
            f"- model: {BIG} ({size / MB:,.0f} MB, random bytes) + config.json"
            f" ({models[conditions[0]].files[0].size} B), a version of its own bytes per run"
            f" ({', '.join(conditions)}: each run a fresh swarm the tracker knows nothing of);"
            f" published in {', '.join(f'{m.import_s:.1f}' for m in models.values())} s;"
            f" each torrent made before the runs (piece {t['piece_length'] // 1024} KiB,"
            f" {math.ceil(t['file_size'] / t['piece_length'])} pieces)"
        )
        for condition in conditions:
            files = models[condition].files
            results.append(run_one(condition, net, origin, files, work, config, logs, args))
        failed = not all(r.verified for r in results)
        write_report(header, results, models, args, logs)
    except KeyboardInterrupt as exc:
        say(f"interrupted ({exc or 'Ctrl-C'}): tearing down")
        if results:
            header.append("- **interrupted**: the runs that ended are below")
            write_report(header, results, models, args, logs)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop this
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in reversed(PROCS):
            end(proc, wait=5)
        gone = remove_namespaces()
        say(f"removed {len(gone)} namespaces")
        shutil.rmtree(work, ignore_errors=True)
        if origin is not None:
            # the resolver sandbox the server made for its data directory (run_models.py)
            key = hashlib.sha256(str(origin.data.resolve()).encode()).hexdigest()[:12]
            sandbox = Path(tempfile.gettempdir()) / f"ferry-sandbox-{key}"
            shutil.rmtree(sandbox, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
