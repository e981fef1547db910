"""schemathesis generates requests from the service's own OpenAPI schema: none may end
in a 500. Runs against a real `ferry serve` on 127.0.0.1 (bounded: a few examples per
operation)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conftest import Npm
from ferry.settings import Settings
from server.test_restart import Server, _free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def served(npm_settings: Settings, npmreg: Npm) -> Iterator[str]:
    server = Server(npm_settings, _free_port())
    try:
        yield server.base
    finally:
        server.stop()


def test_no_server_errors(served: str) -> None:
    # Driven by hand rather than through schemathesis' pytest plugin, which does not load
    # under this pytest; the generation and the calls are schemathesis' own.
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(timeout=30)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

        run()
