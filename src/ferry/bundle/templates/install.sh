#!/bin/sh
# Install this Ferry bundle with no network.
# Into the active virtual environment, or a new .venv in the current directory.
# PYTHON=/path/to/python3 chooses the interpreter used to create .venv.
set -eu
BUNDLE_DIR=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
if [ -n "${VIRTUAL_ENV:-}" ]; then
    PY="$VIRTUAL_ENV/bin/python"
else
    if [ ! -x .venv/bin/python ]; then
        BASE=${PYTHON:-python3}
        # Refuse before creating anything when this interpreter is the wrong one.
        "$BASE" "$BUNDLE_DIR/ferry_install.py" --check
        "$BASE" -m venv .venv
    fi
    PY=.venv/bin/python
fi
exec "$PY" "$BUNDLE_DIR/ferry_install.py" "$@"
