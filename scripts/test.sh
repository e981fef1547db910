#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, types, then every test
# (network, slow and acceptance ones included). No test collected is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
(cd web && npm test --silent)
set +e
# Two workers (FERRY_TEST_WORKERS): most tests wait on a subprocess (ferry serve, uv, npm,
# pip), so the second core roughly halves the wall time (22 → 12 min on the CI machine).
.venv/bin/pytest -q -n "${FERRY_TEST_WORKERS:-2}" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$status"
