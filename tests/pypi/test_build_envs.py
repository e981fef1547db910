"""Every sdist gets its own build environment in the bundle, resolved as pip's isolated
build of that sdist will install it: two sdists that want build backends which cannot
coexist both build offline, and a backend may want another version of a package than the
installed set has."""

from __future__ import annotations

import asyncio
import gzip
import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import write
from ferry.ecosystems.pypi.distmeta import build_needs, build_requirements
from ferry.ecosystems.pypi.model import TargetResolution
from ferry.manifests import RUNTIME_ONLY
from ferry.services.bundle import bundle_python
from ferry.services.python_bundle import resolve_python
from ferry.settings import Settings, load_settings
from ferry.targets import host_target
from support.offline import needs_unshare
from support.offline import offline as _offline
from support.pyindex import BACKEND_MODULE, BACKEND_SOURCE, LocalIndex, build_sdist, build_wheel


def _legacy_sdist(dest: Path, name: str, version: str, extra: dict[str, bytes]) -> Path:
    """An sdist with no pyproject.toml at all: pip builds it with setuptools and wheel.
    Its metadata is static (2.2), so uv reads it rather than building the sdist."""
    base = f"{name}-{version}"
    files = {
        "PKG-INFO": (f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\n").encode(),
        "setup.py": b"from setuptools import setup\nsetup()\n",
        **extra,
    }
    path = dest / f"{base}.tar.gz"
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf,
    ):
        for arcname, data in files.items():
            info = tarfile.TarInfo(f"{base}/{arcname}")
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    dist = tmp_path_factory.mktemp("build-env-dists")
    backend = {f"{BACKEND_MODULE}.py": BACKEND_SOURCE}
    with LocalIndex() as idx:
        idx.add(build_wheel(dist, "ferry-test-backend", "1.0", modules=backend))
        # the newer backend pins another dep than the installed set has
        idx.add(
            build_wheel(
                dist, "ferry-test-backend", "2.0", requires_dist=["dep==2.0"], modules=backend
            )
        )
        idx.add(build_wheel(dist, "dep", "1.0"))
        idx.add(build_wheel(dist, "dep", "2.0"))
        idx.add(build_sdist(dist, "needsold", "1.0", build_requires=["ferry-test-backend<2"]))
        idx.add(build_sdist(dist, "needsnew", "1.0", build_requires=["ferry-test-backend>=2"]))
        idx.add(build_wheel(dist, "setuptools", "70.0.0"))
        idx.add(build_wheel(dist, "wheel", "0.44.0"))
        idx.add(_legacy_sdist(dist, "legacyext", "1.0", {"src/fast.c": b"int x;\n"}))
        yield idx


@pytest.fixture
def env_settings(tmp_path: Path, index: LocalIndex, sandbox_dir: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        index_url=index.url,
        use_machine_config=False,
        concurrency=8,
        retries=2,
        sandbox_dir=sandbox_dir,
    )


def _resolve(settings: Settings, manifest: Path) -> TargetResolution:
    outcome = asyncio.run(resolve_python(settings, [manifest], [host_target()], RUNTIME_ONLY))
    return outcome.resolution.targets[0]


def _build(result: TargetResolution) -> dict[str, tuple[str, ...]]:
    return {key: pkg.build_for for key, pkg in result.build.items()}


def test_conflicting_build_backends_each_get_their_own(
    env_settings: Settings, tmp_path: Path
) -> None:
    req = write(tmp_path / "requirements.txt", "needsold\nneedsnew\ndep==1.0\n")
    result = _resolve(env_settings, req)
    assert set(result.packages) == {"needsold", "needsnew", "dep"}
    assert result.packages["dep"].version == "1.0"
    assert _build(result) == {
        "ferry-test-backend==1.0": ("needsold 1.0",),
        "ferry-test-backend==2.0": ("needsnew 1.0",),
        # the installed dep is 1.0; the newer backend's own build environment wants 2.0
        "dep==2.0": ("needsnew 1.0",),
    }
    assert all(p.build_only for p in result.build.values())
    assert not [p for p in result.problems if p.severity == "error"]
    # the document the UI and API show lists both dep versions, the second as build-only
    deps = [p for p in result.to_dict()["packages"] if p["name"] == "dep"]  # type: ignore[union-attr,index]
    assert [(p["version"], p["build_only"]) for p in deps] == [("1.0", False), ("2.0", True)]


