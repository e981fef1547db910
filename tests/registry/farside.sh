#!/bin/sh
# The far side, run by test_airgap.py inside a network namespace of its own
# (`unshare -n sh farside.sh`): loopback is all there is. Import a bundle into a fresh data
# directory, serve it on 127.0.0.1, and install the project from it with stock pip, uv and
# npm, each with a fresh cache and no configuration but what is given here; then load what
# they installed.
#
# From the environment: BUNDLE (the archive), PROJECT (the project's directory: api/ and
# web/ as in tests/fixtures/farside), WORK (an empty directory for everything written),
# FERRY_PYTHON (the interpreter Ferry is installed in), PYTHON (the interpreter the venvs
# are made from), UV (uv's binary), PORT. Each step's output goes to WORK/logs/STEP.log;
# a failing step prints the end of its log and the script exits 1.
set -eu

logs="$WORK/logs"
mkdir -p "$logs"

step() {
    name=$1
    shift
    began=$(date +%s.%N)
    if "$@" >"$logs/$name.log" 2>&1; then
        echo "step $name: ok $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $began }") s"
    else
        status=$?
        echo "step $name: FAILED (exit $status); the end of $logs/$name.log:"
        tail -n 60 "$logs/$name.log"
        exit 1
    fi
}

ferry() {
    "$FERRY_PYTHON" -m ferry.cli.main "$@"
}

step loopback ip link set lo up

# Nothing but loopback: no other link, no route, and a connect to a public address fails
# at once (no route to it), as it would on the air-gapped machine. (Within `if`, as step
# runs it, `set -e` does not stop a function: each check returns by itself.)
offline_check() {
    ip -o link show || return 1
    ip -o link show | grep -v ': lo:' && return 1
    ip route show | grep . && return 1
    "$PYTHON" - <<'EOF'
import socket

for address in (("1.1.1.1", 443), ("8.8.8.8", 53)):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(address)
        except OSError as exc:
            print(f"connect {address}: {exc}")
        else:
            raise SystemExit(f"connected to {address}: this namespace reaches the network")
EOF
}
step offline offline_check

data="$WORK/data"
step import ferry import "$BUNDLE" --data-dir "$data"
make_token() {
    ferry token create --name airgap --role read --data-dir "$data" --json >"$WORK/token.json"
}
step token make_token
token=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' \
    "$WORK/token.json")

# not through the function: $! must be the server itself, not a subshell around it
"$FERRY_PYTHON" -m ferry.cli.main serve --host 127.0.0.1 --port "$PORT" --data-dir "$data" \
    >"$logs/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

wait_for_server() {
    "$PYTHON" - "http://127.0.0.1:$PORT/health" <<'EOF'
import sys, time, urllib.request

for _ in range(600):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as answer:
            print(answer.status, answer.read().decode())
            break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("ferry serve did not answer within 60 s")
EOF
}
step serve wait_for_server

index="http://__token__:$token@127.0.0.1:$PORT/simple/"
registry="http://127.0.0.1:$PORT/npm/"
api="$PROJECT/api"

# pip: a fresh venv from the stock interpreter, its own pip, an empty cache
step pip-venv "$PYTHON" -m venv "$WORK/pip-venv"
step pip-install "$WORK/pip-venv/bin/python" -m pip install --cache-dir "$WORK/pip-cache" \
    --index-url "$index" -r "$api/requirements.txt"
step pip-imports "$WORK/pip-venv/bin/python" "$api/check_imports.py" "$api/requirements.txt"

# uv: the same, with uv's own venv and resolver, a fresh cache, no Python downloads
export UV_CACHE_DIR="$WORK/uv-cache" UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
step uv-venv "$UV" venv --python "$PYTHON" "$WORK/uv-venv"
step uv-install "$UV" pip install --python "$WORK/uv-venv/bin/python" --index-url "$index" \
    -r "$api/requirements.txt"
step uv-imports "$WORK/uv-venv/bin/python" "$api/check_imports.py" "$api/requirements.txt"

# npm: a copy of the front end, the token in its .npmrc as npm keeps it, a fresh cache;
# --replace-registry-host points any registry a lock names at Ferry's
web="$WORK/web"
mkdir -p "$web"
cp "$PROJECT/web/package.json" "$PROJECT/web/package-lock.json" "$PROJECT/web/check_imports.mjs" \
    "$web/"
echo "//127.0.0.1:$PORT/npm/:_authToken=$token" >"$web/.npmrc"
: >"$WORK/npmrc-user"
: >"$WORK/npmrc-global"
export npm_config_userconfig="$WORK/npmrc-user" npm_config_globalconfig="$WORK/npmrc-global"
export npm_config_cache="$WORK/npm-cache" npm_config_update_notifier=false
npm_ci() (
    cd "$web" && npm ci --registry "$registry" --replace-registry-host=always --no-audit --no-fund
)
step npm-ci npm_ci
step npm-imports node "$web/check_imports.mjs"

echo "far side: ok"
