"""A project's own .npmrc: its install settings decide the resolution and the offline
install, its registries are sources, its credentials go nowhere."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import Npm, write
from ferry.errors import ManifestError
from ferry.manifests.npm import parse_npm_manifests
from ferry.manifests.npmrc import parse_npmrc
from ferry.services.bundle import BundlePlan, bundle
from ferry.services.npm_bundle import resolve_node_project
from ferry.settings import Settings
from ferry.targets import NodeTarget, host_node_target
from support.npmregistry import build_tarball
from support.offline import needs_unshare, offline

LINUX = NodeTarget.parse("20", "linux", "x64", "glibc")
TOKEN = "npm_SECRETSECRETSECRET0123456789"


# ------------------------------------------------------------------ reading the file


def test_settings_registries_and_credentials(tmp_path: Path) -> None:
    rc = write(
        tmp_path / ".npmrc",
        "; the team's settings\n"
        "legacy-peer-deps = true\n"
        "engine-strict=TRUE\n"
        "registry=http://127.0.0.1:9/npm/\n"
        "@corp:registry = 'http://127.0.0.1:9/corp/'\n"
        f"//127.0.0.1:9/npm/:_authToken={TOKEN}\n"
        "_auth=dXNlcjpwYXNz\n"
        "email=someone@example.org\n"
        "save-exact=true\n"
        "cafile=/etc/ssl/private/corp.pem\n"
        "script-shell=/bin/evil\n"
        "before=${FREEZE_DATE}\n",
    )
    parsed = parse_npmrc(rc)
    assert {k: v.value for k, v in parsed.settings.items()} == {
        "legacy-peer-deps": "true",
        "engine-strict": "true",
    }
    assert parsed.cli_flags() == ["--legacy-peer-deps=true", "--engine-strict=true"]
    assert parsed.registry is not None and parsed.registry.line == 4
    assert parsed.scoped["@corp"].value == "http://127.0.0.1:9/corp/"
    assert parsed.credentials == [6, 7, 8]
    # save-exact is harmless and quiet; the others are reported with their lines
    assert [(i.line, i.key) for i in parsed.ignored] == [
        (10, "cafile"),
        (11, "script-shell"),
        (12, "before"),
    ]
    assert TOKEN not in parsed.carried and "dXNlcjpwYXNz" not in parsed.carried
    assert "someone@example.org" not in parsed.carried
    assert "legacy-peer-deps = true" in parsed.carried
    assert "; line 6: a credential, left out by Ferry" in parsed.carried


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("legacy-peer-deps=maybe\n", 1, "'maybe' is not one of true, false"),
        ("\ninstall-strategy=flat\n", 2, "'flat' is not one of hoisted, nested"),
        ("before=last tuesday\n", 1, "is not a date"),
        ("[section]\n", 1, "section [section]"),
        ("=true\n", 1, "no key before '='"),
    ],
)
def test_a_bad_line_names_the_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    with pytest.raises(ManifestError) as info:
        parse_npmrc(write(tmp_path / ".npmrc", text))
    assert info.value.line == line and reason in info.value.message
    assert ".npmrc" in str(info.value.path)


def test_an_npmrc_alone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"without the project's package\.json"):
        parse_npm_manifests([write(tmp_path / ".npmrc", "legacy-peer-deps=true\n")])


# ------------------------------------------------------------------ peers and settings


@pytest.fixture
def peers(npmreg: Npm) -> Npm:
    """A plugin that wants host@^2 beside a project pinned to host@1 (npm's ERESOLVE
    unless legacy-peer-deps), and one whose peer nothing installs."""
    reg, d = npmreg.registry, npmreg.dir
    reg.publish(build_tarball(d, "host", "1.0.0"))
    reg.publish(build_tarball(d, "host", "2.0.0"))
    reg.publish(build_tarball(d, "plugin", "1.0.0", peer_dependencies={"host": "^2.0.0"}))
    reg.publish(build_tarball(d, "lonely", "1.0.0", peer_dependencies={"partner": "^1.0.0"}))
    reg.publish(build_tarball(d, "partner", "1.0.0"))
    reg.publish(
        build_tarball(
            d,
            "relaxed",
            "1.0.0",
            peer_dependencies={"partner": "^1.0.0"},
            extra={"peerDependenciesMeta": {"partner": {"optional": True}}},
        )
    )
    return npmreg


def _project(tmp_path: Path, deps: dict[str, str], npmrc: str | None) -> list[Path]:
    files = [
        write(
            tmp_path / "project" / "package.json",
            json.dumps({"name": "demo", "version": "1.0.0", "dependencies": deps}, indent=2),
        )
    ]
    if npmrc is not None:
        files.append(write(tmp_path / "project" / ".npmrc", npmrc))
    return files


def _resolve(settings: Settings, files: list[Path]):  # type: ignore[no-untyped-def]
    return asyncio.run(resolve_node_project(settings, files, LINUX))


def test_legacy_peer_deps_decides_the_resolution(
    npm_settings: Settings, peers: Npm, tmp_path: Path
) -> None:
    deps = {"host": "1.0.0", "plugin": "1.0.0", "lonely": "1.0.0", "relaxed": "1.0.0"}
    without = _resolve(npm_settings, _project(tmp_path, deps, None))
    assert without.has_errors
    assert [p.kind for p in without.problems if p.severity == "error"] == ["conflict"]

    result = _resolve(npm_settings, _project(tmp_path, deps, "legacy-peer-deps=true\n"))
    assert not result.has_errors, [p.message for p in result.problems]
    assert result.install_settings == {"legacy-peer-deps": "true"}
    by_kind = {p.kind: p for p in result.problems}
    conflict = by_kind["peer-conflict"]
    assert conflict.package == "plugin" and conflict.severity == "warning"
    assert "needs peer host@^2.0.0; the tree has host@1.0.0" in conflict.message
    missing = by_kind["peer-missing"]
    assert missing.package == "lonely" and "partner@^1.0.0" in missing.message
    # an optional peer is nobody's problem
    assert not [p for p in result.problems if p.package == "relaxed"]
    assert result.to_dict()["install_settings"] == {"legacy-peer-deps": "true"}


def test_strict_peer_deps_and_engine_strict_make_errors(
    npm_settings: Settings, peers: Npm, npmreg: Npm, tmp_path: Path
) -> None:
    npmreg.registry.publish(build_tarball(npmreg.dir, "modern", "1.0.0", engines={"node": ">=22"}))
    files = _project(tmp_path, {"modern": "1.0.0"}, None)
    assert {p.kind: p.severity for p in _resolve(npm_settings, files).problems}[
        "engines-mismatch"
    ] == "warning"
    files = _project(tmp_path, {"modern": "1.0.0"}, "engine-strict=true\n")
    problem = next(p for p in _resolve(npm_settings, files).problems if p.package == "modern")
    assert problem.severity == "error" and "engine-strict" in problem.message

    # a lock made with --force holds a wrong peer; strict-peer-deps makes that an error
    loose = _resolve(
        npm_settings,
        _project(tmp_path, {"host": "1.0.0", "plugin": "1.0.0"}, "legacy-peer-deps=true\n"),
    )
    lock = write(tmp_path / "locked" / "package-lock.json", json.dumps(loose.lock))
    rc = write(tmp_path / "locked" / ".npmrc", "strict-peer-deps=true\n")
    strict = _resolve(npm_settings, [lock, rc])
    assert {p.kind: p.severity for p in strict.problems}["peer-conflict"] == "error"


def test_project_registry_lines_are_sources(
    npm_settings: Settings, npmreg: Npm, tmp_path: Path
) -> None:
    dead = "http://127.0.0.1:9/"
    files = _project(tmp_path, {"@demo/native": "1.0.0"}, f"@demo:registry={dead}\n")
    result = _resolve(npm_settings.model_copy(update={"retries": 0}), files)
    assert result.has_errors  # the project said where @demo comes from, and it is down

    ignoring = npm_settings.model_copy(update={"ignore_manifest_indexes": True})
    result = _resolve(ignoring, files)
    assert not result.has_errors, [p.message for p in result.problems]
    note = next(p for p in result.problems if p.kind == "npmrc-ignored")
    assert note.message == f".npmrc:1: @demo:registry = {dead} left out (--ignore-manifest-indexes)"

    # with no registry in Ferry's settings, the project's own registry line is used
    unset = npm_settings.model_copy(update={"npm_registry": None})
    rc = f"registry={npmreg.registry.url}\n"
    before = len(npmreg.registry.requests)
    result = _resolve(unset, _project(tmp_path, {"app": "^1.0.0"}, rc))
    assert not result.has_errors, [p.message for p in result.problems]
    assert len(npmreg.registry.requests) > before
    assert all(p.resolved and p.resolved.startswith(npmreg.registry.url) for p in result.packages)


def test_credentials_never_reach_npm_or_the_bundle(
    npm_settings: Settings, npmreg: Npm, tmp_path: Path
) -> None:
    host = npmreg.registry.url.split("//", 1)[1]
    rc = f"legacy-peer-deps=true\n//{host}:_authToken={TOKEN}\n"
    files = _project(tmp_path, {"app": "^1.0.0"}, rc)
    out = tmp_path / "b.tar.gz"
    asyncio.run(bundle(npm_settings, BundlePlan(files, node_target=LINUX), out, "tar.gz"))
    with tarfile.open(out) as tf:
        names = tf.getnames()
        everything = b"".join(
            f.read() for m in tf.getmembers() if m.isfile() and (f := tf.extractfile(m))
        )
    assert any(n.endswith("manifests/.npmrc") for n in names)
    assert TOKEN.encode() not in everything
    assert b"legacy-peer-deps=true" in everything
    # npm was never shown the token: no request carried it
    seen = npmreg.registry.request_headers()
    assert seen and all(TOKEN not in json.dumps(h) for h in seen)


# ------------------------------------------------------------------ offline install


@pytest.mark.acceptance
@pytest.mark.slow
@needs_unshare
def test_the_bundled_settings_make_npm_ci_work_offline(
    npm_settings: Settings, peers: Npm, tmp_path: Path
) -> None:
    """The project needs legacy-peer-deps; install.sh applies it from the bundle, with no
    .npmrc on the target. Without it, the same offline npm ci fails (ERESOLVE)."""
    files = _project(tmp_path, {"host": "1.0.0", "plugin": "1.0.0"}, "legacy-peer-deps=true\n")
    out = tmp_path / "b.tar.gz"
    plan = BundlePlan(files, node_target=host_node_target())
    asyncio.run(bundle(npm_settings, plan, out, "tar.gz"))
    with tarfile.open(out) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    (root,) = (tmp_path / "x").iterdir()

    def install(project: Path, script: list[str]) -> subprocess.CompletedProcess[str]:
        project.mkdir()
        shutil.copy(files[0], project / "package.json")  # the project, without its .npmrc
        return offline([*script, str(project)], tmp_path)

    done = install(tmp_path / "fresh", ["sh", str(root / "install.sh")])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    installed = json.loads((tmp_path / "fresh/node_modules/host/package.json").read_text())
    assert installed["version"] == "1.0.0"
    assert (tmp_path / "fresh/node_modules/plugin").is_dir()

    manifest = json.loads((root / "manifest.json").read_text())
    manifest["npm"]["install_settings"] = {}
    (root / "manifest.json").write_text(json.dumps(manifest))
    bare = install(tmp_path / "bare", ["node", str(root / "ferry_npm.js")])
    assert bare.returncode != 0 and "ERESOLVE" in bare.stdout + bare.stderr


@pytest.mark.parametrize(
    ("project_lines", "timeout"), [((), "60000"), (("fetch-timeout=120000",), "120000")]
)
def test_npm_gives_up_on_a_lost_answer_after_a_minute_unless_the_project_says(
    tmp_path: Path, project_lines: tuple[str, ...], timeout: str
) -> None:
    """npm's own 5 minutes of silence per lost answer, in Ferry's config a minute; a
    project's .npmrc, written after Ferry's lines as the resolver writes it, still wins."""
    from ferry.ecosystems.npm.npmcli import clean_environment
    from ferry.ecosystems.npm.sources import NpmSources

    npm = shutil.which("npm")
    assert npm is not None, "npm is not installed: scripts/install.sh installs it"
    config = tmp_path / "npmrc"
    config.write_text(
        NpmSources("http://127.0.0.1:9/", retries=5).npmrc()
        + "".join(f"{x}\n" for x in project_lines)
    )
    (tmp_path / "global").write_text("")
    env = clean_environment()
    env.update(npm_config_userconfig=str(config), npm_config_globalconfig=str(tmp_path / "global"))

    def get(key: str) -> str:
        done = subprocess.run(
            [npm, "config", "get", key], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert get("fetch-timeout") == timeout
    assert get("fetch-retry-maxtimeout") == "10000"
    # Ferry's retries setting is npm's, the first retry after a second
    assert get("fetch-retries") == "5"
    assert get("fetch-retry-mintimeout") == "1000"
