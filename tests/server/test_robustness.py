"""What a hostile or careless client found before: each answer is a 4xx, never a 500,
nothing is left on disk, no task is left working with no worker, and no request reaches
outside the tasks directory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ferry.settings import Settings
from server import api_client, upload_files, wait_for_status

pytestmark = pytest.mark.timeout(120)

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
NODE = json.dumps({"node_version": "20", "os": "linux", "cpu": "x64"})


@pytest.fixture
async def api(npm_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(npm_settings) as client:
        yield client


def _on_disk(settings: Settings) -> list[Path]:
    return sorted(settings.tasks_dir.rglob("*")) if settings.tasks_dir.exists() else []


async def test_dot_dot_and_other_ids_never_reach_the_disk(
    api: httpx.AsyncClient, npm_settings: Settings
) -> None:
    marker = npm_settings.data_dir / "keep-me"
    marker.write_text("still here")
    npm_settings.tasks_dir.mkdir(parents=True, exist_ok=True)
    for raw in ("%2e%2e", "..%2f..", "%2e%2e%2f%2e%2e", "a" * 300, "0" * 31 + "g", "%00"):
        for method in ("GET", "DELETE"):
            answer = await api.request(method, f"/api/tasks/{raw}")
            # a 404 (or, for a path that decodes to several segments, the static files'
            # 405 or a redirect of its slash): never a success, never a 500
            assert answer.status_code in (307, 404, 405), (method, raw, answer.text)
        answer = await api.post(f"/api/tasks/{raw}/download")
        assert answer.status_code in (307, 404, 405), raw
    assert marker.read_text() == "still here"
    assert npm_settings.tasks_dir.is_dir()


async def test_head_answers_wherever_get_does(api: httpx.AsyncClient) -> None:
    for path in ("/health", "/api/tasks", "/openapi.json", "/docs", "/metrics"):
        get, head = await api.get(path), await api.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
    missing = await api.head("/api/tasks/" + "0" * 32)
    assert missing.status_code == 404 and missing.content == b""


async def test_a_wrong_method_names_every_method_the_path_takes(api: httpx.AsyncClient) -> None:
    answer = await api.put("/api/tasks/" + "0" * 32)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, GET, HEAD"
    assert answer.json()["code"] == "method-not-allowed"
    answer = await api.patch("/api/tasks")
    assert answer.headers["allow"] == "GET, HEAD, POST"


async def test_unknown_paths_are_problem_documents(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not-found"


async def test_names_of_any_length_are_refused_and_leave_nothing(
    api: httpx.AsyncClient, npm_settings: Settings
) -> None:
    answer = await api.post(
        "/api/tasks", files=upload_files(**{"r" * 300 + "requirements.txt": "x"})
    )
    assert answer.status_code == 400, answer.text
    assert "at most 128" in answer.json()["message"]
    # past the multipart parser's own header limit: refused before Ferry sees it
    huge = "requirements" + "x" * 5000 + ".txt"
    answer = await api.post("/api/tasks", files=upload_files(**{huge: "dep==1.0\n"}))
    assert answer.status_code == 400 and answer.json()["code"]
    assert _on_disk(npm_settings) == []
    assert (await api.get("/api/tasks")).json()["total"] == 0


async def test_options_nested_thousands_deep_are_a_400(
    api: httpx.AsyncClient, npm_settings: Settings
) -> None:
    for options in ("[" * 100_000 + "]" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000):
        answer = await api.post(
            "/api/tasks",
            files=upload_files(**{"requirements.txt": "dep\n"}),
            data={"options": options},
        )
        assert answer.status_code == 400, answer.text[:200]
        assert answer.headers["content-type"] == "application/problem+json"
    assert _on_disk(npm_settings) == []


async def test_a_chunked_body_over_the_limit_is_refused_and_leaves_nothing(
    api: httpx.AsyncClient, npm_settings: Settings
) -> None:
    boundary = "ferryboundary"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f"--{boundary}\r\nContent-Disposition: form-data; name=files; "
            'filename="requirements.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        for _ in range(40):  # 40 MiB, no Content-Length: only counting can stop it
            yield b"x" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = await api.post(
        "/api/tasks",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "upload-too-large"
    assert _on_disk(npm_settings) == []


async def test_download_of_a_task_that_failed_to_analyse_is_a_409(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post(
        "/api/tasks", files=upload_files(**{"requirements.txt": "not a requirement !!\n"})
    )
    task_id = created.json()["task_id"]
    doc = await wait_for_status(api, task_id, "failed")
    assert doc["error"]["code"] == "manifest-invalid"
    answer = await api.post(f"/api/tasks/{task_id}/download")
    assert answer.status_code == 409
    assert (await api.get(f"/api/tasks/{task_id}")).json()["status"] == "failed"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"version": "1.0.0", "integrity": "sha512-AAAA"}, "integrity"),
        ({"version": "1.0.0", "resolved": 123}, "resolved"),
        ({"version": ["1"]}, "version"),
        ({"version": "1.0.0", "dependencies": {"x": 1}}, "dependencies"),
        ({"version": "1.0.0", "os": {"linux": True}}, "os"),
    ],
)
async def test_a_malformed_lock_fails_the_task_naming_the_field(
    api: httpx.AsyncClient, entry: dict[str, object], field: str
) -> None:
    lock = {
        "name": "d",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "packages": {"": {"name": "d", "version": "1.0.0"}, "node_modules/app": entry},
    }
    created = await api.post(
        "/api/tasks",
        files=upload_files(**{"package-lock.json": json.dumps(lock, indent=2)}),
        data={"options": NODE},
    )
    task_id = created.json()["task_id"]
    doc = await wait_for_status(api, task_id, "failed", "resolved")
    assert doc["status"] == "failed"
    assert doc["error"]["file"] == "package-lock.json"
    assert f"packages['node_modules/app'].{field}" in doc["error"]["message"]


async def test_any_exception_fails_the_task_with_a_reason(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug deep inside, with /srv/secret/path in it")

    monkeypatch.setattr("ferry.tasks.manager.resolve_all", broken)
    created = await api.post(
        "/api/tasks", files=upload_files(**{"package.json": PACKAGE}), data={"options": NODE}
    )
    task_id = created.json()["task_id"]
    doc = await wait_for_status(api, task_id, "failed")
    assert doc["error"]["code"] == "ferry-error"
    assert "unexpectedly" in doc["error"]["message"]
    assert "/srv/secret" not in json.dumps(doc)  # the log has the details, not the client
    assert doc["transitions"][-1]["to"] == "failed"
