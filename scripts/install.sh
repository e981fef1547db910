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
    # the offline tests build real sdists (psycopg2, C extensions) as a target machine
    # would: a compiler, Python's headers and libpq's
    command -v gcc >/dev/null || need_apt+=(gcc)
    dpkg-query -W -f='${Status}' python3-dev 2>/dev/null | grep -q "ok installed" ||
        need_apt+=(python3-dev)
    command -v pg_config >/dev/null || need_apt+=(libpq-dev)
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

# `ferry` on the PATH: a link to the venv's entry point, in the first of these folders that
# is on the PATH and writable (root: /usr/local/bin; a user: ~/.local/bin). Never a copy,
# so the checkout stays the one installation.
linked=""
for dir in /usr/local/bin "$HOME/.local/bin"; do
    case ":$PATH:" in *":$dir:"*) ;; *) continue ;; esac
    if [ -d "$dir" ] && [ -w "$dir" ]; then
        target="$dir/ferry"
        if [ ! -e "$target" ] || [ -L "$target" ]; then
            ln -sfn "$PWD/.venv/bin/ferry" "$target" && linked="$target"
        fi
        break
    fi
done
if [ -n "$linked" ]; then
    echo "ferry is on the PATH: $linked -> $PWD/.venv/bin/ferry"
else
    echo "ferry is at $PWD/.venv/bin/ferry (no writable folder on the PATH to link it from)"
fi

# The registry tests push into real registries the tests start on 127.0.0.1: devpi
# (server and client, in a venv of their own so their dependencies never move the versions
# Ferry is tested with) and verdaccio (pinned: later versions need Node 22). Installed here
# once, so nothing is downloaded while the tests run; each is skipped when already there.
if [ "${1:-}" = "--dev" ]; then
    if [ ! -x .venv-devpi/bin/devpi-server ] || [ ! -x .venv-devpi/bin/devpi ]; then
        [ -x .venv-devpi/bin/python ] || "$PYTHON" -m venv .venv-devpi
        .venv-devpi/bin/python -m pip install -q --upgrade pip
        .venv-devpi/bin/python -m pip install -q devpi-server devpi-client
    fi
    # huggingface_hub as its users run it, two generations side by side (0.36 lists a
    # repository's files from siblings, 2.x from the tree API): the model tests drive them
    # against Ferry as programs, never imported into Ferry's own venv
    for hf in "0.36:huggingface_hub==0.36.*" "2:huggingface_hub>=2,<3"; do
        venv=".venv-hf${hf%%:*}"
        if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import huggingface_hub" 2>/dev/null; then
            [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
            "$venv/bin/python" -m pip install -q --upgrade pip
            "$venv/bin/python" -m pip install -q "${hf#*:}"
        fi
    done
    # transformers and PyTorch (the CPU build of 2.13.0 lies on this kind of machine's disk,
    # where pip finds it) for the test that loads a model with from_pretrained from Ferry
    # in a namespace with no network
    if [ ! -x .venv-tf/bin/python ] || ! .venv-tf/bin/python -c "import torch, transformers" 2>/dev/null; then
        [ -x .venv-tf/bin/python ] || "$PYTHON" -m venv .venv-tf
        .venv-tf/bin/python -m pip install -q --upgrade pip
        .venv-tf/bin/python -m pip install -q "torch==2.13.0" "transformers>=5,<6"
    fi
    if [ ! -x .tools/verdaccio/node_modules/.bin/verdaccio ]; then
        mkdir -p .tools/verdaccio
        npm install --prefix .tools/verdaccio verdaccio@6.8.0 \
            --no-audit --no-fund --loglevel=error
    fi
fi

# The tests need PostgreSQL at 127.0.0.1:5432 (database `test`, user postgres, no password;
# or FERRY_TEST_POSTGRES_URL). On a fresh Debian machine where nothing answers there, the
# test set-up installs Debian's server, lets 127.0.0.1 in without a password (a test
# machine's cluster only), starts it and creates the database.
pg_answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if [ "${1:-}" = "--dev" ] && [ -z "${FERRY_TEST_POSTGRES_URL:-}" ] && ! pg_answers; then
    echo "PostgreSQL does not answer on 127.0.0.1:5432: installing and starting it" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    if ! command -v pg_ctlcluster >/dev/null; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
    fi
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [ -n "$version" ] || $SUDO pg_createcluster --start "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    $SUDO grep -q "ferry-tests" "$hba" ||
        $SUDO sed -i '1i host all all 127.0.0.1/32 trust # ferry-tests' "$hba"
    $SUDO pg_ctlcluster "$version" main start 2>/dev/null || $SUDO pg_ctlcluster "$version" main reload
    for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
    pg_answers || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
    as_postgres() {
        if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
    }
    if ! as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
        as_postgres createdb test
    fi
fi
