"""How packages are chosen: wheels or sources (pip's --only-binary, --no-binary,
--prefer-binary, from the command line and from requirements files), a date to resolve as
of (--exclude-newer), a PyTorch backend (--torch-backend) from the operator's index."""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import write
from ferry.cli.main import main
from ferry.ecosystems.pypi.model import TargetResolution
from ferry.ecosystems.pypi.options import (
    FormatControl,
    OptionError,
    PythonOptions,
    parse_exclude_newer,
    parse_torch_backend,
)
from ferry.ecosystems.pypi.sources import IndexSources
from ferry.ecosystems.pypi.uv import torch_index_url
from ferry.errors import ExitCode, ManifestError
from ferry.manifests import RUNTIME_ONLY
from ferry.manifests.requirements_txt import parse
from ferry.services.bundle import BundlePlan, bundle
from ferry.services.python_bundle import resolve_python
from ferry.settings import Settings, load_settings
from ferry.targets import PythonTarget, host_target
from support.offline import needs_unshare, offline
from support.pyindex import BACKEND_MODULE, BACKEND_SOURCE, LocalIndex, build_sdist, build_wheel

LINUX_OLD = PythonTarget.parse("3.11", "manylinux_2_17_x86_64")
WINDOWS = PythonTarget.parse("3.11", "win_amd64")
HOST = host_target()
_OLD = datetime(2020, 1, 1, tzinfo=UTC)
_NEW = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    """`fast` 1.0 has wheels (old manylinux and Windows) and an sdist; 2.0 only an sdist
    (as greenlet's newest release for old glibc). `dated` 1.0 is from 2020, 2.0 from 2024."""
    dist = tmp_path_factory.mktemp("choice-dists")
    host_tag = f"cp{HOST.python_version.replace('.', '')}-none-{HOST.platform}"
    with LocalIndex() as idx:
        idx.add(
            build_wheel(
                dist, "ferry-test-backend", "1.0", modules={f"{BACKEND_MODULE}.py": BACKEND_SOURCE}
            )
        )
        for tag in (
            "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "cp311-cp311-win_amd64",
            host_tag,
        ):
            idx.add(build_wheel(dist, "fast", "1.0", tag=tag), upload_time=_OLD)
        for version in ("1.0", "2.0"):
            sdist = build_sdist(dist, "fast", version, build_requires=["ferry-test-backend"])
            idx.add(sdist, upload_time=_OLD)
        idx.add(build_wheel(dist, "dated", "1.0"), upload_time=_OLD)
        idx.add(build_wheel(dist, "dated", "2.0"), upload_time=_NEW)
        idx.add(build_sdist(dist, "onlysrc", "1.0", build_requires=["ferry-test-backend"]))
        yield idx


@pytest.fixture
def choice_settings(tmp_path: Path, index: LocalIndex, sandbox_dir: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        index_url=index.url,
        use_machine_config=False,
        sandbox_dir=sandbox_dir,
    )


def _resolve(
    settings: Settings, manifest: Path, options: PythonOptions, *targets: PythonTarget
) -> list[TargetResolution]:
    outcome = asyncio.run(
        resolve_python(
            settings, [manifest], list(targets) or [LINUX_OLD], RUNTIME_ONLY, options=options
        )
    )
    return outcome.resolution.targets


def _files(result: TargetResolution) -> dict[str, str]:
    return {name: p.file.filename for name, p in result.packages.items()}


# ----------------------------------------------------------------- format control


def test_format_control_follows_pips_rules() -> None:
    fc = FormatControl().apply("--only-binary", ":all:")
    assert not fc.allows_sdist("anything") and fc.allows_wheel("anything")
    # a name given to the other option is the exception to :all:
    fc = fc.apply("--no-binary", "Psycopg2")
    assert fc.allows_sdist("psycopg2") and not fc.allows_wheel("psycopg2")
    assert not fc.allows_sdist("numpy")
    # ...and moves back when named again
    fc = fc.apply("--only-binary", "psycopg2")
    assert not fc.allows_sdist("psycopg2")
    # :all: on one side clears both; :none: clears its own side
    fc = fc.apply("--no-binary", ":all:")
    assert fc.only_binary == frozenset() and fc.no_binary == {":all:"}
    assert fc.apply("--no-binary", ":none:") == FormatControl()
    assert fc.uv_args() == ["--no-binary", ":all:"]
    with pytest.raises(OptionError, match="'a b' is not a package name"):
        FormatControl().apply("--only-binary", "a b")
    with pytest.raises(OptionError, match="needs a value"):
        FormatControl().apply("--no-binary", "--pre")


