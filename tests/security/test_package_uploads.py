"""Direct package uploads as an attacker meets them: a real `ferry serve` whose packages are
in a SeaweedFS bucket. No token gets no plan and no record; a ticket made up, or taken
from another writer, records nothing; the plan's URL goes only to the bucket the operator
configured; no answer carries the server's paths, its token or the bucket's credentials."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator

import httpx
import pytest

from ferry.settings import Settings
from support.s3servers import ACCESS_KEY, SECRET_KEY, S3Server
from support.serve import Server

pytestmark = [pytest.mark.timeout(120), pytest.mark.s3]

PLAN = "/api/v1/packages/uploads"
DONE = "/api/v1/packages/uploads/complete"
BODY = b"a writer's release"


@pytest.fixture
def service(npm_settings: Settings, seaweedfs: S3Server) -> Iterator[Server]:
    env = {
        "FERRY_BLOB_STORE": f"s3://{seaweedfs.bucket}/sec-{os.urandom(4).hex()}",
        "FERRY_S3_ENDPOINT_URL": seaweedfs.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    started = Server(npm_settings, env=env)
    try:
        yield started
    finally:
        started.stop()


def _start(**fields: object) -> dict[str, object]:
    return {
        "name": "agent",
        "version": "1",
        "platform": "linux",
        "arch": "x86_64",
        "filename": "agent.tar.gz",
        "size": len(BODY),
        "sha256": hashlib.sha256(BODY).hexdigest(),
        **fields,
    }


def _said_nothing(text: str, server: Server) -> None:
    assert str(server.settings.data_dir) not in text
    assert server.token not in text
    assert SECRET_KEY not in text


def _writer(server: Server, owner: str) -> dict[str, str]:
    made = server.client.post(
        "/api/tokens", json={"name": f"w-{owner}", "role": "write", "owner": owner}
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['token']}"}


def test_no_token_gets_no_plan_and_records_nothing(service: Server) -> None:
    for path, body in ((PLAN, _start()), (DONE, {"ticket": "x"})):
        answer = service.client.post(path, json=body, headers={"Authorization": ""})
        assert answer.status_code == 401, (path, answer.text)
    assert service.client.get("/api/v1/packages").json()["total"] == 0


def test_the_plan_points_at_the_configured_bucket_only(
    service: Server, seaweedfs: S3Server
) -> None:
    answer = service.client.post(PLAN, json=_start())
    assert answer.status_code == 200, answer.text
    direct = answer.json()["direct"]
    assert direct["url"].startswith(f"{seaweedfs.endpoint}/{seaweedfs.bucket}/sec-")
    assert ACCESS_KEY not in json.dumps(direct["headers"])
    _said_nothing(answer.text, service)
    # fields that try to climb are refused before any URL is made
    for bad in ({"name": "../../etc"}, {"version": "1/.."}, {"arch": "..%2f.."}):
        refused = service.client.post(PLAN, json=_start(**bad))
        assert refused.status_code == 422, refused.text
        _said_nothing(refused.text, service)
    # a file name that names another host is only ever its last part: the URL stays put
    named = service.client.post(PLAN, json=_start(name="other", filename="http://elsewhere/x"))
    assert named.json()["direct"]["url"].startswith(f"{seaweedfs.endpoint}/{seaweedfs.bucket}/")
    assert "elsewhere" not in named.json()["direct"]["url"]


def test_a_made_up_or_borrowed_ticket_records_nothing(service: Server) -> None:
    mallory = _writer(service, "mallory")
    plan = service.client.post(PLAN, json=_start()).json()
    assert httpx.put(
        plan["direct"]["url"], content=BODY, headers=plan["direct"]["headers"]
    ).is_success
    claim = {**_start(), "owner": "mallory", "description": ""}
    made_up = base64.urlsafe_b64encode(json.dumps(claim).encode()).decode().rstrip("=")
    for ticket in (f"{made_up}.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA", plan["ticket"]):
        answer = service.client.post(DONE, json={"ticket": ticket}, headers=mallory)
        assert answer.status_code == 422, answer.text
        _said_nothing(answer.text, service)
    assert service.client.get("/api/v1/packages").json()["total"] == 0
    # the plan's own writer still completes it
    done = service.client.post(DONE, json={"ticket": plan["ticket"]})
    assert done.status_code == 201 and done.json()["owner"] != "mallory", done.text
