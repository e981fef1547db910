#!/usr/bin/env bash
# Install what Ferry needs on a fresh Debian machine: system packages, then .venv.
# Usage: scripts/install.sh [--dev]   (--dev adds the test and lint tools)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
need_apt=()
command -v "$PYTHON" >/dev/null || need_apt+=(python3)
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v unshare >/dev/null || need_apt+=(util-linux)
# ferry serve runs uv and npm of strangers' tasks in a bubblewrap box (as nobody, through
# util-linux's setpriv when root)
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v unzip >/dev/null || need_apt+=(unzip)
# npm bundles resolve with npm itself and check engines with its semver
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# the second download backend (fetch_backend = "aria2") drives aria2c over JSON-RPC
command -v aria2c >/dev/null || need_apt+=(aria2)
# the browser the end-to-end tests drive (test tools may not download their own), and
# the fonts its screenshot of the UI in Chinese needs (else every glyph is a box)
if [ "${1:-}" = "--dev" ]; then
    [ -x /usr/bin/chromium ] || need_apt+=(chromium)
    dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed" ||
        need_apt+=(fonts-noto-cjk)
    # bundles' install.sh is tested under BusyBox too (its sha256sum, as on Alpine)
    command -v busybox >/dev/null || need_apt+=(busybox)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "Ferry needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--dev" ]; then
    .venv/bin/python -m pip install -q -e '.[dev]'
else
    .venv/bin/python -m pip install -q -e .
fi
# An editable install leaves Ferry's own modules uncompiled; where PYTHONDONTWRITEBYTECODE
# is set they would be compiled again at every start (~60 ms of each `ferry` command).
.venv/bin/python -m compileall -q src

# The web UI, served by `ferry serve` at / (built here, never committed).
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
