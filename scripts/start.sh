#!/usr/bin/env bash
# Set up and start Ferry on its embedded default: SQLite + local files under the data dir.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/ferry serve "$@"
