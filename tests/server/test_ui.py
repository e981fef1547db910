"""The web UI is served at / (the built files), and its API types come from the live
OpenAPI schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from ferry.server.app import create_app
from ferry.settings import Settings
from server import signed_in

ROOT = Path(__file__).resolve().parents[2]


def test_built_ui_is_served_at_root(npm_settings: Settings, tmp_path: Path) -> None:
    ui = tmp_path / "dist"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<!doctype html><div id=root>ferry ui</div>")
    (ui / "assets" / "app.js").write_text("console.log('ferry')")
    settings = npm_settings.model_copy(update={"ui_dir": ui})
    with TestClient(create_app(settings)) as client:
        assert "ferry ui" in client.get("/").text  # the UI's files need no token
        signed_in(client)
        assert client.get("/assets/app.js").status_code == 200
        assert client.get("/health").json()["status"] == "ok"  # the API keeps its routes
        assert client.get("/api/tasks").status_code == 200


def test_without_a_build_root_says_how_to_get_one(npm_settings: Settings, tmp_path: Path) -> None:
    settings = npm_settings.model_copy(update={"ui_dir": tmp_path / "missing"})
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.status_code == 200 and "scripts/start.sh" in page.text


def test_web_types_come_from_the_current_schema() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from openapi import schema_text
    finally:
        sys.path.pop(0)
    committed = ROOT / "web" / "openapi.json"
    assert committed.is_file(), (
        "web/openapi.json is missing: run .venv/bin/python scripts/openapi.py"
    )
    assert json.loads(committed.read_text()) == json.loads(schema_text()), (
        "web/openapi.json is stale: run .venv/bin/python scripts/openapi.py, then "
        "`npm run gen:api` in web/"
    )
