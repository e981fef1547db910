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
.venv/bin/pytest -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$status"
