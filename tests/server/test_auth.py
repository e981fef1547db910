"""Who may do what: every operation of the OpenAPI schema with no token and with each
role; tasks seen only by their owner (and admins); tokens revoked or expired stop at
once; the socket authenticated without a URL; headers and origins a browser relies on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ferry.auth.roles import Role
from ferry.auth.tokens import hash_token, new_token
from ferry.server.app import create_app
from ferry.settings import Settings
from server import STARTUP_S, wait_for_status
from support.auth import bearer, issue

pytestmark = pytest.mark.timeout(120)

# The role each operation needs (None: open to anyone). A route added without an entry
# here fails test_every_operation_is_in_the_table, so no route can ship without a decision.
REQUIRED: dict[tuple[str, str], str | None] = {
    ("GET", "/health"): None,
    ("GET", "/metrics"): "read",
    ("GET", "/api/registries"): "read",
    ("GET", "/api/tasks"): "read",
    ("POST", "/api/tasks"): "write",
    ("POST", "/api/manifests/declared"): "write",
    ("GET", "/api/tasks/{task_id}"): "read",
    ("DELETE", "/api/tasks/{task_id}"): "write",
    ("GET", "/api/tasks/{task_id}/dependencies"): "read",
    ("POST", "/api/tasks/{task_id}/download"): "write",
    ("POST", "/api/tasks/{task_id}/cancel"): "write",
    ("POST", "/api/tasks/{task_id}/pause"): "write",
    ("POST", "/api/tasks/{task_id}/resume"): "write",
    ("POST", "/api/tasks/{task_id}/retry"): "write",
    ("GET", "/api/tasks/{task_id}/archive"): "read",
    ("GET", "/api/tokens"): "admin",
    ("POST", "/api/tokens"): "admin",
    ("DELETE", "/api/tokens/{token_id}"): "admin",
    # every token may see itself: the UI offers only what its role allows
    ("GET", "/api/tokens/me"): "read",
    ("GET", "/api/audit"): "admin",
    ("GET", "/api/v1/packages"): "read",
    ("POST", "/api/v1/packages"): "write",
    ("POST", "/api/v1/packages/uploads"): "write",
    ("POST", "/api/v1/packages/uploads/complete"): "write",
    ("GET", "/api/v1/packages/{package_id}"): "read",
    ("GET", "/api/v1/packages/{package_id}/download"): "read",
    # the uploader's own, or any with admin (test_packages.py)
    ("DELETE", "/api/v1/packages/{package_id}"): "write",
    # the registries: read by pip, uv and npm with the token as they send credentials
    ("GET", "/simple/"): "read",
    ("GET", "/simple/{project}/"): "read",
    ("GET", "/files/pypi/{sha256}/{filename}"): "read",
    ("GET", "/api/imports"): "read",
    # a writer uploads; naming a bundle on the server's disk ({"path": …}) needs admin
    # (tests/registry/test_import_dir.py)
    ("POST", "/api/imports"): "write",
    ("GET", "/api/imports/available"): "admin",
    ("GET", "/api/registry/packages"): "read",
    ("GET", "/api/registry/packages/{ecosystem}/{name}"): "read",
    ("GET", "/npm/{name}"): "read",
    ("GET", "/npm/{name}/-/{tarball}"): "read",
    # models and datasets: read as huggingface_hub reads them (routes/hub.py); uploading a
    # file needs write, and so does publishing (a POST that paths-info shares: test_hub.py)
    ("GET", "/api/models"): "read",
    ("GET", "/api/datasets"): "read",
    ("GET", "/api/model-usage/ranking"): "read",
    ("GET", "/api/models/{rest}"): "read",
    ("GET", "/api/datasets/{rest}"): "read",
    ("POST", "/api/models/{rest}"): "read",
    ("POST", "/api/datasets/{rest}"): "read",
    ("PUT", "/api/models/{rest}"): "write",
    ("PUT", "/api/datasets/{rest}"): "write",
    ("GET", "/storage/models/{rest}"): "read",
    ("GET", "/api/v1/torrents"): "read",
    ("POST", "/api/v1/publish"): "write",
    ("GET", "/api/v1/torrents/{info_hash}/torrent"): "read",
    ("GET", "/{a}/resolve/{rest}"): "read",
    ("GET", "/{a}/{b}/resolve/{rest}"): "read",
    ("GET", "/datasets/{a}/resolve/{rest}"): "read",
    ("GET", "/datasets/{a}/{b}/resolve/{rest}"): "read",
}
# answered with a Basic challenge: the one that makes pip and uv look in netrc and keyrings
BASIC = {
    "/simple/",
    "/simple/{project}/",
    "/files/pypi/{sha256}/{filename}",
    "/npm/{name}",
    "/npm/{name}/-/{tarball}",
    "/api/models",
    "/api/datasets",
    "/api/model-usage/ranking",
    "/api/models/{rest}",
    "/api/datasets/{rest}",
    "/storage/models/{rest}",
    "/{a}/resolve/{rest}",
    "/{a}/{b}/resolve/{rest}",
    "/datasets/{a}/resolve/{rest}",
    "/datasets/{a}/{b}/resolve/{rest}",
}
# ...but uploading a model's files is for writers' tools, which send bearer tokens
BEARER_ON_BASIC_PATHS = {("PUT", "/api/models/{rest}"), ("PUT", "/api/datasets/{rest}")}
ROLES = ("read", "write", "admin")
PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
NODE = {"node_version": "20", "os": "linux", "cpu": "x64"}


@pytest.fixture
async def app(npm_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(npm_settings)
    async with LifespanManager(application, startup_timeout=STARTUP_S):
        yield application


def _client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://ferry",
        headers=bearer(token) if token else {},
    )


def _operations(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]


def _url(path: str) -> str:
    return (
        path.replace("{task_id}", "0" * 32)
        .replace("{token_id}", "0" * 16)
        .replace("{package_id}", "0" * 32)
        .replace("{project}", "nothing-here")
        .replace("{sha256}", "0" * 64)
        .replace("{info_hash}", "0" * 40)
        .replace("{filename}", "nothing-1.0.tar.gz")
        .replace("{ecosystem}", "npm")
        .replace("{name}", "@scope%2fnothing")
        .replace("{tarball}", "nothing-1.0.0.tgz")
        .replace("{rest}", "nothing/here")
        .replace("{a}", "acme")
        .replace("{b}", "nothing")
    )


async def test_every_operation_is_in_the_table(app: FastAPI) -> None:
    assert sorted(_operations(app)) == sorted(REQUIRED)


async def test_the_schema_needs_a_token_and_the_docs_page_says_so(app: FastAPI) -> None:
    async with _client(app) as anonymous:
        assert (await anonymous.get("/openapi.json")).status_code == 401
        # the page and its files are static, like the UI's; it asks for a sign-in itself
        assert (await anonymous.get("/docs")).status_code == 200
        assert "sign in to Ferry first" in (await anonymous.get("/docs/init.js")).text
    async with _client(app, issue(app, "read", "reader")) as reader:
        assert (await reader.get("/openapi.json")).json()["info"]["title"] == "Ferry"


async def test_every_operation_checks_the_token_and_the_role(app: FastAPI) -> None:
    tokens = {role: issue(app, role, owner=f"u-{role}") for role in ROLES}
    for method, path in _operations(app):
        needed = REQUIRED[(method, path)]
        async with _client(app) as anonymous:
            answer = await anonymous.request(method, _url(path))
        if needed is None:
            assert answer.status_code == 200, (method, path)
            continue
        assert answer.status_code == 401, (method, path, answer.text)
        basic = path in BASIC and (method, path) not in BEARER_ON_BASIC_PATHS
        challenge = "Basic" if basic else "Bearer"
        assert answer.headers["www-authenticate"].startswith(challenge), (method, path)
        assert answer.json()["code"] == "auth-required"
        async with _client(app, "ferry_" + "A" * 43) as forged:
            assert (await forged.request(method, _url(path))).status_code == 401, (method, path)
        for role in ROLES:
            async with _client(app, tokens[role]) as client:
                status = (await client.request(method, _url(path))).status_code
            if Role(role).allows(Role(needed)):
                assert status not in (401, 403), (method, path, role, status)
            else:
                assert status == 403, (method, path, role, status)


async def test_a_token_sees_its_own_name_owner_and_role(app: FastAPI) -> None:
    for role in ROLES:
        token = issue(app, role, owner=f"me-{role}")
        async with _client(app, token) as client:
            me = (await client.get("/api/tokens/me")).json()
        (record,) = [r for r in app.state.tokens.list() if r.owner == f"me-{role}"]
        assert me == {
            "id": record.id,
            "name": f"me-{role}-{role}",
            "owner": f"me-{role}",
            "role": role,
        }
        assert token not in json.dumps(me)


async def test_a_task_is_seen_by_its_owner_and_admins_only(app: FastAPI) -> None:
    alice, bob, admin = issue(app, "write", "alice"), issue(app, "write", "bob"), issue(app)
    async with _client(app, alice) as a, _client(app, bob) as b, _client(app, admin) as root:
        created = await a.post(
            "/api/tasks",
            files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
            data={"options": json.dumps(NODE)},
        )
        task_id = created.json()["task_id"]
        doc = await wait_for_status(a, task_id, "resolved", "failed")
        assert doc["owner"] == "alice"
        for method, suffix in [
            ("GET", ""),
            ("GET", "/dependencies"),
            ("POST", "/download"),
            ("POST", "/cancel"),
            ("POST", "/pause"),
            ("GET", "/archive"),
            ("DELETE", ""),
        ]:
            answer = await b.request(method, f"/api/tasks/{task_id}{suffix}")
            # exactly what a task that does not exist gives: ids are not confirmed
            assert answer.status_code == 404, (method, suffix, answer.text)
            assert answer.json()["code"] == "task-not-found"
        assert (await b.get("/api/tasks")).json()["total"] == 0
        assert (await a.get("/api/tasks")).json()["total"] == 1
        listed = (await root.get("/api/tasks")).json()["tasks"]
        assert [t["task_id"] for t in listed] == [task_id]
        assert (await root.get(f"/api/tasks/{task_id}/dependencies")).status_code == 200
        # still there after bob's attempts
        assert (await a.get(f"/api/tasks/{task_id}")).status_code == 200


async def test_revoked_and_expired_tokens_stop_working(app: FastAPI) -> None:
    admin = issue(app)
    async with _client(app, admin) as root:
        made = (await root.post("/api/tokens", json={"name": "ci", "role": "read"})).json()
        token = made["token"]
        async with _client(app, token) as ci:
            assert (await ci.get("/api/tasks")).status_code == 200
            assert (await root.delete(f"/api/tokens/{made['id']}")).status_code == 204
            assert (await ci.get("/api/tasks")).status_code == 401  # at once, not later
        listed = (await root.get("/api/tokens")).json()["tokens"]
        assert made["id"] not in {t["id"] for t in listed}
        revoked = (await root.get("/api/tokens", params={"revoked": "true"})).json()["tokens"]
        assert any(t["id"] == made["id"] and t["revoked_at"] for t in revoked)
        # a list never carries a token or its hash
        raw = (await root.get("/api/tokens", params={"revoked": "true"})).text
        assert token not in raw and hash_token(token) not in raw and "token_hash" not in raw

    expired = new_token()
    app.state.tokens.create(
        name="old",
        owner="old",
        role=Role.ADMIN,
        token_hash=hash_token(expired),
        created_by="tests",
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    async with _client(app, expired) as old:
        assert (await old.get("/api/tasks")).status_code == 401


async def test_tokens_record_when_they_were_last_used(app: FastAPI) -> None:
    token = issue(app, "read", "reader")
    (record,) = [r for r in app.state.tokens.list() if r.owner == "reader"]
    assert record.last_used_at is None
    async with _client(app, token) as reader:
        await reader.get("/api/tasks")
    (record,) = [r for r in app.state.tokens.list() if r.owner == "reader"]
    assert record.last_used_at is not None


async def test_token_creation_checks_its_input(app: FastAPI) -> None:
    async with _client(app, issue(app)) as root:
        for body in (
            {"name": "x", "role": "superuser"},
            {"name": "", "role": "read"},
            {"name": "x", "role": "read", "expires": "forever"},
            {"name": "x\n<script>", "role": "read"},
            {"name": "x", "role": "read", "unknown": 1},
        ):
            answer = await root.post("/api/tokens", json=body)
            assert 400 <= answer.status_code < 500, (body, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        assert len(app.state.tokens.list()) == 1  # only the admin's own


def test_the_socket_needs_a_token_and_never_in_the_url(npm_settings: Settings) -> None:
    with TestClient(create_app(npm_settings)) as client:
        owner = issue(client.app, "write", "alice")  # type: ignore[arg-type]
        other = issue(client.app, "write", "bob")  # type: ignore[arg-type]
        created = client.post(
            "/api/tasks",
            headers=bearer(owner),
            files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
            data={"options": json.dumps(NODE)},
        ).json()
        url = f"/ws/tasks/{created['task_id']}"

        def refused(first: dict[str, Any] | None, headers: dict[str, str] | None = None) -> int:
            with client.websocket_connect(url, headers=dict(headers or {})) as ws:
                if first is not None:
                    ws.send_json(first)
                doc = ws.receive_json()
                assert doc["type"] == "error"
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
            return closed.value.code

        assert refused({"type": "auth", "token": "ferry_" + "A" * 43}) == 4401
        assert refused({"type": "hello"}) == 4401
        assert refused(None, headers={"Authorization": "Bearer nope"}) == 4401
        # another owner's task is an unknown task
        assert refused({"type": "auth", "token": other}) == 4404
        # a browser: the token as the first message
        with client.websocket_connect(url) as ws:
            ws.send_json({"type": "auth", "token": owner})
            assert ws.receive_json()["type"] == "status"
        # a program: the token in the handshake's header
        with client.websocket_connect(url, headers=bearer(owner)) as ws:
            assert ws.receive_json()["type"] == "status"


async def test_security_headers_on_every_answer(app: FastAPI) -> None:
    async with _client(app) as client:
        for path in ("/health", "/api/tasks", "/nope", "/docs", "/openapi.json"):
            answer = await client.get(path)
            csp = answer.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert "script-src 'self';" in csp and "unsafe-eval" not in csp
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert "set-cookie" not in answer.headers  # no cookie, so no CSRF


async def test_no_cors_unless_configured(app: FastAPI, npm_settings: Settings) -> None:
    token = issue(app)
    async with _client(app, token) as client:
        answer = await client.get("/api/tasks", headers={"Origin": "https://elsewhere.test"})
        assert "access-control-allow-origin" not in answer.headers
        preflight = await client.options(
            "/api/tasks",
            headers={
                "Origin": "https://elsewhere.test",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
        # a cross-site form post is refused before anything is read, token or not
        form = await client.post(
            "/api/tasks",
            headers={"Origin": "https://elsewhere.test"},
            files=[("files", ("requirements.txt", b"dep==1.0\n", "text/plain"))],
        )
        assert form.status_code == 403 and form.json()["code"] == "origin-refused"
    assert (await _count_tasks(app, token)) == 0

    allowed = npm_settings.model_copy(update={"cors_origins": ["https://ui.example.test"]})
    other = create_app(allowed)
    async with (
        LifespanManager(other, startup_timeout=STARTUP_S),
        _client(other, issue(other)) as client,
    ):
        preflight = await client.options(
            "/api/tasks",
            headers={
                "Origin": "https://ui.example.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == "https://ui.example.test"
        assert "access-control-allow-credentials" not in preflight.headers
        answer = await client.get("/api/tasks", headers={"Origin": "https://ui.example.test"})
        assert answer.status_code == 200


async def _count_tasks(app: FastAPI, token: str) -> int:
    async with _client(app, token) as client:
        return int((await client.get("/api/tasks")).json()["total"])


async def test_the_audit_log_says_who_did_what(app: FastAPI) -> None:
    admin, alice = issue(app), issue(app, "write", "alice")
    async with _client(app, alice) as a, _client(app, admin) as root:
        created = await a.post(
            "/api/tasks",
            files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
            data={"options": json.dumps(NODE)},
        )
        task_id = created.json()["task_id"]
        await wait_for_status(a, task_id, "resolved", "failed")
        assert (await a.post(f"/api/tasks/{task_id}/cancel")).status_code == 200
        assert (await a.delete(f"/api/tasks/{task_id}")).status_code == 204
        made = (await root.post("/api/tokens", json={"name": "ci", "role": "read"})).json()
        await root.delete(f"/api/tokens/{made['id']}")
        log = (await root.get("/api/audit")).json()
        assert (await a.get("/api/audit")).status_code == 403
    actions = [(e["action"], e["actor"], e["target"]) for e in reversed(log["entries"])]
    assert actions == [
        ("task.create", "alice", task_id),
        ("task.cancel", "alice", task_id),
        ("task.delete", "alice", task_id),
        ("token.create", "tester", made["id"]),
        ("token.revoke", "tester", made["id"]),
    ]
    assert all(e["address"] and e["at"] for e in log["entries"])
    only = (await _audit(app, admin, action="task.delete"))["entries"]
    assert [e["target"] for e in only] == [task_id]


async def _audit(app: FastAPI, token: str, **params: str) -> dict[str, Any]:
    async with _client(app, token) as client:
        return (await client.get("/api/audit", params=params)).json()  # type: ignore[no-any-return]


async def test_quotas_of_a_token(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from ferry.auth.principal import Quotas

    busy = issue(app, "write", "busy", quotas=Quotas(1, None, None))
    hourly = issue(app, "write", "hourly", quotas=Quotas(None, 2, None))
    files = [("files", ("requirements.txt", b"not valid !!\n", "text/plain"))]
    async with _client(app, busy) as client:
        # no task gets a slot: the first stays queued, which counts as at work
        monkeypatch.setattr(app.state.manager, "_slots", asyncio.Semaphore(0))
        first = await client.post("/api/tasks", files=files)
        assert first.status_code == 201
        second = await client.post("/api/tasks", files=files)
        assert second.status_code == 429
        assert (
            second.json()["code"] == "quota-exceeded" and "limit is 1" in second.json()["message"]
        )
    async with _client(app, hourly) as client:
        for _ in range(2):
            assert (await client.post("/api/tasks", files=files)).status_code == 201
        third = await client.post("/api/tasks", files=files)
        assert third.status_code == 429 and third.headers["retry-after"]
        # deleting tasks does not give the hour back: it counts what was created
        for task in (await client.get("/api/tasks")).json()["tasks"]:
            await client.delete(f"/api/tasks/{task['task_id']}")
        assert (await client.post("/api/tasks", files=files)).status_code == 429


async def test_a_disk_quota_refuses_new_work(app: FastAPI) -> None:
    from ferry.auth.principal import Quotas

    token = issue(app, "write", "full", quotas=Quotas(None, None, 100))
    (record,) = [r for r in app.state.tokens.list() if r.owner == "full"]
    # an archive of 150 bytes already kept by this token
    app.state.manager.repo.create(
        "f" * 32, {}, [], expires_at=None, owner="full", token_id=record.id
    )
    app.state.manager.repo.update("f" * 32, archive_size=150)
    async with _client(app, token) as client:
        answer = await client.post(
            "/api/tasks", files=[("files", ("requirements.txt", b"dep\n", "text/plain"))]
        )
        assert answer.status_code == 429 and "take 150 bytes" in answer.json()["message"]