def test_dates_and_backends_are_checked() -> None:
    assert parse_exclude_newer("2024-03-01") == "2024-03-01T00:00:00Z"
    assert parse_exclude_newer("2024-03-01T12:00:00+02:00") == "2024-03-01T10:00:00Z"
    with pytest.raises(OptionError, match="no time zone"):
        parse_exclude_newer("2024-03-01T12:00:00")
    with pytest.raises(OptionError, match="--exclude-newer: 'last week' is not a date"):
        parse_exclude_newer("last week")
    assert parse_torch_backend("CU126") == "cu126"
    assert parse_torch_backend("rocm6.3") == "rocm6.3"
    with pytest.raises(OptionError, match="this machine's GPU"):
        parse_torch_backend("auto")
    with pytest.raises(OptionError, match="not a PyTorch backend"):
        parse_torch_backend("cuda")
    sources = IndexSources(index_url="http://127.0.0.1:1/simple/", torch_index="http://m/{backend}")
    assert torch_index_url(sources, "cu126") == "http://m/cu126"


def test_requirements_file_lines_apply_and_bad_ones_name_the_line(tmp_path: Path) -> None:
    req = write(
        tmp_path / "requirements.txt",
        "--only-binary :all:\n--no-binary=onlysrc\n--prefer-binary\nfast\n",
    )
    pyinput = parse(req, RUNTIME_ONLY)
    assert pyinput.file_options.format_lines == [
        ("--only-binary", ":all:"),
        ("--no-binary", "onlysrc"),
    ]
    assert pyinput.file_options.prefer_binary
    # the command line's word comes after the file's
    chosen = PythonOptions.build(only_binary=["onlysrc"]).over(pyinput.file_options)
    assert not chosen.formats.allows_sdist("onlysrc") and chosen.prefer_binary

    bad = write(tmp_path / "bad" / "requirements.txt", "fast\n--only-binary ,nope!\n")
    with pytest.raises(ManifestError) as info:
        parse(bad, RUNTIME_ONLY)
    assert "bad/requirements.txt:2:" in str(info.value)
    assert "'nope!' is not a package name" in str(info.value)


# ----------------------------------------------------------------- resolution


def test_only_binary_takes_the_newest_release_with_a_wheel_per_target(
    choice_settings: Settings, tmp_path: Path
) -> None:
    req = write(tmp_path / "requirements.txt", "fast\n")
    (plain,) = _resolve(choice_settings, req, PythonOptions())
    assert _files(plain) == {"fast": "fast-2.0.tar.gz"}

    wheels = PythonOptions.build(only_binary=[":all:"])
    linux, windows = _resolve(choice_settings, req, wheels, LINUX_OLD, WINDOWS)
    assert _files(linux)["fast"].startswith("fast-1.0-cp311-cp311-manylinux_2_17")
    assert _files(windows)["fast"] == "fast-1.0-cp311-cp311-win_amd64.whl"
    assert not linux.build  # nothing to build on the target, so no backend either


def test_only_binary_fails_clearly_where_no_release_has_a_wheel(
    choice_settings: Settings, tmp_path: Path
) -> None:
    req = write(tmp_path / "requirements.txt", "onlysrc\n")
    (result,) = _resolve(choice_settings, req, PythonOptions.build(only_binary=["onlysrc"]))
    (problem,) = result.problems
    assert problem.severity == "error" and "onlysrc" in problem.message


def test_no_binary_takes_the_sdist_even_where_a_wheel_fits(
    choice_settings: Settings, tmp_path: Path
) -> None:
    req = write(tmp_path / "requirements.txt", "fast==1.0\n")
    (result,) = _resolve(choice_settings, req, PythonOptions.build(no_binary=["fast"]))
    assert _files(result) == {"fast": "fast-1.0.tar.gz"}
    assert "ferry-test-backend==1.0" in result.build


def test_prefer_binary_takes_an_older_wheel_and_says_so(
    choice_settings: Settings, tmp_path: Path
) -> None:
    req = write(tmp_path / "requirements.txt", "fast\nonlysrc\n")
    (result,) = _resolve(choice_settings, req, PythonOptions(prefer_binary=True))
    # fast: an older release has a wheel; onlysrc has none at all, so its sdist stays
    assert _files(result)["fast"].startswith("fast-1.0-")
    assert _files(result)["onlysrc"] == "onlysrc-1.0.tar.gz"
    info = [p for p in result.problems if p.kind == "prefer-binary"]
    assert [p.package for p in info] == ["fast"] and info[0].severity == "info"
    assert "chosen over 2.0" in info[0].message


def test_prefer_binary_from_a_requirements_file(choice_settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "--prefer-binary\nfast\n")
    (result,) = _resolve(choice_settings, req, PythonOptions())
    assert _files(result)["fast"].startswith("fast-1.0-")


def test_exclude_newer_resolves_as_of_a_date(choice_settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "dated\n")
    (now,) = _resolve(choice_settings, req, PythonOptions())
    assert now.packages["dated"].version == "2.0"
    (then,) = _resolve(choice_settings, req, PythonOptions.build(exclude_newer="2021-01-01"))
    assert then.packages["dated"].version == "1.0"


