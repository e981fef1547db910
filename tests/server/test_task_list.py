"""The task list tells tasks apart: each document carries the project's name (from the
uploaded manifests only, capped) and how many packages analysis found, both stored when
the analysis writes them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ferry.db.repository import TaskRecord
from ferry.tasks.manager import TaskManager
from server import wait_for_status

pytestmark = pytest.mark.timeout(120)

LINUX = {"platforms": ["manylinux_2_28_x86_64"], "python_version": "3.11"}
NODE = {"node_version": "20", "os": "linux", "cpu": "x64"}


@pytest.fixture
def api(api_each_database: httpx.AsyncClient) -> httpx.AsyncClient:
    """The API on SQLite and on PostgreSQL (a fresh schema at 127.0.0.1)."""
    return api_each_database


async def _analysed(api: httpx.AsyncClient, options: dict[str, Any], **named: str) -> str:
    """A task of ``named`` files, once analysis is over; its id."""
    files = [("files", (name, text.encode(), "text/plain")) for name, text in named.items()]
    response = await api.post("/api/tasks", files=files, data={"options": json.dumps(options)})
    assert response.status_code == 201, response.text
    task_id = str(response.json()["task_id"])
    doc = await wait_for_status(api, task_id, "resolved", "failed")
    assert doc["status"] == "resolved", doc["error"]
    return task_id


async def _listed(api: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    answer = (await api.get("/api/tasks", params={"size": 200})).json()
    (doc,) = [t for t in answer["tasks"] if t["task_id"] == task_id]
    return doc  # type: ignore[no-any-return]


async def test_names_and_counts_in_the_list(api: httpx.AsyncClient) -> None:
    # pyproject [project].name; lib pulls in dep: two packages
    py = await _analysed(
        api,
        LINUX,
        **{"pyproject.toml": '[project]\nname = "Demo-Py"\ndependencies = ["lib==1.0"]\n'},
    )
    # package.json's name; one Python and three npm packages (dep in both): summed
    pkg = json.dumps({"name": "@demo/web", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
    both = await _analysed(
        api, {**LINUX, **NODE}, **{"requirements.txt": "dep==1.0\n", "package.json": pkg}
    )
    # Poetry's name; one package on two targets is one package
    poetry = await _analysed(
        api,
        {"platforms": ["manylinux_2_28_x86_64", "win_amd64"], "python_version": "3.11"},
        **{
            "pyproject.toml": '[tool.poetry]\nname = "poetry-demo"\n\n'
            '[tool.poetry.dependencies]\npython = "^3.11"\ndep = "1.0"\n'
        },
    )
    # no file declares a name
    plain = await _analysed(api, LINUX, **{"requirements.txt": "dep==1.0\nlib==1.0\n"})

    summary = {
        t: ((doc := await _listed(api, t))["project_name"], doc["package_count"])
        for t in (py, both, poetry, plain)
    }
    assert summary == {
        py: ("Demo-Py", 2),
        both: ("@demo/web", 4),
        poetry: ("poetry-demo", 1),
        plain: (None, 2),
    }
    # the task's own document says the same
    one = (await api.get(f"/api/tasks/{both}")).json()
    assert (one["project_name"], one["package_count"]) == ("@demo/web", 4)

    # and after the download, the count stands (the bundle rewrites the npm tree)
    assert (await api.post(f"/api/tasks/{both}/download")).status_code == 202
    done = await wait_for_status(api, both, "completed", "failed")
    assert done["status"] == "completed", done["error"]
    listed = await _listed(api, both)
    assert (listed["project_name"], listed["package_count"]) == ("@demo/web", 4)
    assert listed["archive_url"] and listed["archive_size"] and listed["archive_name"]


async def test_an_over_long_name_is_capped_and_made_one_line(api: httpx.AsyncClient) -> None:
    # what a stranger can write in a name: a bidi override, a line break, far too much
    name = "Evil\\u202e\\nName " + "x" * 500
    task_id = await _analysed(
        api,
        LINUX,
        **{"pyproject.toml": f'[project]\nname = "{name}"\ndependencies = ["dep==1.0"]\n'},
    )
    shown = (await _listed(api, task_id))["project_name"]
    assert len(shown) == 100 and shown.startswith("Evil Name xxx") and shown.endswith("…")


async def test_null_before_analysis_and_when_it_fails_early(
    api: httpx.AsyncClient,
) -> None:
    # a manifest the analysis refuses: the name was read, no count was found
    pkg = json.dumps({"name": "broken-web", "dependencies": {"app": "file:../elsewhere"}})
    response = await api.post(
        "/api/tasks",
        files=[("files", ("package.json", pkg.encode(), "text/plain"))],
        data={"options": json.dumps(NODE)},
    )
    task_id = response.json()["task_id"]
    doc = await wait_for_status(api, task_id, "failed")
    assert (doc["project_name"], doc["package_count"]) == ("broken-web", None)

    # a task not yet analysed has neither
    manager: TaskManager = api.app.state.manager  # type: ignore[attr-defined]
    record: TaskRecord = await manager.db.write(
        manager.repo.create, "f" * 32, {}, ["requirements.txt"], expires_at=None, owner="tester"
    )
    assert (record.project_name, record.package_count) == (None, None)
    listed = await _listed(api, "f" * 32)
    assert (listed["project_name"], listed["package_count"]) == (None, None)
