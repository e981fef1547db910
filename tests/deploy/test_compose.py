"""The compose files in deploy/: valid against the Compose Specification's own JSON schema
(deploy/compose-spec.json, from compose-spec/compose-spec, Apache-2.0), and true to Ferry:
every FERRY_ variable is a setting that takes the value given, every command is one the
CLI has, and the scaled profile has what issue 20 names. No Docker engine runs here; the
scaled profile itself is proven with processes by tests/scale."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from ferry.cli.main import app
from ferry.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
FILES = ["compose.yaml", "compose.scaled.yaml"]


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text())  # type: ignore[no-any-return]


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads((DEPLOY / "compose-spec.json").read_text())
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize("name", FILES)
def test_valid_against_the_compose_specification(name: str) -> None:
    errors = sorted(_validator().iter_errors(_load(name)), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_schema_check_catches_a_broken_file() -> None:
    broken = _load("compose.scaled.yaml")
    broken["services"]["worker"]["replica"] = 3  # a typo: no such key
    broken["services"]["api"]["ports"] = {"8000": 8000}
    assert len(list(_validator().iter_errors(broken))) >= 2


def _ferry_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in doc["services"].items()
        if service.get("image", "").startswith("ferry:")
    }


def _placeholders(value: str) -> str:
    # ${VAR:?message} and ${VAR} are the operator's: any value of the right shape
    return re.sub(r"\$\{[A-Z_]+(:\?[^}]*)?\}", "0" * 64, value)


@pytest.mark.parametrize("name", FILES)
def test_every_ferry_variable_is_a_setting_that_takes_its_value(name: str, tmp_path: Path) -> None:
    services = _ferry_services(_load(name))
    assert services
    for service, spec in services.items():
        env = {k: _placeholders(str(v)) for k, v in spec["environment"].items()}
        ferry = {k.removeprefix("FERRY_").lower(): v for k, v in env.items() if k[:6] == "FERRY_"}
        unknown = set(ferry) - set(Settings.model_fields)
        assert not unknown, f"{name}, {service}: no such setting {unknown}"
        ferry["data_dir"] = str(tmp_path)
        Settings.model_validate(ferry)  # types and validators: a bad value fails here


@pytest.mark.parametrize("name", FILES)
def test_every_command_is_one_the_cli_has(name: str) -> None:
    runner = CliRunner()
    for service, spec in _ferry_services(_load(name)).items():
        command = spec["command"]
        argv = command if isinstance(command, list) else shlex.split(command)
        assert argv[0] == "ferry", (service, argv)
        result = runner.invoke(app, [*argv[1:], "--help"])
        assert result.exit_code == 0, (service, argv, result.output)
        for option in (a for a in argv[1:] if a.startswith("--")):
            assert option in result.output, f"{service}: `{' '.join(argv)}`: {option}?"


def test_the_scaled_profile_has_what_scale_out_needs() -> None:
    doc = _load("compose.scaled.yaml")
    services = doc["services"]
    api, worker = services["api"], services["worker"]
    assert api["deploy"]["replicas"] >= 2 and worker["deploy"]["replicas"] >= 2
    assert {"postgres", "redis", "seaweedfs", "proxy"} <= set(services)
    for spec in (api, worker):
        env = spec["environment"]
        assert env["FERRY_DATABASE_URL"].startswith("postgresql")
        assert env["FERRY_TASK_QUEUE"].startswith("redis://redis:")
        assert env["FERRY_BLOB_STORE"].startswith("s3://")
        assert "FERRY_SECRET_KEY" in env
    assert api["environment"] == worker["environment"]  # one configuration for all
    # the proxy sends to every api replica and carries WebSockets
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "server api:8000" in nginx and "Upgrade $http_upgrade" in nginx