def test_legacy_sdist_gets_setuptools_and_wheel_and_says_what_it_needs(
    env_settings: Settings, tmp_path: Path
) -> None:
    req = write(tmp_path / "requirements.txt", "legacyext\n")
    result = _resolve(env_settings, req)
    assert _build(result) == {
        "setuptools==70.0.0": ("legacyext 1.0",),
        "wheel==0.44.0": ("legacyext 1.0",),
    }
    needs = result.packages["legacyext"].needs
    assert needs and "a C compiler" in needs[0]
    warning = next(p for p in result.problems if p.kind == "no-wheel-for-target")
    assert "setuptools>=40.8.0, wheel" in warning.message and "C compiler" in warning.message


def test_the_projects_own_build_system_is_bundled(env_settings: Settings, tmp_path: Path) -> None:
    pyproject = write(
        tmp_path / "proj" / "pyproject.toml",
        '[build-system]\nrequires = ["ferry-test-backend>=2"]\n'
        'build-backend = "ferry_test_backend"\n\n'
        '[project]\nname = "proj"\nversion = "0.1"\ndependencies = ["dep==1.0"]\n',
    )
    result = _resolve(env_settings, pyproject)
    assert set(result.packages) == {"dep"}
    assert _build(result) == {
        "ferry-test-backend==2.0": ("the project",),
        "dep==2.0": ("the project",),
    }


def test_unresolvable_build_requirements_name_the_sdist(
    env_settings: Settings, tmp_path: Path, index: LocalIndex
) -> None:
    dist = tmp_path / "more"
    index.add(build_sdist(dist, "needsnothing", "1.0", build_requires=["no-such-backend"]))
    req = write(tmp_path / "requirements.txt", "needsnothing\n")
    result = _resolve(env_settings, req)
    error = next(p for p in result.problems if p.severity == "error")
    assert error.package == "needsnothing"
    assert "the build requirements of needsnothing 1.0 (no-such-backend)" in error.message


@pytest.mark.acceptance
@pytest.mark.slow
@needs_unshare
def test_both_sdists_build_offline_with_their_own_backends(
    env_settings: Settings, tmp_path: Path
) -> None:
    req = write(tmp_path / "proj" / "requirements.txt", "needsold\nneedsnew\ndep==1.0\n")
    out = tmp_path / "bundle.zip"
    asyncio.run(bundle_python(env_settings, [req], [host_target()], out, "zip"))
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "unpacked")
    root = tmp_path / "unpacked" / "bundle"
    project = tmp_path / "target"
    proc = _offline(["sh", str(root / "install.sh"), str(project)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = _offline(
        [
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import needsold, needsnew, dep, importlib.metadata as m; "
            "print(m.version('dep'), sorted(d.metadata['Name'] for d in m.distributions()))",
        ],
        tmp_path,
    )
    assert check.returncode == 0, check.stderr
    # the build-only dep 2.0 and both backends built the sdists, and none is installed
    assert check.stdout.split(" ", 1)[0] == "1.0"
    assert "ferry-test-backend" not in check.stdout


@pytest.mark.acceptance
@pytest.mark.slow
@needs_unshare
def test_a_failed_build_names_the_sdist_and_what_it_needs(
    env_settings: Settings, tmp_path: Path
) -> None:
    # the index's setuptools is an empty stand-in: the build fails on the target as a
    # build without its compiler would, and the installer says which sdist and why
    req = write(tmp_path / "proj" / "requirements.txt", "legacyext\n")
    out = tmp_path / "bundle.zip"
    asyncio.run(bundle_python(env_settings, [req], [host_target()], out, "zip"))
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "unpacked")
    root = tmp_path / "unpacked" / "bundle"
    proc = _offline(["sh", str(root / "install.sh"), str(tmp_path / "target")], tmp_path)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "built from source" in proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.strip().startswith("legacyext 1.0"))
    assert "needs a C compiler" in line


