#!/usr/bin/env bash
# scripts/test.sh: the full Switchboard test suite, run the way CI runs it.
#
#   1. Checks that the real peers the tests drive are installed (redis-server,
#      chromium, swaks, CJK fonts for inbox screenshots, Dovecot for
#      internal/imaptest). As root it installs
#      whatever is missing from Debian's packages. Otherwise it warns loudly
#      and carries on: locally those tests skip, and with CI=true they fail.
#   2. Starts a throwaway redis-server on a free loopback port in a temporary
#      directory and exports SWITCHBOARD_TEST_REDIS_URL. If that variable is
#      already set, the script uses that server and starts none.
#   3. Runs `go test -race -count=1` on every package, or on the arguments
#      given.
#   4. Stops its redis-server in every case (trap on EXIT) and exits with
#      go test's status.
#
# Usage:  scripts/test.sh [go test arguments...]   (default: ./...)
# Env:    TEST_TIMEOUT (default 12m), SWITCHBOARD_TEST_REDIS_URL, CI

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TEST_TIMEOUT="${TEST_TIMEOUT:-12m}"
APT_PACKAGES=(redis-server chromium swaks fonts-noto-cjk dovecot-imapd)

say() { printf '[test] %s\n' "$*"; }
loud() {
	local bar='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
	printf '\n[test] %s\n' "$bar" >&2
	local line
	for line in "$@"; do printf '[test] !!! %s\n' "$line" >&2; done
	printf '[test] %s\n\n' "$bar" >&2
}
is_ci() { [[ "${CI:-}" == "true" ]]; }

# ---------------------------------------------------------------- peers

missing_peers() {
	local missing=()
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
	command -v redis-cli >/dev/null 2>&1 || missing+=(redis-cli)
	command -v chromium >/dev/null 2>&1 || missing+=(chromium)
	command -v swaks >/dev/null 2>&1 || missing+=(swaks)
	# /usr/sbin is often not on a user's PATH; internal/imaptest looks there too.
	{ command -v dovecot >/dev/null 2>&1 || [[ -x /usr/sbin/dovecot ]]; } || missing+=(dovecot)
	if command -v dpkg-query >/dev/null 2>&1; then
		dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'ok installed' ||
			missing+=(fonts-noto-cjk)
	fi
	echo "${missing[*]}"
}

ensure_peers() {
	local missing
	missing="$(missing_peers)"
	if [[ -z "$missing" ]]; then
		say "peers present: redis-server, chromium, swaks, fonts-noto-cjk, dovecot"
		return 0
	fi
	say "missing peers: $missing"
	if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		say "installing from Debian: ${APT_PACKAGES[*]}"
		if DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"; then
			missing="$(missing_peers)"
			[[ -z "$missing" ]] && { say "peers installed"; return 0; }
		fi
		loud "could not install every peer; still missing: ${missing}" \
			"tests that need them will $(is_ci && echo FAIL || echo 'be SKIPPED')"
		is_ci && exit 1
		return 0
	fi
	loud "missing peers: ${missing}" \
		"install them with (as root):" \
		"  apt-get update && apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}" \
		"tests that need them will $(is_ci && echo FAIL || echo 'be SKIPPED')"
}

# ---------------------------------------------------------------- redis

redis_dir=""
redis_pidfile=""

stop_redis() {
	[[ -n "$redis_pidfile" && -s "$redis_pidfile" ]] || return 0
	local pid i
	pid="$(cat "$redis_pidfile")"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "redis-server (pid $pid) ignored SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		say "stopped redis-server (pid $pid)"
	fi
	redis_pidfile=""
}

cleanup() {
	stop_redis
	[[ -n "$redis_dir" ]] && rm -rf "$redis_dir"
	redis_dir=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nothing listens on right now. redis-server itself is the final
# judge: if someone grabs the port first, it fails and we try another.
pick_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null && return 0
	fi
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		# A successful connect means the port is taken.
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
}

# Starts redis-server daemonized on $1; succeeds once it answers as the
# process named in our own pidfile.
try_start_redis() {
	local port="$1" i pid info
	rm -f "$redis_dir/redis.pid" "$redis_dir/redis.log"
	redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
		--save '' --appendonly no --daemonize yes \
		--dir "$redis_dir" --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" ||
		return 1
	redis_pidfile="$redis_dir/redis.pid"
	# Redis writes its pidfile only after it has bound the port; a failed
	# bind ends the daemon with a line in the log instead.
	for i in $(seq 1 100); do
		if [[ -s "$redis_dir/redis.pid" ]]; then
			pid="$(cat "$redis_dir/redis.pid")"
			info="$(redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' || true)"
			if grep -qx "process_id:${pid}" <<<"$info"; then
				return 0
			fi
		elif grep -qiE 'could not create server tcp listening socket|address already in use' \
			"$redis_dir/redis.log" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	say "redis-server on port $port did not come up; its log:"
	sed 's/^/    /' "$redis_dir/redis.log" 2>/dev/null || true
	stop_redis
	return 1
}

start_redis() {
	if [[ -n "${SWITCHBOARD_TEST_REDIS_URL:-}" ]]; then
		say "using the Redis already given in SWITCHBOARD_TEST_REDIS_URL; starting none"
		return 0
	fi
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		loud "redis-server/redis-cli not found: tests that need a real Redis will" \
			"$(is_ci && echo FAIL || echo 'be SKIPPED')"
		return 0
	fi
	redis_dir="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-test-redis.XXXXXX")"
	local attempt port
	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		port="$(pick_port)"
		if try_start_redis "$port"; then
			export SWITCHBOARD_TEST_REDIS_URL="redis://127.0.0.1:${port}/0"
			say "started redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (pid $(cat "$redis_pidfile"), dir $redis_dir)"
			say "SWITCHBOARD_TEST_REDIS_URL=$SWITCHBOARD_TEST_REDIS_URL"
			return 0
		fi
		say "port $port was not usable (attempt $attempt); trying another"
	done
	loud "could not start a throwaway redis-server after 10 attempts"
	exit 1
}

# ---------------------------------------------------------------- run

ensure_peers
start_redis

if [[ $# -eq 0 ]]; then
	set -- ./...
fi

# Tests that skip for a missing peer also note it here (redistest.Require),
# because go test shows skips only with -v.
skip_log="$(mktemp "${TMPDIR:-/tmp}/switchboard-skips.XXXXXX")"
export SWITCHBOARD_SKIP_LOG="$skip_log"

say "go test -race -count=1 -timeout $TEST_TIMEOUT $*"
set +e
go test -race -count=1 -timeout "$TEST_TIMEOUT" "$@"
status=$?
set -e

if [[ -s "$skip_log" ]]; then
	mapfile -t skipped < <(sort -u "$skip_log")
	loud "these tests were SKIPPED because a peer is missing (they fail under CI=true):" "${skipped[@]}"
fi
rm -f "$skip_log"

if [[ $status -eq 0 ]]; then
	say "go test passed"
else
	say "go test FAILED (exit status $status)"
fi
exit "$status"
