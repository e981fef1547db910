"""Models across the gap: ``ferry bundle --model`` on the connected side (pulling from a
Hub-compatible endpoint), ``ferry import`` on the far side, and huggingface_hub reading
the result from the far side's Ferry; bundles that lie about a model are refused whole."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ferry.errors import ExitCode
from models.conftest import publish
from models.test_hub import hf
from support.bundles import manifest_of, repack
from support.serve import Server

pytestmark = pytest.mark.timeout(300)

BIG = hashlib.shake_256(b"carried").digest(10 * 1024 * 1024 + 1)
FILES = {"model.safetensors": BIG, "config.json": b'{"c": 1}', "tok/vocab.txt": b"v\n"}


def _ferry(*args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "FERRY_"))}
    env.update(HF_TOKEN=token, NO_PROXY="127.0.0.1")
    return subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def carried(served: tuple[Server, str, str], tmp_path: Path) -> Path:
    """A bundle of acme/tiny 1.0, pulled from the served Ferry and packed."""
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    out = tmp_path / "models.zip"
    made = _ferry(
        "bundle",
        "-o",
        str(out),
        "--model",
        "acme/tiny@1.0",
        "--endpoint",
        server.base,
        "--data-dir",
        str(tmp_path / "near"),
        token=reader,
    )
    assert made.returncode == 0, made.stderr
    return out


def test_a_model_crosses_in_a_bundle(carried: Path, tmp_path: Path, settings: object) -> None:
    doc = manifest_of(carried)
    assert doc["models"][0]["id"] == "acme/tiny" and doc["models"][0]["version"] == "1.0"
    with zipfile.ZipFile(carried) as zf:
        root = zf.namelist()[0].split("/")[0]
        assert zf.read(f"{root}/models/model/acme/tiny/1.0/model.safetensors") == BIG
    far = tmp_path / "far"
    done = _ferry("import", str(carried), "--data-dir", str(far))
    assert done.returncode == 0, done.stderr
    # the far side's Ferry serves it to huggingface_hub
    from ferry.settings import load_settings

    server = Server(load_settings(None, data_dir=far))
    try:
        reader = server.client.post(
            "/api/tokens", json={"name": "r", "role": "read", "owner": "r"}
        ).json()["token"]
        got = hf(
            "2",
            "import json, hashlib, os\n"
            "from huggingface_hub import snapshot_download\n"
            "p = snapshot_download('acme/tiny', revision='1.0')\n"
            "print(json.dumps({f: hashlib.sha256(open(os.path.join(p, f), 'rb').read())"
            ".hexdigest() for f in ['model.safetensors', 'config.json', 'tok/vocab.txt']}))",
            server,
            reader,
            tmp_path / "cache",
        )
    finally:
        server.stop()
    assert got == {p: hashlib.sha256(d).hexdigest() for p, d in FILES.items()}
    # the same bundle again adds nothing
    again = _ferry("import", str(carried), "--data-dir", str(far))
    assert again.returncode == 0 and "imported before" in again.stdout


def _model_member(name: str) -> bool:
    return name.startswith("models/")


def test_a_tampered_model_file_is_refused(carried: Path, tmp_path: Path) -> None:
    def flip(name: str, data: bytes) -> bytes:
        return (
            data[:-1] + bytes([data[-1] ^ 1])
            if name.endswith("config.json") and _model_member(name)
            else data
        )

    bad = repack(carried, tmp_path / "tampered.zip", flip)
    done = _ferry("import", str(bad), "--data-dir", str(tmp_path / "far"))
    assert done.returncode == ExitCode.INTEGRITY
    assert "models/model/acme/tiny/1.0/config.json has sha256" in done.stdout


def test_a_model_member_elsewhere_than_its_fields_say_is_refused(
    carried: Path, tmp_path: Path
) -> None:
    def move(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        doc = json.loads(data)
        for r in doc["files"]:
            if r.get("file") == "config.json":
                r["file"] = "../../../etc/config.json"
        return json.dumps(doc).encode()

    bad = repack(carried, tmp_path / "moved.zip", move, fix_sums=True)
    done = _ferry("import", str(bad), "--data-dir", str(tmp_path / "far"))
    assert done.returncode == ExitCode.INTEGRITY
    assert "path" in done.stdout and "Traceback" not in done.stderr


def test_a_version_held_with_other_files_is_refused(
    carried: Path, served: tuple[Server, str, str], tmp_path: Path
) -> None:
    far = tmp_path / "far"
    assert _ferry("import", str(carried), "--data-dir", str(far)).returncode == 0

    def change(name: str, data: bytes) -> bytes:
        if name.endswith("tok/vocab.txt"):
            return b"other\n"
        if name == "manifest.json":
            doc = json.loads(data)
            for r in doc["files"]:
                if r.get("file") == "tok/vocab.txt":
                    r["sha256"] = hashlib.sha256(b"other\n").hexdigest()
                    r["size"] = 6
            return json.dumps(doc).encode()
        return data

    other = repack(carried, tmp_path / "other.zip", change, fix_sums=True)
    done = _ferry("import", str(other), "--data-dir", str(far))
    assert done.returncode == ExitCode.INTEGRITY
    assert "acme/tiny 1.0 is held already with other files" in done.stdout


def test_a_model_this_side_lacks_needs_an_endpoint(tmp_path: Path) -> None:
    done = _ferry(
        "bundle",
        "-o",
        str(tmp_path / "x.zip"),
        "--model",
        "acme/nothing",
        "--data-dir",
        str(tmp_path / "d"),
    )
    assert done.returncode == ExitCode.USAGE
    assert "not in this side's catalog" in done.stderr
    assert not (tmp_path / "x.zip").exists()
