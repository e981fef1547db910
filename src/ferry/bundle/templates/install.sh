#!/bin/sh
# Install this Ferry bundle with no network:  sh install.sh [PROJECT_DIR] [pip options]
# PROJECT_DIR defaults to the current directory.
#   Python packages: into the active virtual environment, else PROJECT_DIR/.venv
#                    (PYTHON=/path/to/python3 chooses the interpreter that creates it).
#   npm packages:    npm ci --offline in PROJECT_DIR (its package.json and lock are written
#                    from the bundle when it has none); FERRY_NPM_SCRIPTS=1 runs install scripts.
# Runs with any POSIX sh: dash, bash, BusyBox (Alpine).
# Exit codes: 0 installed; 3 wrong machine for this bundle (nothing was created);
#             4 damaged bundle (nothing was created); 5 pip or npm failed to install.
set -eu
BUNDLE_DIR=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
PROJECT=${1:-.}
[ $# -gt 0 ] && shift
case "$PROJECT" in
    /*) ;;
    *) PROJECT="$(pwd)/$PROJECT" ;;
esac

# Check every byte before anything is installed. sha256sum -c prints a line a file in
# GNU coreutils and BusyBox alike (neither takes the other's quiet flag): only the
# files that are not OK are shown.
checked=""
if command -v sha256sum >/dev/null 2>&1; then
    checked=$(cd "$BUNDLE_DIR" && sha256sum -c SHA256SUMS 2>&1) || {
        printf '%s\n' "$checked" | grep -v ': OK$' >&2
        echo "ferry: the bundle is damaged (see the files above)" >&2
        exit 4
    }
    export FERRY_VERIFIED=1
elif command -v shasum >/dev/null 2>&1; then
    checked=$(cd "$BUNDLE_DIR" && shasum -a 256 -c SHA256SUMS 2>&1) || {
        printf '%s\n' "$checked" | grep -v ': OK$' >&2
        echo "ferry: the bundle is damaged (see the files above)" >&2
        exit 4
    }
    export FERRY_VERIFIED=1
fi

HAS_PY=0; HAS_NPM=0
[ -d "$BUNDLE_DIR/python-packages" ] && HAS_PY=1
[ -d "$BUNDLE_DIR/npm-packages" ] && HAS_NPM=1

# Refuse before creating anything (not even PROJECT_DIR) when this machine is the wrong one.
if [ "$HAS_NPM" = 1 ]; then
    command -v node >/dev/null 2>&1 ||
        { echo "ferry: this bundle carries npm packages but node is not installed" >&2; exit 3; }
    node "$BUNDLE_DIR/ferry_npm.js" --check || exit $?
fi
if [ "$HAS_PY" = 1 ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        PY="$VIRTUAL_ENV/bin/python"
        "$PY" "$BUNDLE_DIR/ferry_install.py" --check || exit $?
    elif [ ! -x "$PROJECT/.venv/bin/python" ]; then
        BASE=${PYTHON:-python3}
        command -v "$BASE" >/dev/null 2>&1 ||
            { echo "ferry: this bundle carries Python packages but $BASE is not installed" >&2; exit 3; }
        "$BASE" "$BUNDLE_DIR/ferry_install.py" --check || exit $?
    fi
fi

mkdir -p "$PROJECT"
if [ "$HAS_PY" = 1 ]; then
    if [ -z "${VIRTUAL_ENV:-}" ]; then
        PY="$PROJECT/.venv/bin/python"
        if [ ! -x "$PY" ]; then
            "${PYTHON:-python3}" -m venv "$PROJECT/.venv" ||
                { echo "ferry: could not create $PROJECT/.venv (is python3-venv installed?)" >&2; exit 5; }
        fi
    fi
    status=0
    "$PY" "$BUNDLE_DIR/ferry_install.py" "$@" || status=$?
    case "$status" in
        0) ;;
        3|4) exit "$status" ;;
        *) exit 5 ;;
    esac
fi
if [ "$HAS_NPM" = 1 ]; then
    status=0
    node "$BUNDLE_DIR/ferry_npm.js" "$PROJECT" || status=$?
    case "$status" in
        0) ;;
        3|4) exit "$status" ;;
        *) exit 5 ;;
    esac
fi
