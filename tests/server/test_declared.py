"""POST /api/manifests/declared: the groups and extras uploaded manifests declare, read by
the analysis's own parsers, so that the upload form offers them; a broken file is named
with its line at once. Nothing of the server's disk or paths leaks into the answer."""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ferry.settings import Settings
from server import api_client, upload_files

pytestmark = pytest.mark.timeout(60)

PEP621 = """
[project]
name = "app"
version = "1.0"
dependencies = ["dep==1.0"]

[project.optional-dependencies]
Test = ["lib==2.0"]

[dependency-groups]
lint = ["dep==1.0"]
"""

POETRY = """
[tool.poetry]
name = "svc"
version = "1.0"

[tool.poetry.dependencies]
python = "^3.11"
dep = "1.0"

[tool.poetry.group.docs.dependencies]
lib = "2.0"

[tool.poetry.group.dev.dependencies]
lib = "2.0"

[tool.poetry.extras]
fast = ["dep"]
"""


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings, role="write") as client:
        yield client


async def _declared(api: httpx.AsyncClient, **named: str) -> dict[str, object]:
    response = await api.post("/api/manifests/declared", files=upload_files(**named))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_pep621_extras_and_pep735_groups(api: httpx.AsyncClient) -> None:
    doc = await _declared(api, **{"pyproject.toml": PEP621})
    assert doc == {
        "groups": [
            {"name": "lint", "ecosystem": "pypi", "files": ["pyproject.toml"]},
            {"name": "test", "ecosystem": "pypi", "files": ["pyproject.toml"]},
        ],
        "errors": [],
    }


async def test_poetry_groups_and_extras_and_npm_dev(api: httpx.AsyncClient) -> None:
    package = json.dumps({"name": "web", "devDependencies": {"vite": "^6"}})
    doc = await _declared(api, **{"pyproject.toml": POETRY, "package.json": package})
    groups = {(g["name"], g["ecosystem"]) for g in doc["groups"]}  # type: ignore[attr-defined]
    assert groups == {("dev", "pypi"), ("docs", "pypi"), ("fast", "pypi"), ("dev", "npm")}


async def test_nothing_declared_is_an_empty_list(api: httpx.AsyncClient) -> None:
    package = json.dumps({"name": "web", "dependencies": {"left-pad": "1"}})
    doc = await _declared(api, **{"requirements.txt": "dep==1.0\n", "package.json": package})
    assert doc == {"groups": [], "errors": []}


async def test_a_broken_file_is_named_with_its_line_and_the_others_still_answer(
    api: httpx.AsyncClient,
) -> None:
    doc = await _declared(
        api,
        **{"requirements.txt": "dep==1.0\nthis is not a requirement\n", "pyproject.toml": PEP621},
    )
    assert [g["name"] for g in doc["groups"]] == ["lint", "test"]  # type: ignore[index]
    [error] = doc["errors"]  # type: ignore[misc]
    assert error["code"] == "manifest-invalid"
    assert error["file"] == "requirements.txt" and error["line"] == 2
    # the answer names the upload, never where the server put it
    said = json.dumps(doc)
    assert tempfile.gettempdir() not in said and "ferry-declared" not in said


async def test_an_include_cannot_read_the_servers_disk(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("leaked-package==6.6.6\n")
    doc = await _declared(api, **{"requirements.txt": f"-r {secret}\n-r ../../etc/passwd\n"})
    text = json.dumps(doc)
    assert "leaked-package" not in text and "root:" not in text
    [error] = doc["errors"]  # type: ignore[misc]
    assert error["file"] == "requirements.txt" and error["line"] == 1


async def test_uploads_are_checked_as_for_a_task(api: httpx.AsyncClient) -> None:
    refused = await api.post(
        "/api/manifests/declared", files=upload_files(**{"setup.py": "import os\n"})
    )
    assert refused.status_code in (400, 415) and refused.json()["code"].startswith("upload")
    none = await api.post("/api/manifests/declared", files=[])
    assert none.status_code in (400, 422)


async def test_it_needs_a_token_that_may_write(settings: Settings) -> None:
    async with api_client(settings, role="read") as reader:
        answer = await reader.post(
            "/api/manifests/declared", files=upload_files(**{"requirements.txt": "dep\n"})
        )
        assert answer.status_code == 403
        reader.headers.pop("Authorization")
        anonymous = await reader.post(
            "/api/manifests/declared", files=upload_files(**{"requirements.txt": "dep\n"})
        )
        assert anonymous.status_code == 401
