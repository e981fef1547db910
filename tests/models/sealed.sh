#!/bin/sh
# A model published to Ferry and loaded by transformers' from_pretrained, inside a network
# namespace of its own (`unshare -n sh sealed.sh`): loopback is all there is, Ferry serves
# in the same namespace, and HF_ENDPOINT points at it.
#
# From the environment: MODEL (a directory save_pretrained wrote), CHECK (a Python file
# that loads it from the Hub and compares it with the reference), WORK (an empty
# directory), FERRY_PYTHON (Ferry's interpreter), TF_PYTHON (an interpreter with
# transformers and torch), PORT.
set -eu
logs="$WORK/logs"
mkdir -p "$logs"

step() {
    name=$1
    shift
    if "$@" >"$logs/$name.log" 2>&1; then
        echo "step $name: ok"
    else
        status=$?
        echo "step $name: FAILED (exit $status); the end of $logs/$name.log:"
        tail -n 60 "$logs/$name.log"
        exit 1
    fi
}

step loopback ip link set lo up
no_network() {
    ip -o link show | grep -v ': lo:' && return 1
    ip route show | grep . && return 1
    return 0
}
step offline no_network

data="$WORK/data"
"$FERRY_PYTHON" -m ferry.cli.main serve --host 127.0.0.1 --port "$PORT" --data-dir "$data" \
    >"$logs/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

wait_for_server() {
    for _ in $(seq 600); do
        [ -s "$data/admin-token" ] && "$FERRY_PYTHON" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "http://127.0.0.1:$PORT/health" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
step serve wait_for_server

publish() {
    FERRY_URL="http://127.0.0.1:$PORT" FERRY_TOKEN=$(cat "$data/admin-token") \
        "$FERRY_PYTHON" -m ferry.cli.main models import "$MODEL" --id acme/tiny-bert \
        --version 1.0 --task feature-extraction
}
step publish publish

make_token() {
    "$FERRY_PYTHON" -m ferry.cli.main token create --name hf --role read --data-dir "$data" \
        --json >"$WORK/token.json"
}
step token make_token
token=$("$FERRY_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' \
    "$WORK/token.json")

load() {
    env -i PATH="$PATH" HOME="$WORK/home" HF_ENDPOINT="http://127.0.0.1:$PORT" \
        HF_TOKEN="$token" HF_HOME="$WORK/hf" HF_HUB_DISABLE_TELEMETRY=1 \
        "$TF_PYTHON" "$CHECK"
}
step load load
cat "$logs/load.log"
