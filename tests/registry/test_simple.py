"""``/simple/``: stock pip and uv install an imported bundle's project from Ferry's index,
with the token the way each sends credentials; the index speaks PEP 503, 691, 658/714
and 700 as they read them."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ferry.cli.main import main
from ferry.ecosystems.pypi.uv import find_uv
from ferry.errors import ExitCode
from ferry.settings import Settings
from server import api_client
from support.serve import Server

pytestmark = pytest.mark.timeout(300)

JSON_V1 = "application/vnd.pypi.simple.v1+json"
# what pip 24 and uv send
# lib 2.0 is yanked (carried over from the source index): only a pin takes it, as on PyPI
WANTED = ["app", "lib==2.0"]
PIP_ACCEPT = f"{JSON_V1}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
MODULES = "import app, lib, dep, native; print(app.__version__, lib.__version__)"


@pytest.fixture
def far_settings(made: Path, npm_settings: Settings, tmp_path: Path) -> Settings:
    settings = npm_settings.model_copy(update={"data_dir": tmp_path / "far"})
    assert main(["import", str(made), "--data-dir", str(settings.data_dir)]) == ExitCode.OK
    return settings


@pytest.fixture
def served(far_settings: Settings) -> Iterator[tuple[Server, str]]:
    server = Server(far_settings)
    try:
        answer = server.client.post(
            "/api/tokens", json={"name": "ci", "role": "read", "owner": "ci"}
        )
        assert answer.status_code == 201, answer.text
        yield server, str(answer.json()["token"])
    finally:
        server.stop()


def _env(tmp_path: Path) -> dict[str, str]:
    """Stock clients, with none of this machine's configuration (pip here reads one with
    extra find-links and constraints)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "FERRY_"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def _imports(target: Path, env: dict[str, str]) -> str:
    return _run([sys.executable, "-c", MODULES], {**env, "PYTHONPATH": str(target)})


def _index(server: Server, token: str | None = None, user: str = "__token__") -> str:
    host = server.base.removeprefix("http://")
    return f"http://{user}:{token}@{host}/simple/" if token else f"http://{host}/simple/"


def test_pip_installs_and_downloads_with_the_token_in_the_url(
    served: tuple[Server, str], tmp_path: Path
) -> None:
    server, token = served
    env = _env(tmp_path)
    pip = [sys.executable, "-m", "pip"]
    out = _run(
        [
            *pip,
            "install",
            "--no-cache-dir",
            "--target",
            str(tmp_path / "t"),
            "--index-url",
            _index(server, token),
            *WANTED,
        ],
        env,
    )
    assert token not in out  # pip redacts it
    assert _imports(tmp_path / "t", env).split() == ["1.0", "2.0"]
    _run(
        [
            *pip,
            "download",
            "--no-cache-dir",
            "--dest",
            str(tmp_path / "d"),
            "--index-url",
            _index(server, token),
            *WANTED,
        ],
        env,
    )
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "d").iterdir()) == [
        "app",
        "dep",
        "lib",
        "native",
    ]


def test_pip_finds_the_token_in_netrc_after_the_challenge(
    served: tuple[Server, str], tmp_path: Path
) -> None:
    server, token = served
    env = _env(tmp_path)
    netrc = Path(env["HOME"]) / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login __token__ password {token}\n")
    netrc.chmod(0o600)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--target",
            str(tmp_path / "t"),
            "--index-url",
            _index(server),
            *WANTED,
        ],
        env,
    )
    assert _imports(tmp_path / "t", env).split() == ["1.0", "2.0"]


