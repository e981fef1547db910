#!/usr/bin/env python3
"""Install one project from Ferry's registries and from the servers teams run for the same
job, in the same run: `pip install -r` (and `uv pip install -r`) from Ferry's /simple/
against devpi-server, `npm ci` from Ferry's /npm/ against verdaccio 6.8.0.

The project is tests/fixtures/farside (62 Python wheels, 258 npm packages). It is bundled
once (`ferry bundle`, the real index and registry), imported into `ferry serve`, and the
same files are uploaded to devpi (twine's legacy upload) and published to verdaccio (the
PUT `npm publish` sends). Then, for N rounds (alternating which server goes first), each
client installs the whole project into a fresh venv / directory with a fresh, empty cache
(Ferry with its read token, devpi read anonymously, verdaccio with a JWT token;
``--anchor-auth`` adds devpi with basic auth and verdaccio with its legacy tokens). Prints
medians, Ferry / anchor (goal: at most 1.0), each server's CPU time, and how long every
request of one install takes on each server. See bench/README.md.

    .venv/bin/python bench/run_registries.py [--rounds 3] [--bundle ARCHIVE.zip] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

# bench/ is sys.path[0] when this file is run as a script: share run.py's helpers; the test
# suite's helpers start devpi, verdaccio and bundle the project
from run import REPO, _median, _output, git_state, redact, say, source_fingerprint, workspace

sys.path.insert(0, str(REPO / "tests"))

from support.devpi import DevpiServer, devpi_bin, legacy_upload
from support.farside import FARSIDE, REQUIREMENTS, bundle_farside, installed_in, pins
from support.localproc import clean_env
from support.serve import free_port
from support.verdaccio import VERSION as VERDACCIO_VERSION
from support.verdaccio import Verdaccio, npmrc_for

WEB = FARSIDE / "web"
_TICK = os.sysconf("SC_CLK_TCK")
GOAL = 1.0

NOTE = (
    "Every install starts cold on the client (fresh venv or directory, empty pip / uv / npm "
    "cache) against servers that stay up for the whole run (their own caches warm after "
    "the warm-up round). Same files on every server: the bundle's wheels uploaded to devpi, "
    "its tarballs published to verdaccio."
)


# -- servers --------------------------------------------------------------------------------


def listening_pid(port: int) -> int:
    """The process listening on 127.0.0.1:``port`` (its socket's inode, found among the
    open files in /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{cols[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if str(fd.readlink()) in inodes:
                        return int(proc.name)
    raise RuntimeError(f"no process listens on port {port}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class Registry:
    name: str  # ferry | devpi | devpi+auth | verdaccio | verdaccio+legacy
    index_url: str = ""  # pip's --index-url, credentials included
    npm_registry: str = ""
    npmrc: str = ""  # the auth line for npm_registry
    pid: int = 0
    setup: dict[str, float] = field(default_factory=dict)  # step -> seconds
    version: str = ""


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited {proc.returncode}: {log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        if time.monotonic() > end:
            raise RuntimeError(
                f"{url} did not answer in {timeout:.0f} s: {log.read_text()[-3000:]}"
            )
        time.sleep(0.1)


def ferry_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update(FERRY_CONFIG=str(config), FERRY_USE_MACHINE_CONFIG="false")
    return env


@contextlib.contextmanager
def ferry_registry(ferry: Path, archive: Path, work: Path, config: Path) -> Iterator[Registry]:
    """``ferry import`` into a fresh data directory, a read token, ``ferry serve``."""
    reg = Registry("ferry", version=_output([str(ferry), "--version"]))
    data = work / "ferry-data"
    env = ferry_env(config)
    began = time.perf_counter()
    subprocess.run(
        [str(ferry), "import", str(archive), "--data-dir", str(data)],
        env=env,
        check=True,
        capture_output=True,
    )
    reg.setup["import"] = time.perf_counter() - began
    made = subprocess.run(
        [
            str(ferry),
            "token",
            "create",
            "--name=bench",
            "--role=read",
            f"--data-dir={data}",
            "--json",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = json.loads(made.stdout)["token"]
    port = free_port()
    log = work / "ferry-serve.log"
    began = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(ferry), "serve", "--host=127.0.0.1", f"--port={port}", f"--data-dir={data}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(f"http://127.0.0.1:{port}/health", proc, log)
        reg.setup["start"] = time.perf_counter() - began
        reg.index_url = f"http://__token__:{token}@127.0.0.1:{port}/simple/"
        reg.npm_registry = f"http://127.0.0.1:{port}/npm/"
        reg.npmrc = npmrc_for(reg.npm_registry, token)
        reg.pid = proc.pid
        yield reg
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def unpack(archive: Path, dest: Path) -> tuple[list[Path], list[Path]]:
    """The bundle's Python files and npm tarballs, extracted to ``dest``."""
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    (root,) = dest.iterdir()
    wheels = sorted(p for p in (root / "python-packages").iterdir() if p.is_file())
    tarballs = sorted((root / "npm-packages").glob("*.tgz"))
    return wheels, tarballs


@contextlib.contextmanager
def devpi_registry(wheels: list[Path], work: Path) -> Iterator[tuple[Registry, Registry]]:
    """devpi-server (its own index, no mirror), every wheel uploaded as twine does. Two ways
    in: anonymous reading (devpi's default for an index, and what pip users of devpi do:
    pip cannot send devpi's login token) and HTTP basic auth in the index URL, which devpi
    checks against the user's argon2 password hash at every request."""
    version = _output([str(devpi_bin("devpi-server")), "--version"])
    began = time.perf_counter()
    with DevpiServer(work / "devpi") as devpi:
        setup = {"start": time.perf_counter() - began}
        began = time.perf_counter()
        for wheel in wheels:
            answer = legacy_upload(devpi.upload_url, wheel, devpi.username, devpi.password)
            if answer.status_code != 200:
                raise RuntimeError(
                    f"devpi refused {wheel.name}: {answer.status_code} {answer.text}"
                )
        setup["upload"] = time.perf_counter() - began
        pid = listening_pid(devpi.port)
        host = devpi.base.removeprefix("http://")
        anonymous = Registry(
            "devpi",
            index_url=devpi.index_url,
            pid=pid,
            setup=setup,
            version=f"devpi-server {version}, anonymous read",
        )
        authenticated = Registry(
            "devpi+auth",
            index_url=f"http://{devpi.username}:{devpi.password}@{host}{devpi.index_path}+simple/",
            pid=pid,
            version=f"devpi-server {version}, basic auth",
        )
        yield anonymous, authenticated


def _semver_key(version: str) -> tuple[tuple[int, ...], int, str]:
    core, _, pre = version.partition("-")
    numbers = tuple(int(n) for n in re.findall(r"\d+", core)[:3])
    return numbers, 0 if pre else 1, pre


def _package_json(tarball: Path) -> dict[str, Any]:
    with tarfile.open(tarball) as tf:
        member = min(
            (
                m
                for m in tf.getmembers()
                if m.name.count("/") == 1 and m.name.endswith("/package.json")
            ),
            key=lambda m: len(m.name),
        )
        data = tf.extractfile(member)
        assert data is not None
        return dict(json.loads(data.read()))


def publish_document(manifest: dict[str, Any], data: bytes, registry: str) -> dict[str, Any]:
    """The document ``npm publish`` PUTs for one version (libnpmpublish's shape): the
    version's manifest with its dist, the tag, the tarball as a base64 attachment."""
    name, version = manifest["name"], manifest["version"]
    filename = f"{name}-{version}.tgz"
    manifest = {
        **manifest,
        "_id": f"{name}@{version}",
        "dist": {
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
            "shasum": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            "tarball": f"{registry}{name}/-/{filename}",
        },
    }
    return {
        "_id": name,
        "name": name,
        "description": manifest.get("description", ""),
        "dist-tags": {"latest": version},
        "versions": {version: manifest},
        "access": None,
        "_attachments": {
            filename: {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
        },
    }


# verdaccio's own JSON Web Tokens for the API: checked by their signature. Its default
# ("legacy") tokens are the user's credentials encrypted, checked against the htpasswd
# file's bcrypt hash at every request.
JWT = {"security": {"api": {"legacy": False, "jwt": {"sign": {"expiresIn": "7d"}}}}}


@contextlib.contextmanager
def verdaccio_registry(
    tarballs: list[Path], work: Path, *, legacy: bool = False
) -> Iterator[Registry]:
    """verdaccio 6.8.0 (no uplinks, authenticated users only; JWT tokens unless ``legacy``),
    every tarball published as ``npm publish`` does, each package's versions in ascending
    order (latest last)."""
    name = "verdaccio+legacy" if legacy else "verdaccio"
    tokens = "legacy tokens" if legacy else "JWT tokens"
    reg = Registry(name, version=f"verdaccio {VERDACCIO_VERSION}, {tokens}")
    began = time.perf_counter()
    with Verdaccio(work / name, config=None if legacy else JWT) as verdaccio:
        reg.setup["start"] = time.perf_counter() - began
        began = time.perf_counter()
        manifests = [(_package_json(t), t) for t in tarballs]
        manifests.sort(key=lambda mt: (mt[0]["name"], _semver_key(mt[0]["version"])))
        headers = {"Authorization": f"Bearer {verdaccio.token}"}
        with httpx.Client(base_url=verdaccio.url, headers=headers, trust_env=False) as client:
            for manifest, tarball in manifests:
                doc = publish_document(manifest, tarball.read_bytes(), verdaccio.url)
                answer = client.put(quote(manifest["name"], safe="@"), json=doc, timeout=120)
                if answer.status_code not in (200, 201):
                    raise RuntimeError(
                        f"verdaccio refused {tarball.name}: {answer.status_code} {answer.text}"
                    )
        reg.setup["publish"] = time.perf_counter() - began
        reg.npm_registry = verdaccio.url
        reg.npmrc = verdaccio.npmrc
        reg.pid = listening_pid(verdaccio.port)
        yield reg


# -- one install ----------------------------------------------------------------------------


@dataclass
class Run:
    client: str  # pip | uv | npm
    registry: str
    round: int  # 0: the warm-up round, not in the medians
    ok: bool
    seconds: float
    client_cpu: float = 0.0  # the client process and its children
    server_cpu: float = 0.0  # the server process during the install
    installed: int = 0
    error: str = ""


def timed(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path, server_pid: int, timeout: float
) -> tuple[int, float, float, float]:
    """Run ``argv`` (output to ``log``): exit code, wall s, its CPU s, the server's CPU s."""
    os.sync()
    with log.open("w") as out:
        out.write(redact(" ".join(argv)) + "\n")
        out.flush()
        before = cpu_seconds(server_pid)
        began = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
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
        server = cpu_seconds(server_pid) - before
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, seconds, usage.ru_utime + usage.ru_stime, server


@dataclass
class Clients:
    python: str  # the interpreter the venvs are made from
    uv: str
    work: Path
    logs: Path
    timeout: float
    pins: dict[str, str]

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        return clean_env(home, {"PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra})

    def pip(self, reg: Registry, rnd: int) -> Run:
        here = self.work / f"pip-{reg.name}-{rnd}"
        venv = here / "venv"
        env = self.env(here / "home")
        subprocess.run([self.python, "-m", "venv", str(venv)], env=env, check=True)
        argv = [str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off"]
        argv += ["--cache-dir", str(here / "cache"), "--index-url", reg.index_url]
        argv += ["-r", str(REQUIREMENTS)]
        return self._python_run("pip", reg, rnd, argv, here, venv, env)

    def uv_pip(self, reg: Registry, rnd: int) -> Run:
        here = self.work / f"uv-{reg.name}-{rnd}"
        venv = here / "venv"
        env = self.env(here / "home", UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
        subprocess.run(
            [self.uv, "venv", "-q", "--python", self.python, str(venv)], env=env, check=True
        )
        argv = [self.uv, "pip", "install", "--python", str(venv / "bin" / "python")]
        argv += ["--cache-dir", str(here / "cache"), "--index-url", reg.index_url]
        argv += ["-r", str(REQUIREMENTS)]
        return self._python_run("uv", reg, rnd, argv, here, venv, env)

    def _python_run(
        self,
        client: str,
        reg: Registry,
        rnd: int,
        argv: list[str],
        here: Path,
        venv: Path,
        env: dict[str, str],
    ) -> Run:
        log = self.logs / f"r{rnd}-{client}-{reg.name}.log"
        code, seconds, cpu, server = timed(argv, env, here, log, reg.pid, self.timeout)
        run = Run(client, reg.name, rnd, False, seconds, cpu, server)
        if code != 0:
            run.error = f"exit {code}: {' | '.join(log.read_text().splitlines()[-4:])}"
        else:
            got = installed_in(venv)
            run.installed = len(got)
            run.ok = got == self.pins
            if not run.ok:
                run.error = f"installed {sorted(set(got.items()) ^ set(self.pins.items()))}"
        shutil.rmtree(here, ignore_errors=True)
        return run

    def npm(self, reg: Registry, rnd: int) -> Run:
        here = self.work / f"npm-{reg.name}-{rnd}"
        project = here / "project"
        project.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(WEB / name, project / name)
        (project / ".npmrc").write_text(f"registry={reg.npm_registry}\n{reg.npmrc}")
        (here / "npmrc-user").write_text("")
        (here / "npmrc-global").write_text("")
        env = self.env(
            here / "home",
            npm_config_userconfig=str(here / "npmrc-user"),
            npm_config_globalconfig=str(here / "npmrc-global"),
            npm_config_update_notifier="false",
        )
        argv = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
        argv += ["--cache", str(here / "cache")]
        log = self.logs / f"r{rnd}-npm-{reg.name}.log"
        code, seconds, cpu, server = timed(argv, env, project, log, reg.pid, self.timeout)
        run = Run("npm", reg.name, rnd, False, seconds, cpu, server)
        if code != 0:
            run.error = f"exit {code}: {' | '.join(log.read_text().splitlines()[-4:])}"
        else:
            hidden = json.loads((project / "node_modules" / ".package-lock.json").read_text())
            run.installed = sum(1 for k in hidden["packages"] if k.startswith("node_modules/"))
            run.ok = run.installed > 0
        shutil.rmtree(here, ignore_errors=True)
        return run


# -- requests one at a time ----------------------------------------------------------------

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
NPM_ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


def _client(url: str, headers: dict[str, str]) -> tuple[httpx.Client, str]:
    """A client for ``url`` with the credentials it carries; the URL without them."""
    parts = httpx.URL(url)
    auth = (parts.username, parts.password) if parts.username else None
    bare = str(parts.copy_with(username=None, password=None))
    return httpx.Client(auth=auth, headers=headers, trust_env=False, timeout=60), bare


def _timed_get(client: httpx.Client, url: str, into: list[float]) -> httpx.Response:
    began = time.perf_counter()
    answer = client.get(url, follow_redirects=True)
    answer.read()
    into.append(time.perf_counter() - began)
    answer.raise_for_status()
    return answer


def python_requests(reg: Registry, names: list[str]) -> dict[str, list[float]]:
    """What pip asks, one request at a time: each project's page (JSON when offered), its
    file's PEP 658 metadata when the page offers it, the file."""
    times: dict[str, list[float]] = {"page": [], "metadata": [], "wheel": []}
    client, base = _client(reg.index_url, {"Accept": PIP_ACCEPT})
    with client:
        for name in names:
            page = _timed_get(client, f"{base}{name}/", times["page"])
            if "json" in page.headers.get("content-type", ""):
                entry = page.json()["files"][-1]
                href = entry["url"]
                metadata = entry.get("core-metadata") or entry.get("data-dist-info-metadata")
            else:
                href = re.findall(r'href="([^"]+)"', page.text)[-1]
                metadata = "data-core-metadata" in page.text
            url = str(page.url.join(href)).split("#")[0]
            if metadata:
                _timed_get(client, url + ".metadata", times["metadata"])
            _timed_get(client, url, times["wheel"])
    return times


def npm_requests(reg: Registry, packages: list[tuple[str, str]]) -> dict[str, list[float]]:
    """What npm ci asks for a lock without ``resolved`` URLs, one request at a time: each
    package's (abbreviated) document, then its tarball."""
    times: dict[str, list[float]] = {"packument": [], "tarball": []}
    token = reg.npmrc.split(":_authToken=", 1)[1].strip()
    headers = {
        "Accept": NPM_ACCEPT,
        "Accept-Encoding": "gzip,deflate",
        "Authorization": f"Bearer {token}",
    }
    client, base = _client(reg.npm_registry, headers)
    with client:
        for name, version in packages:
            doc = _timed_get(client, base + name.replace("/", "%2f"), times["packument"])
            tarball = doc.json()["versions"][version]["dist"]["tarball"]
            _timed_get(client, tarball, times["tarball"])
    return times


def request_latencies(
    python_regs: list[Registry],
    npm_regs: list[Registry],
    names: list[str],
    packages: list[tuple[str, str]],
    repeats: int,
) -> list[dict[str, Any]]:
    """Every request one install makes, sequential, ``repeats`` times per server (order
    rotated): per kind, p50, p95 and the sum per install (median over the repeats)."""
    samples: dict[tuple[str, str], list[list[float]]] = {}
    for rep in range(repeats):
        for reg in rotated(python_regs, rep):
            for kind, times in python_requests(reg, names).items():
                samples.setdefault((reg.name, kind), []).append(times)
        for reg in rotated(npm_regs, rep):
            for kind, times in npm_requests(reg, packages).items():
                samples.setdefault((reg.name, kind), []).append(times)
    rows = []
    for (name, kind), reps in samples.items():
        every = sorted(t for times in reps for t in times)
        if not every:
            continue
        rows.append(
            {
                "registry": name,
                "request": kind,
                "per_install": len(reps[0]),
                "p50_ms": every[len(every) // 2] * 1000,
                "p95_ms": every[min(len(every) - 1, round(0.95 * (len(every) - 1)))] * 1000,
                "sum_s": _median([sum(times) for times in reps]),
            }
        )
    return rows


# -- report ---------------------------------------------------------------------------------

PAIRS = (
    ("pip", "devpi", "`pip install -r requirements.txt`"),
    ("pip", "devpi+auth", "`pip install -r requirements.txt`"),
    ("uv", "devpi", "`uv pip install -r requirements.txt`"),
    ("uv", "devpi+auth", "`uv pip install -r requirements.txt`"),
    ("npm", "verdaccio", "`npm ci`"),
    ("npm", "verdaccio+legacy", "`npm ci`"),
)


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for client, anchor, label in PAIRS:

        def pick(reg: str, c: str = client) -> list[Run]:
            return [r for r in runs if r.client == c and r.registry == reg and r.round > 0]

        ours, theirs = pick("ferry"), pick(anchor)
        if not theirs:
            continue
        ferry_s = _median([r.seconds for r in ours if r.ok])
        anchor_s = _median([r.seconds for r in theirs if r.ok])
        rounds = sorted({r.round for r in ours} & {r.round for r in theirs})
        same_round = [
            next(r.seconds for r in ours if r.round == n)
            / next(r.seconds for r in theirs if r.round == n)
            for n in rounds
            if all(r.ok for r in (*ours, *theirs) if r.round == n)
        ]
        rows.append(
            {
                "install": label,
                "client": client,
                "anchor": anchor,
                "anchor_s": anchor_s,
                "ferry_s": ferry_s,
                "ratio": ferry_s / anchor_s if ferry_s and anchor_s else None,
                "ratio_rounds": same_round,
                "anchor_server_cpu": _median([r.server_cpu for r in theirs]),
                "ferry_server_cpu": _median([r.server_cpu for r in ours]),
                "anchor_client_cpu": _median([r.client_cpu for r in theirs]),
                "ferry_client_cpu": _median([r.client_cpu for r in ours]),
                "installed": sorted({r.installed for r in (*ours, *theirs)}),
                "warmup": {
                    r.registry: r.seconds
                    for r in runs
                    if r.client == client and r.round == 0 and r.registry in ("ferry", anchor)
                },
            }
        )
    return rows


def render(
    rows: list[dict[str, Any]],
    runs: list[Run],
    registries: list[Registry],
    project: str,
    info: dict[str, str],
    cmd: str,
    latencies: list[dict[str, Any]],
) -> str:
    lines = [f"# Ferry's registries against devpi and verdaccio: `{cmd}`", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [
        f"- project: {project}",
        "",
        NOTE,
        "",
        "| install | anchor | anchor s | Ferry s | Ferry / anchor | same round | goal ≤ 1.0 "
        "| server CPU s anchor / Ferry | client CPU s anchor / Ferry | installed |",
        "|---|---|---:|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = row["ratio"]
        goal = "—" if ratio is None else ("yes" if ratio <= GOAL else "**no**")
        same = ", ".join(f"{x:.2f}" for x in row["ratio_rounds"])
        lines.append(
            f"| {row['install']} | {row['anchor']} | {_s(row['anchor_s'])} | "
            f"{_s(row['ferry_s'])} | {'—' if ratio is None else f'{ratio:.2f}×'} | {same} | "
            f"{goal} | {_s(row['anchor_server_cpu'])} / {_s(row['ferry_server_cpu'])} | "
            f"{_s(row['anchor_client_cpu'])} / {_s(row['ferry_client_cpu'])} | "
            f"{', '.join(map(str, row['installed']))} |"
        )
    lines += ["", "Medians of the timed rounds. Warm-up round (first install, not in the medians):"]
    for row in rows:
        warm = ", ".join(f"{k} {v:.2f} s" for k, v in row["warmup"].items())
        lines.append(f"- {row['install']}: {warm}")
    if latencies:
        lines += [
            "",
            "Every request of one install, one at a time (median sum over the repeats):",
            "",
            "| server | request | per install | p50 ms | p95 ms | sum per install s |",
            "|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['registry']} | {r['request']} | {r['per_install']} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {_s(r['sum_s'])} |"
            for r in latencies
        ]
    lines += ["", "Set-up (not compared):", ""]
    for reg in registries:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in reg.setup.items())
        lines.append(f"- {reg.name} ({reg.version}): {steps}")
    lines += [
        "",
        "Every run:",
        "",
        "| round | client | registry | s | server CPU s | client CPU s | installed | ok |",
        "|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.round or 'warm-up'} | {r.client} | {r.registry} | {r.seconds:.2f} | "
            f"{r.server_cpu:.2f} | {r.client_cpu:.2f} | {r.installed} | "
            f"{'yes' if r.ok else 'FAILED ' + r.error[:200]} |"
        )
    return "\n".join(lines) + "\n"


def machine_info(python: str, uv: str) -> dict[str, str]:
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs (nproc)",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "ferry": f"git {git_state()}; src sha256 {source_fingerprint()}",
        "clients": f"{_output([python, '-V'])} with its bundled pip "
        f"({_output([python, '-m', 'pip', '--version']).split(' from ')[0]}), "
        f"{_output([uv, '--version'])}, npm {_output(['npm', '--version'])}, "
        f"node {_output(['node', '--version'])}",
    }


def rotated(regs: list[Registry], rnd: int) -> list[Registry]:
    """Each round starts with another server, so none always goes first."""
    shift = rnd % len(regs)
    return regs[shift:] + regs[:shift]


# -- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--bundle", type=Path, help="a .zip of tests/fixtures/farside to reuse")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per install")
    parser.add_argument("--no-uv", action="store_true", help="skip the uv installs")
    parser.add_argument(
        "--requests",
        type=int,
        default=3,
        metavar="N",
        help="after the rounds, time every request of one install one at a time, N times "
        "per server (3; 0 skips it)",
    )
    parser.add_argument(
        "--anchor-auth",
        action="store_true",
        help="also devpi with basic auth and verdaccio with its legacy tokens (slow: both "
        "check a password hash at every request)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    ferry = REPO / ".venv" / "bin" / "ferry"
    if not ferry.exists():
        parser.error(f"{ferry} not found: run scripts/install.sh --dev first")
    from ferry.ecosystems.pypi.uv import find_uv

    python = getattr(sys, "_base_executable", sys.executable)
    uv = str(find_uv())
    cmd = " ".join([".venv/bin/python", "bench/run_registries.py", *(argv or sys.argv[1:])])
    logs, work, config = workspace("ferry-bench-registries-")
    info = machine_info(python, uv)
    runs: list[Run] = []
    registries: list[Registry] = []
    latencies: list[dict[str, Any]] = []
    project = ""
    try:
        if args.bundle:
            archive, made_in = args.bundle.resolve(), None
        else:
            say("bundling tests/fixtures/farside (ferry bundle) ...")
            near = bundle_farside(work / "near", name="farside.zip")
            archive, made_in = near.archive, near.seconds
        wheels, tarballs = unpack(archive, work / "unpacked")
        project = (
            f"tests/fixtures/farside: {len(wheels)} Python files, {len(tarballs)} npm tarballs; "
            f"bundle {archive.stat().st_size / 1e6:.1f} MB"
            + (f", made by ferry bundle in {made_in:.1f} s" if made_in else f" ({archive})")
        )
        say(f"{project}; starting the servers")
        clients = Clients(python, uv, work, logs, args.timeout, pins())
        with contextlib.ExitStack() as stack:
            ferry_reg = stack.enter_context(ferry_registry(ferry, archive, work, config))
            devpi, devpi_auth = stack.enter_context(devpi_registry(wheels, work))
            verdaccio = stack.enter_context(verdaccio_registry(tarballs, work))
            python_regs = [ferry_reg, devpi]
            npm_regs = [ferry_reg, verdaccio]
            if args.anchor_auth:
                python_regs.append(devpi_auth)
                npm_regs.append(
                    stack.enter_context(verdaccio_registry(tarballs, work, legacy=True))
                )
            registries = list({id(r): r for r in (*python_regs, *npm_regs)}.values())
            for reg in registries:
                say(f"{reg.name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in reg.setup.items()))
            for rnd in range(args.rounds + 1):  # round 0: the warm-up
                jobs: list[tuple[Callable[[Registry, int], Run], Registry]] = []
                jobs += [(clients.pip, r) for r in rotated(python_regs, rnd)]
                if not args.no_uv:
                    jobs += [(clients.uv_pip, r) for r in rotated(python_regs, rnd)]
                jobs += [(clients.npm, r) for r in rotated(npm_regs, rnd)]
                for job, reg in jobs:
                    run = job(reg, rnd)
                    runs.append(run)
                    say(
                        f"round {rnd or 'warm-up'} {run.client} from {run.registry}: "
                        f"{run.seconds:.2f} s (server CPU {run.server_cpu:.2f} s) "
                        f"{'ok' if run.ok else 'FAILED ' + run.error}"
                    )
            if args.requests:
                say("timing every request of one install, one at a time ...")
                packages = sorted({(m["name"], m["version"]) for m in map(_package_json, tarballs)})
                latencies = request_latencies(
                    python_regs, npm_regs, list(pins()), packages, args.requests
                )
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = summarize(runs)
    report = render(rows, runs, registries, project, info, cmd, latencies)
    print(report)
    raw = {
        "info": info,
        "rows": rows,
        "runs": [asdict(r) for r in runs],
        "requests": latencies,
    }
    (logs / "results.json").write_text(json.dumps(raw, indent=2) + "\n")
    (logs / "report.md").write_text(report)
    say(f"logs and results.json in {logs.relative_to(REPO)}")
    return 0 if runs and all(r.ok for r in runs) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
