#!/usr/bin/env bash
# make bench: measure the gateway against the raw Redis ceiling in one run.
# Starts a scratch redis-server on a free loopback port (no persistence,
# no AOF rewrites to disturb the numbers), builds the binaries, runs
# cmd/sbbench and prints its Markdown report. PAIRS, DURATION and CASES
# (a comma list of webchat, wechat, email) tune it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-8s}
CASES=${CASES:-webchat,wechat,email}
command -v redis-server >/dev/null || { echo "bench: redis-server is missing (apt-get install redis-server)" >&2; exit 1; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { [[ -f $dir/redis.pid ]] && kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
	--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
go build -o "$dir/switchboard" ./cmd/switchboard
go build -o "$dir/sbbench" ./cmd/sbbench
echo "command: PAIRS=$PAIRS DURATION=$DURATION make bench   (redis-server $(redis-server --version | grep -o 'v=[0-9.]*'))"
"$dir/sbbench" -gateway "$dir/switchboard" -redis "redis://127.0.0.1:$port/0${REDIS_QUERY:-}" -pairs "$PAIRS" -duration "$DURATION" -cases "$CASES"
