"""A malicious sdist, built by uv in the resolver sandbox of a real `ferry serve`: its
build runs, and everything it tries against the server fails. And the egress proxy's own
check of the address it connects to (DNS rebinding)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from conftest import Dists, Npm
from ferry.settings import Settings
from security.conftest import Canary, everything_said, submit
from support.serve import Server, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# An in-tree build backend: uv must run it to learn the dependencies (they are dynamic),
# and it needs nothing from any index to run.
BACKEND = """
import json, os, socket

TARGETS = json.loads(os.environ.get("X", "null") or "null") or {targets!r}


def _try_read(path):
    try:
        with open(path, "rb") as handle:
            handle.read(64)
        return "READ"
    except Exception as exc:
        return "denied:" + type(exc).__name__


def _try_write(path):
    try:
        with open(path, "w") as handle:
            handle.write("pwned")
        return "wrote-in-box"
    except Exception as exc:
        return "denied:" + type(exc).__name__


def _try_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        return "CONNECTED"
    except Exception as exc:
        return "denied:" + type(exc).__name__


def _probe():
    report = {{
        "uid": os.getuid(),
        "reads": {{p: _try_read(p) for p in TARGETS["reads"]}},
        "writes": {{p: _try_write(p) for p in TARGETS["writes"]}},
        "connects": {{str(p): _try_connect(p) for p in TARGETS["ports"]}},
        "env": sorted(k for k in os.environ if k.startswith(("FERRY", "DATABASE", "AWS"))),
        "procs": sorted(p for p in os.listdir("/proc") if p.isdigit()),
    }}
    raise SystemExit("FERRY-PROBE " + json.dumps(report, sort_keys=True) + " END")


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _probe()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _probe()
"""


def probe_sdist(dest: Path, targets: dict[str, list[object]]) -> Path:
    pyproject = (
        '[build-system]\nrequires = []\nbuild-backend = "probe_backend"\nbackend-path = ["."]\n'
        '[project]\nname = "probe"\nversion = "1.0"\ndynamic = ["dependencies"]\n'
    )
    files = {
        "pyproject.toml": pyproject,
        "probe_backend.py": BACKEND.format(targets=targets),
    }
    path = dest / "probe-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"probe-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _report(doc: dict[str, object]) -> dict[str, object]:
    text = json.dumps(doc)
    start = text.index("FERRY-PROBE ") + len("FERRY-PROBE ")
    end = text.index(" END", start)
    raw = text[start:end].encode().decode("unicode_escape")
    return json.loads(raw)  # type: ignore[no-any-return]


def test_a_malicious_build_gets_nothing_of_the_server(
    npm_settings: Settings, npmreg: Npm, pyindex: Dists, canary: Canary, tmp_path: Path
) -> None:
    data = npm_settings.data_dir
    repo = Path(__file__).resolve().parents[2]
    host_writes = [
        data / "pwned",
        data / "tasks" / "pwned",
        repo / "pwned-by-probe",
        Path("/var/tmp/pwned-by-probe"),
        npm_settings.effective_sandbox_dir / "pwned",
        npm_settings.effective_sandbox_dir / "cache" / "pwned",
    ]
    targets: dict[str, list[object]] = {
        "reads": [
            str(data / "admin-token"),
            str(data / "secret-key"),
            str(data / "ferry.db"),
            "/root/.npmrc",
            "/etc/shadow",
        ],
        "writes": [str(p) for p in host_writes],
        "ports": [5432, 6379, canary.port],
    }
    pyindex.index.add(probe_sdist(tmp_path, targets))
    server = Server(npm_settings, free_port())
    try:
        doc = submit(server, {"requirements.txt": "probe==1.0\n"})
        said = everything_said(server, doc)
    finally:
        server.stop()

    assert doc["status"] == "failed"
    assert "FERRY-PROBE" in said, said[:2000]  # the build did run, in the box
    report = _report(doc)
    if os.geteuid() == 0:
        assert report["uid"] == 65534  # unprivileged, outside the box too
    assert all(v.startswith("denied") for v in report["reads"].values()), report["reads"]
    assert all(v.startswith("denied") for v in report["connects"].values()), report
    assert report["env"] == []
    assert len(report["procs"]) < 10, report["procs"]  # its own PID namespace
    for path in host_writes:
        assert not path.exists(), path
    assert canary.requests == []
    # (the data directory's path is in the report: the probe itself named it)
    token = (data / "admin-token").read_text().strip()
    assert token not in said


def test_resolve_builds_never_runs_no_build(
    npm_settings: Settings, npmreg: Npm, pyindex: Dists, tmp_path: Path
) -> None:
    marker = "/var/tmp/ferry-probe-never"
    pyindex.index.add(probe_sdist(tmp_path, {"reads": [], "writes": [marker], "ports": []}))
    server = Server(npm_settings, free_port(), env={"FERRY_RESOLVE_BUILDS": "never"})
    try:
        doc = submit(server, {"requirements.txt": "probe==1.0\n"})
        said = everything_said(server, doc)
    finally:
        server.stop()
    assert doc["status"] == "failed"
    assert "FERRY-PROBE" not in said  # no code of the sdist ran
    problems = doc["error"].get("problems") or []
    assert any("probe" in p["message"] for p in problems), doc["error"]


def test_an_allowed_name_that_resolves_to_loopback_is_refused(
    npm_settings: Settings, npmreg: Npm, canary: Canary
) -> None:
    """allowed_hosts names localhost:<canary>, which resolves to 127.0.0.1: the name passes,
    the address does not, at the engine and at the sandbox's proxy. With the loopback
    network allowed as well, the same request goes through: the address check, not
    something else, is what stopped it."""
    url = f"http://localhost:{canary.port}/dep-1.0-py3-none-any.whl"
    env = {"FERRY_ALLOWED_HOSTS": json.dumps([f"localhost:{canary.port}"])}
    server = Server(npm_settings, free_port(), env=env)
    try:
        doc = submit(server, {"requirements.txt": f"dep @ {url}\n"})
    finally:
        server.stop()
    assert doc["status"] == "failed"
    assert "resolves to a non-public address" in json.dumps(doc)
    assert canary.requests == []

    env["FERRY_ALLOWED_NETWORKS"] = json.dumps(["127.0.0.0/8"])
    server = Server(npm_settings, free_port(), env=env)
    try:
        submit(server, {"requirements.txt": f"dep @ {url}\n"})
    finally:
        server.stop()
    assert canary.requests, "with the network allowed, the canary is asked"
