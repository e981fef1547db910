"""schemathesis generates requests from the service's own OpenAPI schema and checks every
answer against it: no 500, every status documented, every content type and body as
documented, a correct Allow on 405s. Runs against a real `ferry serve` on 127.0.0.1 with
an admin token (bounded: a few examples per operation)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import Npm
from ferry.settings import Settings
from support.serve import Server, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def server(npm_settings: Settings, npmreg: Npm) -> Iterator[Server]:
    started = Server(npm_settings, free_port())
    try:
        yield started
    finally:
        started.stop()


def test_every_answer_is_as_documented(server: Server) -> None:
    # Driven by hand rather than through schemathesis' pytest plugin, which does not load
    # under this pytest; the generation, the calls and the checks are schemathesis' own.
    schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json", headers=server.headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=server.headers, checks=CHECKS, timeout=30)

        run()


def test_a_wrong_method_gets_a_405_with_the_right_allow(server: Server) -> None:
    for path, expected in [
        ("/api/tasks", "GET, HEAD, POST"),
        ("/api/tasks/" + "0" * 32, "DELETE, GET, HEAD"),
        ("/api/tokens/" + "0" * 16, "DELETE"),
        ("/metrics", "GET, HEAD"),
    ]:
        answer = server.client.request("PATCH", path)
        assert answer.status_code == 405, path
        assert answer.headers["allow"] == expected, path
        assert answer.headers["content-type"] == "application/problem+json"
