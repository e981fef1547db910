"""The REST API in-process (httpx over ASGI) against the local index and registry."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Dists
from ferry.settings import Settings
from server import api_client, upload_files, wait_for_status

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api(api_each_database: httpx.AsyncClient) -> httpx.AsyncClient:
    """The API on SQLite and on PostgreSQL (a fresh schema at 127.0.0.1)."""
    return api_each_database


async def test_create_analyse_download_archive(api: httpx.AsyncClient) -> None:
    package = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"requirements.txt": "dep==1.0\n", "package.json": package}),
        data={
            "options": json.dumps(
                {
                    "platforms": ["manylinux_2_28_x86_64"],
                    "python_version": "3.11",
                    "node_version": "20",
                    "os": "linux",
                    "cpu": "x64",
                }
            )
        },
    )
    assert response.status_code == 201, response.text
    task_id = response.json()["task_id"]
    assert response.json()["status"] == "created"

    doc = await wait_for_status(api, task_id, "resolved", "failed")
    assert doc["status"] == "resolved", doc["error"]
    raw = (await api.get(f"/api/tasks/{task_id}/dependencies")).text
    assert "/uploads/" not in raw  # origins name the uploaded file, not the server's path
    deps = json.loads(raw)
    assert deps["python"]["targets"][0]["count"] == 1
    assert {p["name"] for p in deps["npm"]["packages"]} == {"app", "lib", "dep"}

    assert (await api.post(f"/api/tasks/{task_id}/download")).status_code == 202
    doc = await wait_for_status(api, task_id, "completed", "failed")
    assert doc["status"] == "completed", doc["error"]
    assert doc["progress"]["npm"]["completed"] == 3
    assert doc["archive_url"].startswith(f"/api/tasks/{task_id}/archive?expires=")

    archive = await api.get(doc["archive_url"])
    assert archive.status_code == 200 and len(archive.content) == doc["archive_size"]
    assert archive.headers["content-disposition"].startswith("attachment;")
    assert archive.headers["etag"]
    # what the done step shows, to check the copy that crossed the gap
    assert doc["archive_sha256"] == hashlib.sha256(archive.content).hexdigest()
    assert doc["archive_name"] == f"ferry-{task_id[:12]}.zip"
    assert f'filename="{doc["archive_name"]}"' in archive.headers["content-disposition"]
    assert doc["expires_at"] > doc["completed_at"]
    assert [
        (t["from"], t["to"]) for t in (await api.get(f"/api/tasks/{task_id}")).json()["transitions"]
    ] == [
        (None, "created"),
        ("created", "resolving"),
        ("resolving", "resolved"),
        ("resolved", "downloading"),
        ("downloading", "packing"),
        ("packing", "completed"),
    ]
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        root = zf.namelist()[0].split("/")[0]
        for line in zf.read(f"{root}/SHA256SUMS").decode().splitlines():
            digest, name = line.split("  ", 1)
            assert hashlib.sha256(zf.read(f"{root}/{name}")).hexdigest() == digest
    ranged = await api.get(doc["archive_url"], headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == archive.content[:10]

    history = (await api.get("/api/tasks", params={"status": "completed"})).json()
    assert [t["task_id"] for t in history["tasks"]] == [task_id] and history["total"] == 1


async def test_wrong_transition_is_409(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"requirements.txt": "dep==1.0\n"}),
        data={"options": json.dumps({"platforms": ["win_amd64"], "python_version": "3.12"})},
    )
    task_id = response.json()["task_id"]
    await wait_for_status(api, task_id, "resolved", "failed")
    archive = await api.get(f"/api/tasks/{task_id}/archive")
    assert archive.status_code == 409 and archive.json()["code"] == "task-not-completed"
    assert (await api.post(f"/api/tasks/{task_id}/cancel")).status_code == 200
    again = await api.post(f"/api/tasks/{task_id}/download")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "task-invalid-transition"


async def test_malformed_manifest_fails_with_file_and_line(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/tasks", files=upload_files(**{"requirements.txt": "dep\nnot valid !!\n"})
    )
    task_id = response.json()["task_id"]
    doc = await wait_for_status(api, task_id, "failed")
    assert doc["error"]["code"] == "manifest-invalid"
    assert doc["error"]["file"] == "requirements.txt" and doc["error"]["line"] == 2


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("../../etc/passwd", "x", 400, "upload-invalid"),
        ("/etc/requirements.txt", "x", 400, "upload-invalid"),
        ("notes.docx", "x", 415, "upload-unsupported"),
        ("requirements.txt", b"\x00\x01\x02binary", 415, "upload-unsupported"),
        ("requirements.txt", "x" * (1024 * 1024 + 1), 413, "upload-too-large"),
    ],
)
async def test_bad_uploads_are_refused(
    api: httpx.AsyncClient,
    npm_settings: Settings,
    name: str,
    data: str | bytes,
    status: int,
    code: str,
) -> None:
    response = await api.post("/api/tasks", files=upload_files(**{name: data}))
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert not list(npm_settings.tasks_dir.glob("*")) if npm_settings.tasks_dir.exists() else True
    assert not (Path("/etc") / "passwd.ferry").exists()


async def test_limit_rate_option_is_validated_by_name(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"requirements.txt": "dep\n"}),
        data={"options": json.dumps({"limit_rate": "fast"})},
    )
    assert response.status_code == 400 and "limit_rate" in response.json()["message"]


def test_limit_rate_option_takes_units() -> None:
    from ferry.tasks.options import TaskOptions

    assert TaskOptions(limit_rate="10M").limit_rate == 10 << 20  # type: ignore[arg-type]
    assert TaskOptions(limit_rate=5000).limit_rate == 5000
    assert TaskOptions().limit_rate is None


async def test_unknown_option_is_a_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"requirements.txt": "dep\n"}),
        data={"options": json.dumps({"colour": "blue"})},
    )
    assert response.status_code == 400 and "colour" in response.json()["message"]


async def test_delete_removes_files(api: httpx.AsyncClient, npm_settings: Settings) -> None:
    response = await api.post(
        "/api/tasks", files=upload_files(**{"requirements.txt": "dep==1.0\n"})
    )
    task_id = response.json()["task_id"]
    await wait_for_status(api, task_id, "resolved", "failed")
    assert (npm_settings.tasks_dir / task_id).is_dir()
    assert (await api.delete(f"/api/tasks/{task_id}")).status_code == 204
    assert not (npm_settings.tasks_dir / task_id).exists()
    assert (await api.get(f"/api/tasks/{task_id}")).status_code == 404
    assert (await api.delete(f"/api/tasks/{task_id}")).status_code == 404


async def test_health_and_openapi(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health")).json()["status"] == "ok"
    schema = (await api.get("/openapi.json")).json()
    assert "/api/tasks/{task_id}/archive" in schema["paths"]


async def test_metrics_count_tasks_and_transitions(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/tasks", files=upload_files(**{"requirements.txt": "dep==1.0\n"})
    )
    await wait_for_status(api, response.json()["task_id"], "resolved", "failed")
    text = (await api.get("/metrics")).text
    assert "ferry_tasks_created_total 1.0" in text
    assert 'ferry_task_transitions_total{to="resolving"} 1.0' in text


async def test_auto_download_and_several_pythons(api: httpx.AsyncClient) -> None:
    options = {
        "python_versions": ["3.11", "3.12"],
        "platforms": ["win_amd64"],
        "auto_download": True,
        "format": "tar.zst",
    }
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"requirements.txt": "native\n"}),
        data={"options": json.dumps(options)},
    )
    doc = await wait_for_status(api, response.json()["task_id"], "completed", "failed")
    assert doc["status"] == "completed", doc["error"]
    keys = [
        t["target"]["key"]
        for t in (await api.get(f"/api/tasks/{doc['task_id']}/dependencies")).json()["python"][
            "targets"
        ]
    ]
    assert keys == ["cp311-win_amd64", "cp312-win_amd64"]
    assert doc["progress"]["pypi"]["completed"] == 2  # one native wheel per Python


@pytest.mark.parametrize(
    ("options", "field", "reason"),
    [
        ({"exclude_newer": "last week"}, "exclude_newer", "is not a date"),
        ({"torch_backend": "auto"}, "torch_backend", "this machine's GPU"),
        ({"only_binary": ["a b"]}, "only_binary", "is not a package name"),
    ],
)
async def test_choice_options_are_validated_by_name(
    api: httpx.AsyncClient, options: dict[str, object], field: str, reason: str
) -> None:
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"requirements.txt": "dep\n"}),
        data={"options": json.dumps(options)},
    )
    message = response.json()["message"]
    assert response.status_code == 400 and field in message and reason in message


async def test_a_tasks_choices_reach_the_resolver(api: httpx.AsyncClient) -> None:
    async def analysed(options: dict[str, object]) -> dict[str, object]:
        response = await api.post(
            "/api/tasks",
            files=upload_files(**{"requirements.txt": "sdistonly\n"}),
            data={"options": json.dumps({**options, "npm": False})},
        )
        assert response.status_code == 201, response.text
        task_id = response.json()["task_id"]
        return await wait_for_status(api, task_id, "resolved", "failed")

    assert (await analysed({}))["status"] == "resolved"  # its sdist, built on the target
    wheels_only = await analysed({"only_binary": [":all:"]})
    assert wheels_only["status"] == "failed"
    assert wheels_only["options"]["only_binary"] == [":all:"]  # type: ignore[index]
    assert "sdistonly" in json.dumps(wheels_only["error"])
    as_of = await analysed({"exclude_newer": "2000-01-01"})
    assert as_of["status"] == "failed" and "exclude-newer" in json.dumps(as_of["error"])


async def test_torch_backend_needs_the_operators_index(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"requirements.txt": "dep\n"}),
        data={"options": json.dumps({"torch_backend": "cpu", "npm": False})},
    )
    doc = await wait_for_status(api, response.json()["task_id"], "resolved", "failed")
    assert doc["status"] == "failed"
    assert "no PyTorch index" in doc["error"]["message"]


async def test_registry_profiles_a_task_may_pick(
    npm_settings: Settings, pyindex: Dists, tmp_path: Path
) -> None:
    """Two profiles: a working one (the local index) and one whose index is down. A task
    picks one by name; a name the operator did not configure is refused at once."""
    from ferry.settings import RegistryProfile

    settings = npm_settings.model_copy(
        update={
            "index_url": "http://127.0.0.1:9/simple/",  # the service's own sources: down
            "registries": {
                "team": RegistryProfile(index_url=pyindex.index.url, description="Team mirror"),
                "broken": RegistryProfile(index_url="http://127.0.0.1:9/simple/"),
            },
        }
    )
    async with api_client(settings) as api:
        listed = (await api.get("/api/registries")).json()
        assert listed == {
            "registries": [
                {"name": "broken", "description": ""},
                {"name": "team", "description": "Team mirror"},
            ],
            "default": None,
        }
        assert "127.0.0.1" not in json.dumps(listed)  # the URLs stay the operator's

        async def analysed(registry: str) -> dict[str, Any]:
            response = await api.post(
                "/api/tasks",
                files=upload_files(**{"requirements.txt": "dep==1.0\n"}),
                data={"options": json.dumps({"registry": registry, "npm": False})},
            )
            assert response.status_code == 201, response.text
            return await wait_for_status(api, response.json()["task_id"], "resolved", "failed")

        assert (await analysed("team"))["status"] == "resolved"
        broken = await analysed("broken")
        assert broken["status"] == "failed"
        assert "index-unreachable" in json.dumps(broken["error"])
        assert "registry profile 'broken'" in json.dumps(broken["error"])

        refused = await api.post(
            "/api/tasks",
            files=upload_files(**{"requirements.txt": "dep\n"}),
            data={"options": json.dumps({"registry": "elsewhere"})},
        )
        assert refused.status_code == 400
        assert (
            "options.registry: 'elsewhere' is not a profile (broken, team)"
            in (refused.json()["message"])
        )
