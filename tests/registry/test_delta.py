"""Delta bundles: the far side says what its registries hold (``ferry inventory``), the
near side ships only the rest (``ferry bundle --exclude-present``), and the import checks
that afterwards everything the project needs is there.

Two successive bundles of a growing project: the first carries ``dep`` (Python) and ``app``
(npm); the second adds ``app`` and ``lib==2.0`` (Python) and ``@demo/native`` (npm), and
carries exactly the files the first did not.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import write
from ferry.cli.main import main
from ferry.errors import ExitCode, UsageError
from ferry.registry.inventory import Inventory
from ferry.services.bundle import BundlePlan, bundle
from ferry.settings import Settings
from registry.conftest import LINUX_NODE, LINUX_PY
from support.bundles import manifest_of, repack
from support.serve import Server

pytestmark = pytest.mark.timeout(300)


def _bundle(
    settings: Settings,
    project: Path,
    requirements: str,
    deps: dict[str, str],
    out: Path,
    have: Path | None = None,
) -> Path:
    pkg = write(
        project / "package.json",
        json.dumps({"name": "demo", "version": "1.0.0", "dependencies": deps}),
    )
    reqs = write(project / "requirements.txt", requirements)
    plan = BundlePlan(
        [pkg, reqs],
        python_targets=[LINUX_PY],
        node_target=LINUX_NODE,
        present=Inventory.load(have) if have is not None else None,
    )
    asyncio.run(bundle(settings, plan, out, "zip"))
    return out


def _served(bundle_path: Path) -> dict[str, int]:
    """The registry files a bundle ships: name → size."""
    with zipfile.ZipFile(bundle_path) as zf:
        return {
            i.filename.split("/", 1)[1]: i.file_size
            for i in zf.infolist()
            if i.filename.split("/")[1] in ("python-packages", "npm-packages")
            and i.filename.endswith((".whl", ".tar.gz", ".zip", ".tgz"))
        }


def _inventory(far: Path, tmp_path: Path) -> Path:
    have = tmp_path / "have.json"
    assert main(["inventory", "-o", str(have), "--data-dir", str(far)]) == ExitCode.OK
    return have


def test_the_second_bundle_carries_only_the_difference(
    npm_settings: Settings, made: Path, tmp_path: Path
) -> None:
    far = tmp_path / "far"
    # app needs lib, which 1.0 satisfies, and the grown project pins lib==2.0: so the
    # first bundle starts from dep 1.0 alone on the Python side
    first = _bundle(
        npm_settings, tmp_path / "v1", "dep==1.0\n", {"app": "^1.0.0"}, tmp_path / "v1.zip"
    )
    assert main(["import", str(first), "--data-dir", str(far)]) == ExitCode.OK
    have = _inventory(far, tmp_path)
    listed = json.loads(have.read_text())["files"]
    assert {f["filename"] for f in listed} >= {"app/-/app-1.0.0.tgz"}
    assert all(len(f["sha256"]) == 64 for f in listed)

    # the grown project: made's inputs (app, lib==2.0; app, @demo/native)
    second = _bundle(
        npm_settings,
        tmp_path / "v2",
        "app\nlib==2.0\n",
        {"app": "^1.0.0", "@demo/native": "1.0.0"},
        tmp_path / "v2.zip",
        have,
    )
    full, one, delta = _served(made), _served(first), _served(second)
    assert one and set(one) < set(full)
    # smaller by exactly the files the first already carried
    assert delta == {name: size for name, size in full.items() if name not in one}
    assert second.stat().st_size < made.stat().st_size

    # manifest.json still lists the whole set; what is not shipped is marked present
    doc = manifest_of(second)
    records = {r["path"]: r for r in doc["files"] if not r.get("prebuilt")}
    assert {p for p, r in records.items() if r.get("present")} == set(one)
    assert set(records) == set(full)
    assert doc["delta"]["present_files"] == len(one)
    assert doc["delta"]["present_bytes"] == sum(one.values())
    # and it says it cannot install alone
    with zipfile.ZipFile(second) as zf:
        script = zf.read("v2/install.sh").decode()
    assert "delta bundle" in script

    # the import checks what it leaves out is held, and afterwards a full install works
    assert main(["import", str(second), "--data-dir", str(far)]) == ExitCode.OK
    after = {f["filename"] for f in json.loads(_inventory(far, tmp_path).read_text())["files"]}
    assert "@demo/native/-/native-1.0.0.tgz" in after
    assert any(name.startswith("lib-2.0") for name in after)
    _pip_installs_everything(npm_settings.model_copy(update={"data_dir": far}), tmp_path)


def _pip_installs_everything(settings: Settings, tmp_path: Path) -> None:
    server = Server(settings)
    try:
        token = server.client.post(
            "/api/tokens", json={"name": "ci", "role": "read", "owner": "ci"}
        ).json()["token"]
        host = server.base.removeprefix("http://")
        env = {"PIP_CONFIG_FILE": "/dev/null", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--target",
                str(tmp_path / "site"),
                "--index-url",
                f"http://__token__:{token}@{host}/simple/",
                "app",
                "lib==2.0",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        names = {
            p.name.split("-")[0]
            for p in (tmp_path / "site").iterdir()
            if p.name.endswith(".dist-info")
        }
        assert {"app", "lib", "dep", "native"} <= names
    finally:
        server.stop()


def test_a_delta_for_a_far_side_that_lacks_the_rest_is_refused(
    npm_settings: Settings, tmp_path: Path
) -> None:
    """A delta bundle imported where the files it left out are not: refused whole,
    naming them, and nothing of it kept."""
    far = tmp_path / "far"
    first = _bundle(npm_settings, tmp_path / "v1", "app\n", {"app": "^1.0.0"}, tmp_path / "v1.zip")
    assert main(["import", str(first), "--data-dir", str(far)]) == ExitCode.OK
    have = _inventory(far, tmp_path)
    second = _bundle(
        npm_settings,
        tmp_path / "v2",
        "app\nlib==2.0\n",
        {"app": "^1.0.0"},
        tmp_path / "v2.zip",
        have,
    )
    elsewhere = tmp_path / "elsewhere"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferry.cli.main",
            "import",
            str(second),
            "--data-dir",
            str(elsewhere),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == int(ExitCode.INTEGRITY)
    assert "it was made for a registry holding" in proc.stdout
    assert "app-1.0.0.tgz" in proc.stdout or "app-1.0" in proc.stdout
    empty = subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", "inventory", "--data-dir", str(elsewhere)],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    assert json.loads(empty.stdout)["files"] == []


def test_a_present_file_held_with_other_bytes_is_refused(
    npm_settings: Settings, made: Path, tmp_path: Path
) -> None:
    far = tmp_path / "far"
    assert main(["import", str(made), "--data-dir", str(far)]) == ExitCode.OK
    have = _inventory(far, tmp_path)
    doc = json.loads(have.read_text())
    wheel = next(f for f in doc["files"] if f["filename"].startswith("app-"))
    # a bundle made against that inventory, then one of its present files made to
    # claim other bytes than the far side holds
    delta = _bundle(
        npm_settings,
        tmp_path / "v2",
        "app\nlib==2.0\n",
        {"app": "^1.0.0", "@demo/native": "1.0.0"},
        tmp_path / "delta.zip",
        have,
    )

    def claim(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        m = json.loads(data)
        for r in m["files"]:
            if r["path"].endswith(wheel["filename"]):
                assert r.get("present")
                r["sha256"] = "1" * 64
        return json.dumps(m).encode()

    bad = repack(delta, tmp_path / "claims.zip", claim, fix_sums=True)
    proc = subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", "import", str(bad), "--data-dir", str(far)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == int(ExitCode.INTEGRITY)
    assert f"{wheel['filename']} is held already with other bytes" in proc.stdout


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("not json", "not JSON"),
        ('{"format": "other"}', "not an inventory written by ferry inventory"),
        ('{"format": "ferry-inventory/1", "files": {}}', "files must be a list"),
        ('{"format": "ferry-inventory/1", "files": [1]}', "files[0] is not an object"),
        (
            '{"format": "ferry-inventory/1", "files": [{"ecosystem": "cargo"}]}',
            "files[0].ecosystem is 'cargo'",
        ),
        (
            '{"format": "ferry-inventory/1", "files": [{"ecosystem": "pypi", "filename": "a.whl",'
            ' "sha256": "XYZ", "size": 1}]}',
            "files[0].sha256 is not a lowercase hex sha256",
        ),
        (
            '{"format": "ferry-inventory/1", "files": [{"ecosystem": "npm", "filename": "a",'
            f' "sha256": "{"a" * 64}", "size": -1}}]}}',
            "files[0].size is not a byte count",
        ),
    ],
)
def test_a_bad_inventory_is_named(tmp_path: Path, content: str, said: str) -> None:
    have = tmp_path / "have.json"
    have.write_text(content)
    with pytest.raises(UsageError) as caught:
        Inventory.load(have)
    assert str(have) in caught.value.message and said in caught.value.message


def test_bundle_reads_the_inventory_before_resolving(tmp_path: Path) -> None:
    reqs = write(tmp_path / "requirements.txt", "app\n")
    missing = tmp_path / "nope.json"
    assert (
        main(
            ["bundle", str(reqs), "-o", str(tmp_path / "b.zip"), "--exclude-present", str(missing)]
        )
        == ExitCode.USAGE
    )
    assert not (tmp_path / "b.zip").exists()


def test_export_carries_a_registry_to_another_far_side(
    npm_settings: Settings, made: Path, tmp_path: Path
) -> None:
    """One far side's registries exported whole, imported by another: the same files,
    byte for byte; exported again against the second's inventory: nothing to carry."""
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["import", str(made), "--data-dir", str(first)]) == ExitCode.OK
    exported = tmp_path / "registry.tar.zst"
    assert main(["export", "-o", str(exported), "--data-dir", str(first)]) == ExitCode.OK
    assert main(["import", str(exported), "--data-dir", str(second)]) == ExitCode.OK

    def held(far: Path) -> set[tuple[str, str, str]]:
        doc = json.loads(_inventory(far, tmp_path).read_text())
        return {(f["ecosystem"], f["filename"], f["sha256"]) for f in doc["files"]}

    assert held(second) == held(first) and len(held(first)) >= 9
    have = _inventory(second, tmp_path)
    delta = tmp_path / "delta.zip"
    assert (
        main(["export", "-o", str(delta), "--exclude-present", str(have), "--data-dir", str(first)])
        == ExitCode.OK
    )
    assert _served(delta) == {}
    assert all(r.get("present") for r in manifest_of(delta)["files"])
    # and that delta imports where everything is held
    assert main(["import", str(delta), "--data-dir", str(second)]) == ExitCode.OK


def test_export_refuses_a_blob_that_changed_in_the_store(
    npm_settings: Settings, made: Path, tmp_path: Path
) -> None:
    far = tmp_path / "far"
    assert main(["import", str(made), "--data-dir", str(far)]) == ExitCode.OK
    doc = json.loads(_inventory(far, tmp_path).read_text())
    victim = doc["files"][0]
    sha = victim["sha256"]
    blob = far / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    assert blob.is_file()
    blob.chmod(0o644)
    blob.write_bytes(b"rotten")
    out = tmp_path / "out.zip"
    assert main(["export", "-o", str(out), "--data-dir", str(far)]) == ExitCode.INTEGRITY
    assert not out.exists()