def test_needs_from_an_sdists_files() -> None:
    assert build_needs(["pkg/__init__.py", "README"], {}) == []
    c = build_needs(["src/a.c", "src/b.c"], {})
    assert len(c) == 1 and "C compiler" in c[0]
    rust = build_needs(["Cargo.toml"], {})
    assert "Rust" in rust[0]
    pg = build_needs(["setup.py"], {"setup.py": b"os.popen('pg_config --includedir')"})
    assert "libpq" in pg[0]
    maturin = build_needs([], {"pyproject.toml": b'requires = ["maturin>=1"]'})
    assert "Rust" in maturin[0]
    fortran_and_meson = build_needs(["meson.build", "lib/x.f90"], {})
    assert len(fortran_and_meson) == 2
    # numpy's shape: Cython and C in the package; Fortran only in its tests, Rust and
    # CMake only in the test projects of its vendored Meson
    numpy = build_needs(
        [
            "numpy-2.5/numpy/random/_generator.pyx",
            "numpy-2.5/numpy/_core/src/multiarray/ctors.c",
            "numpy-2.5/numpy/f2py/tests/src/x.f90",
            "numpy-2.5/vendored-meson/meson/test cases/rust/1 basic/Cargo.toml",
            "numpy-2.5/vendored-meson/meson/test cases/cmake/1 basic/CMakeLists.txt",
            "numpy-2.5/meson.build",
        ],
        {},
    )
    assert numpy == [
        "Cython",
        "a C compiler and Python headers (Debian: gcc python3-dev)",
        "Meson and Ninja",
    ]


def test_build_requirements_of_a_build_system_table() -> None:
    assert build_requirements(None) == ["setuptools>=40.8.0", "wheel"]
    assert build_requirements({"requires": ["setuptools>=61"]}) == ["setuptools>=61", "wheel"]
    assert build_requirements({"requires": ["hatchling"], "build-backend": "hatchling.build"}) == [
        "hatchling"
    ]
    # pip refuses a table without `requires`; Ferry bundles the legacy pair and lets pip say so
    assert build_requirements({"build-backend": "flit_core.buildapi"}) == [
        "setuptools>=40.8.0",
        "wheel",
    ]


@pytest.mark.acceptance
@pytest.mark.slow
@needs_unshare
def test_the_project_itself_installs_offline_with_its_own_backend(
    env_settings: Settings, tmp_path: Path
) -> None:
    """`pip install .` of the project, after install.sh, with the network off: its
    [build-system] (here a backend whose newer release wants dep 2.0 while the project
    runs on dep 1.0) comes from the bundle."""
    project_dir = tmp_path / "proj"
    pyproject = write(
        project_dir / "pyproject.toml",
        '[build-system]\nrequires = ["ferry-test-backend>=2"]\n'
        'build-backend = "ferry_test_backend"\n\n'
        '[project]\nname = "proj"\nversion = "0.1"\ndependencies = ["dep==1.0"]\n',
    )
    write(project_dir / "proj" / "__init__.py", "ANSWER = 42\n")
    out = tmp_path / "bundle.zip"
    asyncio.run(bundle_python(env_settings, [pyproject], [host_target()], out, "zip"))
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "unpacked")
    root = tmp_path / "unpacked" / "bundle"
    proc = _offline(["sh", str(root / "install.sh"), str(project_dir)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    python = str(project_dir / ".venv" / "bin" / "python")
    own = _offline(
        [python, "-m", "pip", "install", "--no-index", "--find-links",
         str(root / "python-packages"), str(project_dir)],
        tmp_path,
    )  # fmt: skip
    assert own.returncode == 0, own.stdout + own.stderr
    script = "import proj, importlib.metadata as m; print(proj.ANSWER, m.version('dep'))"
    check = _offline([python, "-c", script], tmp_path)
    assert check.stdout.split() == ["42", "1.0"], check.stderr