def test_cli_refuses_a_bad_option_naming_it(
    choice_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FERRY_DATA_DIR", str(choice_settings.data_dir))
    monkeypatch.setenv("FERRY_INDEX_URL", str(choice_settings.index_url))
    monkeypatch.setenv("FERRY_USE_MACHINE_CONFIG", "false")
    req = write(tmp_path / "requirements.txt", "dated\n")
    code = main(["resolve", str(req), "--exclude-newer", "yesterday"])
    assert code == ExitCode.USAGE
    assert "--exclude-newer: 'yesterday' is not a date" in capsys.readouterr().err
    code = main(["resolve", str(req), "--exclude-newer", "2021-01-01", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK
    assert doc["python"]["options"]["exclude_newer"] == "2021-01-01T00:00:00Z"
    assert doc["python"]["targets"][0]["packages"][0]["version"] == "1.0"


# ----------------------------------------------------------------- PyTorch backend


@pytest.fixture
def torch_indexes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalIndex, LocalIndex]]:
    """The normal index has torch 2.5.1 (the CUDA build, as on the public index) and
    jinja2 3.1.6; the PyTorch CPU index has torch 2.5.1+cpu and an older jinja2 copy."""
    dist = tmp_path_factory.mktemp("torch-dists")
    normal, cpu = LocalIndex(), LocalIndex()
    with normal, cpu:
        normal.add(build_wheel(dist / "n", "torch", "2.5.1", requires_dist=["jinja2"]))
        normal.add(build_wheel(dist / "n", "jinja2", "3.1.6"))
        cpu.add(build_wheel(dist / "c", "torch", "2.5.1+cpu", requires_dist=["jinja2"]))
        cpu.add(build_wheel(dist / "c", "jinja2", "3.1.4"))
        yield normal, cpu


def test_torch_backend_takes_torch_from_the_operators_pytorch_index(
    torch_indexes: tuple[LocalIndex, LocalIndex], tmp_path: Path, sandbox_dir: Path
) -> None:
    normal, cpu = torch_indexes
    settings = load_settings(
        data_dir=tmp_path / "data",
        index_url=normal.url,
        use_machine_config=False,
        sandbox_dir=sandbox_dir,
        torch_index=cpu.url,
    )
    req = write(tmp_path / "requirements.txt", "torch==2.5.1\n")
    (default,) = _resolve(settings, req, PythonOptions(), HOST)
    assert default.packages["torch"].version == "2.5.1"
    (result,) = _resolve(settings, req, PythonOptions.build(torch_backend="cpu"), HOST)
    assert result.packages["torch"].version == "2.5.1+cpu"
    assert result.packages["torch"].file.url.startswith(cpu.base)
    # the PyTorch index's copy of jinja2 is not used: it is not a PyTorch package
    assert result.packages["jinja2"].version == "3.1.6"
    assert result.packages["jinja2"].file.url.startswith(normal.base)


def test_torch_backend_never_falls_back_to_the_normal_build(
    torch_indexes: tuple[LocalIndex, LocalIndex], tmp_path: Path, sandbox_dir: Path
) -> None:
    normal, cpu = torch_indexes
    settings = load_settings(
        data_dir=tmp_path / "data",
        index_url=normal.url,
        use_machine_config=False,
        sandbox_dir=sandbox_dir,
        torch_index=cpu.url,
    )
    req = write(tmp_path / "requirements.txt", "torch==2.6.0\n")
    normal.add(build_wheel(tmp_path / "more", "torch", "2.6.0"))  # only the CUDA build
    (result,) = _resolve(settings, req, PythonOptions.build(torch_backend="cpu"), HOST)
    assert "torch" not in result.packages
    assert result.problems and result.problems[0].severity == "error"


# ----------------------------------------------------------------- offline


@pytest.mark.acceptance
@pytest.mark.slow
@needs_unshare
def test_a_wheel_only_bundle_installs_offline_with_no_build_backend(
    choice_settings: Settings, tmp_path: Path
) -> None:
    req = write(tmp_path / "proj" / "requirements.txt", "--only-binary :all:\nfast\ndated\n")
    out = tmp_path / "bundle.zip"
    plan = BundlePlan(
        manifests=[req],
        python_targets=[HOST],
        python_options=PythonOptions.build(exclude_newer="2021-01-01"),
    )
    asyncio.run(bundle(choice_settings, plan, out, "zip"))
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("bundle/manifest.json"))
        zf.extractall(tmp_path / "unpacked")
    # no sdist and so no build backend travels
    assert not [n for n in names if n.endswith(".tar.gz") or "ferry_test_backend" in n]
    assert manifest["python"]["options"]["only_binary"] == [":all:"]
    assert manifest["python"]["options"]["exclude_newer"] == "2021-01-01T00:00:00Z"
    root = tmp_path / "unpacked" / "bundle"
    project = tmp_path / "target"
    proc = offline(["sh", str(root / "install.sh"), str(project)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = offline(
        [
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('fast'), m.version('dated'))",
        ],
        tmp_path,
    )
    assert check.stdout.split() == ["1.0", "1.0"], check.stderr
