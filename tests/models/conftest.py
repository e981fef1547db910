"""What the model tests share: a served Ferry with an admin and a read token, and
publishing a version through its API (each file PUT, then the publish)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ferry.settings import Settings
from support.serve import Server


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[Server, str, str]]:
    """Ferry with an admin (publishing) and a read token (the Hub client's HF_TOKEN)."""
    server = Server(settings.model_copy(update={"data_dir": tmp_path / "ferry"}))
    try:
        made = server.client.post("/api/tokens", json={"name": "hf", "role": "read", "owner": "hf"})
        assert made.status_code == 201, made.text
        yield server, server.headers["Authorization"].removeprefix("Bearer "), made.json()["token"]
    finally:
        server.stop()


def publish(
    server: Server,
    admin: str,
    repo: str,
    version: str,
    files: dict[str, bytes],
    *,
    kind: str = "models",
    default: bool = True,
) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {admin}"}
    listed = []
    for path, data in files.items():
        answer = httpx.put(
            f"{server.base}/api/{kind}/{repo}/versions/{version}/files/{path}",
            content=data,
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["sha256"] == hashlib.sha256(data).hexdigest()
        listed.append({"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    done = httpx.post(
        f"{server.base}/api/{kind}/{repo}/versions/{version}/publish",
        json={
            "files": listed,
            "task": "text-classification",
            "languages": ["en"],
            "default": default,
        },
        headers=headers,
        timeout=60,
    )
    assert done.status_code == 201, done.text
    return done.json()  # type: ignore[no-any-return]
