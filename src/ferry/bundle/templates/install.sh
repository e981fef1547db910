#!/bin/sh
# Install this Ferry bundle with no network:  sh install.sh [PROJECT_DIR] [pip options]
# PROJECT_DIR defaults to the current directory.
#   Python packages: into the active virtual environment, else PROJECT_DIR/.venv
#                    (PYTHON=/path/to/python3 chooses the interpreter that creates it).
#   npm packages:    npm ci --offline in PROJECT_DIR (its package.json and lock are written
#                    from the bundle when it has none); FERRY_NPM_SCRIPTS=1 runs install scripts.
# Exit codes: 3 wrong machine for this bundle, 4 damaged bundle, 5 install failed.
set -eu
BUNDLE_DIR=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
PROJECT=${1:-.}
[ $# -gt 0 ] && shift
mkdir -p "$PROJECT"
PROJECT=$(CDPATH= cd -- "$PROJECT" && pwd)

# Check every byte before anything is installed.
if command -v sha256sum >/dev/null 2>&1; then
    (cd "$BUNDLE_DIR" && sha256sum -c --quiet SHA256SUMS >&2) ||
        { echo "ferry: the bundle is damaged (see the files above)" >&2; exit 4; }
    export FERRY_VERIFIED=1
elif command -v shasum >/dev/null 2>&1; then
    (cd "$BUNDLE_DIR" && shasum -a 256 -c --quiet SHA256SUMS >&2) ||
        { echo "ferry: the bundle is damaged (see the files above)" >&2; exit 4; }
    export FERRY_VERIFIED=1
fi

HAS_PY=0; HAS_NPM=0
[ -d "$BUNDLE_DIR/python-packages" ] && HAS_PY=1
[ -d "$BUNDLE_DIR/npm-packages" ] && HAS_NPM=1

# Refuse before creating anything when this machine is the wrong one.
if [ "$HAS_NPM" = 1 ]; then
    command -v node >/dev/null 2>&1 ||
        { echo "ferry: this bundle carries npm packages but node is not installed" >&2; exit 3; }
    node "$BUNDLE_DIR/ferry_npm.js" --check
fi
if [ "$HAS_PY" = 1 ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        PY="$VIRTUAL_ENV/bin/python"
    else
        PY="$PROJECT/.venv/bin/python"
        if [ ! -x "$PY" ]; then
            BASE=${PYTHON:-python3}
            "$BASE" "$BUNDLE_DIR/ferry_install.py" --check
            "$BASE" -m venv "$PROJECT/.venv"
        fi
    fi
    "$PY" "$BUNDLE_DIR/ferry_install.py" "$@"
fi
if [ "$HAS_NPM" = 1 ]; then
    node "$BUNDLE_DIR/ferry_npm.js" "$PROJECT"
fi