def test_uv_pip_install_and_uv_sync(served: tuple[Server, str], tmp_path: Path) -> None:
    server, token = served
    env = _env(tmp_path)
    uv = str(find_uv())
    _run(
        [
            uv,
            "pip",
            "install",
            "--no-config",
            "--python",
            sys.executable,
            "--target",
            str(tmp_path / "t"),
            "--index-url",
            _index(server, token),
            *WANTED,
        ],
        env,
    )
    assert _imports(tmp_path / "t", env).split() == ["1.0", "2.0"]

    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["app", "lib==2.0"]\n\n'
        f'[[tool.uv.index]]\nname = "ferry"\nurl = "{_index(server)}"\ndefault = true\n\n'
        # the bundle was made for Linux: uv's lock is for every platform unless told
        "[tool.uv]\nenvironments = [\"sys_platform == 'linux'\"]\n"
    )
    # uv's own way to give an index its credentials
    env.update(UV_INDEX_FERRY_USERNAME="__token__", UV_INDEX_FERRY_PASSWORD=token)
    _run([uv, "sync", "--python", sys.executable], env, cwd=project)
    python = project / ".venv" / "bin" / "python"
    done = subprocess.run([str(python), "-c", MODULES], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    lock = (project / "uv.lock").read_text()
    assert token not in lock


def test_the_index_speaks_pep_691_658_700_and_503(served: tuple[Server, str], made: Path) -> None:
    server, token = served
    with httpx.Client(base_url=server.base, auth=("__token__", token)) as client:
        listing = client.get("/simple/", headers={"Accept": PIP_ACCEPT})
        assert listing.headers["content-type"] == JSON_V1
        assert {p["name"] for p in listing.json()["projects"]} == {"app", "dep", "lib", "native"}

        page = client.get("/simple/lib/", headers={"Accept": PIP_ACCEPT}).json()
        assert page["meta"]["api-version"] == "1.1"
        assert page["name"] == "lib" and page["versions"] == ["2.0"]
        (wheel,) = page["files"]
        assert wheel["yanked"] == "broken build"  # carried over from the source index
        assert wheel["size"] > 0 and wheel["upload-time"]
        assert wheel["core-metadata"] == wheel["dist-info-metadata"]
        url = httpx.URL(f"{server.base}/simple/lib/").join(wheel["url"])
        body = client.get(url)
        assert body.status_code == 200 and len(body.content) == wheel["size"]
        assert hashlib.sha256(body.content).hexdigest() == wheel["hashes"]["sha256"]
        metadata = client.get(f"{url}.metadata")
        assert hashlib.sha256(metadata.content).hexdigest() == wheel["core-metadata"]["sha256"]
        assert b"Name: lib" in metadata.content and b"Requires-Dist: dep<2" in metadata.content

        html = client.get("/simple/lib/", headers={"Accept": "text/html"})
        assert html.headers["content-type"].startswith("text/html")
        assert '<meta name="pypi:repository-version" content="1.1">' in html.text
        assert 'data-yanked="broken build"' in html.text
        assert f'data-core-metadata="sha256={wheel["core-metadata"]["sha256"]}"' in html.text
        assert f'#sha256={wheel["hashes"]["sha256"]}"' in html.text

        # PEP 503: other spellings lead to the normalized name; unknown names are 404
        moved = client.get("/simple/LIB/", follow_redirects=False)
        assert moved.status_code == 301 and moved.headers["location"] == "../lib/"
        assert client.get("/simple/nothing-here/").status_code == 404
        # a file is only served under its own digest
        wrong = url.copy_with(path=url.path.replace(wheel["hashes"]["sha256"], "0" * 64))
        assert client.get(wrong).status_code == 404


async def test_reading_needs_a_token_unless_anonymous_reads_are_on(
    far_settings: Settings,
) -> None:
    async with api_client(far_settings) as api:
        anonymous = httpx.AsyncClient(transport=api._transport, base_url="http://ferry")
        async with anonymous:
            refused = await anonymous.get("/simple/app/")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == 'Basic realm="ferry"'
            forged = await anonymous.get("/simple/app/", auth=("__token__", "ferry_" + "A" * 43))
            assert forged.status_code == 401
    opened = far_settings.model_copy(update={"registry_anonymous_read": True})
    async with api_client(opened) as api:
        anonymous = httpx.AsyncClient(transport=api._transport, base_url="http://ferry")
        async with anonymous:
            assert (await anonymous.get("/simple/app/")).status_code == 200
            # reading only: the rest of the service still wants its token
            assert (await anonymous.get("/api/tasks")).status_code == 401
