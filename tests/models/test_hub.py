"""Models published to Ferry and read back by the real ``huggingface_hub`` (0.36 and 2.x,
each in its own venv: ``scripts/install.sh --dev``), with ``HF_ENDPOINT`` pointed at Ferry
and ``HF_TOKEN`` a Ferry read token: ``snapshot_download``, ``hf_hub_download``,
``model_info``, ``list_repo_files``, by branch, version and commit; datasets the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.conftest import publish
from support.localproc import REPO
from support.serve import Server

pytestmark = pytest.mark.timeout(300)

HF_VENVS = {"0.36": REPO / ".venv-hf0.36", "2": REPO / ".venv-hf2"}
BIG = 10 * 1024 * 1024 + 3  # past the LFS threshold: sha256 is its ETag


def _files(tmp_path: Path, version: str) -> dict[str, bytes]:
    weights = hashlib.shake_256(version.encode()).digest(BIG)
    return {
        "config.json": json.dumps({"model_type": "demo", "version": version}).encode(),
        "model.safetensors": weights,
        "tokenizer/vocab.txt": b"a\nb\nc\n",
    }


def hf(venv: str, code: str, server: Server, token: str, cache: Path) -> dict[str, object]:
    """Run ``code`` with a huggingface_hub; it prints one JSON document."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        HF_ENDPOINT=server.base,
        HF_TOKEN=token,
        HF_HOME=str(cache / "home"),
        HF_HUB_CACHE=str(cache / "hub"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        NO_PROXY="127.0.0.1",
    )
    python = HF_VENVS[venv] / "bin" / "python"
    assert python.is_file(), f"{python}: run scripts/install.sh --dev"
    done = subprocess.run(
        [str(python), "-c", code], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


DOWNLOAD = """
import json, hashlib, os
from huggingface_hub import snapshot_download, hf_hub_download, HfApi, list_repo_files
api = HfApi()
info = api.model_info("acme/tiny")
by_version = api.model_info("acme/tiny", revision="1.0")
snap = snapshot_download("acme/tiny")
one = hf_hub_download("acme/tiny", "tokenizer/vocab.txt", revision=by_version.sha)
files = sorted(list_repo_files("acme/tiny"))
digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
print(json.dumps({
    "sha": info.sha, "sha_1_0": by_version.sha,
    "siblings": sorted(s.rfilename for s in info.siblings),
    "files": files,
    "snapshot": {p: digest(os.path.join(snap, p)) for p in files},
    "one": open(one).read(),
}))
"""


@pytest.mark.parametrize("venv", ["0.36", "2"])
def test_huggingface_hub_downloads_from_ferry(
    served: tuple[Server, str, str], tmp_path: Path, venv: str
) -> None:
    server, admin, reader = served
    old = _files(tmp_path, "1.0")
    new = {**old, "config.json": b'{"model_type": "demo", "version": "2.0"}'}
    first = publish(server, admin, "acme/tiny", "1.0", old)
    second = publish(server, admin, "acme/tiny", "2.0", new)
    assert first["commit"] != second["commit"]

    got = hf(venv, DOWNLOAD, server, reader, tmp_path / "cache")
    assert got["sha"] == second["commit"]  # main: the default, the last published
    assert got["sha_1_0"] == first["commit"]
    assert got["files"] == got["siblings"] == sorted(new)
    assert got["snapshot"] == {p: hashlib.sha256(d).hexdigest() for p, d in new.items()}
    assert got["one"] == "a\nb\nc\n"


DATASET = """
import json, hashlib, os
from huggingface_hub import snapshot_download, hf_hub_download, HfApi
api = HfApi()
info = api.dataset_info("acme/corpus")
snap = snapshot_download("acme/corpus", repo_type="dataset", revision="2024-01")
one = hf_hub_download("acme/corpus", "data/train.jsonl", repo_type="dataset", revision=info.sha)
files = sorted(api.list_repo_files("acme/corpus", repo_type="dataset"))
walked = [os.path.join(d, f) for d, _, fs in os.walk(snap) for f in fs]
print(json.dumps({"sha": info.sha, "files": files, "one": open(one).read(),
    "snap": sorted(os.path.relpath(p, snap) for p in walked)}))
"""


@pytest.mark.parametrize("venv", ["0.36", "2"])
def test_datasets_the_same_way(served: tuple[Server, str, str], tmp_path: Path, venv: str) -> None:
    server, admin, reader = served
    files = {"data/train.jsonl": b'{"text": "hello"}\n', "README.md": b"# corpus\n"}
    done = publish(server, admin, "acme/corpus", "2024-01", files, kind="datasets")
    got = hf(venv, DATASET, server, reader, tmp_path / "cache")
    assert got["sha"] == done["commit"]
    assert got["files"] == sorted(files)
    assert [p for p in got["snap"] if not p.startswith(".")] == sorted(files)
    assert got["one"] == '{"text": "hello"}\n'


def test_ferry_models_import_sends_only_what_changed(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    model = tmp_path / "model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "config.json").write_text('{"v": 1}')
    (model / "weights.bin").write_bytes(hashlib.shake_256(b"w").digest(2_000_000))
    (model / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    env = {**os.environ, "FERRY_URL": server.base, "FERRY_TOKEN": admin}

    def ferry(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ferry.cli.main", "models", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = ferry("import", str(model), "--id", "acme/tiny", "--version", "1.0", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["sent"] == 3  # not .git
    (model / "config.json").write_text('{"v": 2}')
    second = ferry("import", str(model), "--id", "acme/tiny", "--version", "2.0", "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["sent"] == 1
    shown = json.loads(ferry("show", "acme/tiny", "--json").stdout)
    assert [v["version"] for v in shown["versions"]] == ["2.0", "1.0"]
    assert shown["default_version"] == "2.0"
    # a read token cannot publish, and says so
    env["FERRY_TOKEN"] = reader
    refused = ferry("import", str(model), "--id", "acme/tiny", "--version", "3.0")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
