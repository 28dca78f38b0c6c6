#!/usr/bin/env bash
# Starts (or stops) the real services the test suite talks to: a throwaway
# PostgreSQL cluster and a Redis server, on ports of their own, with their
# data under one directory. Prints the environment the tests read.
#
#   scripts/test-services.sh start   # prints `export QLP_TEST_...` lines
#   scripts/test-services.sh stop
#
# Nothing here touches a system-wide PostgreSQL or Redis: both run as
# children of this machine's user (postgres when run as root) and are
# removed by `stop`.
set -euo pipefail

# Each checkout gets its own state directory and ports, so that two clones
# testing on one machine never share (or stop) each other's servers.
here=$(cd "$(dirname "$0")/.." && pwd)
slot=$(( $(printf '%s' "$here" | cksum | cut -d' ' -f1) % 500 ))
STATE_DIR="${QLP_TEST_STATE_DIR:-${TMPDIR:-/tmp}/qlp-test-services-$slot}"
PG_PORT="${QLP_TEST_PG_PORT:-$((55000 + slot))}"
REDIS_PORT="${QLP_TEST_REDIS_PORT:-$((56000 + slot))}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start_pg() {
	local data="$STATE_DIR/pg"
	if [ -z "$PG_BIN" ]; then
		echo "test-services: PostgreSQL server binaries not found; run scripts/install-deps.sh test" >&2
		exit 1
	fi
	mkdir -p "$STATE_DIR"
	if [ "$(id -u)" = 0 ]; then chown postgres "$STATE_DIR"; fi
	if [ ! -f "$data/PG_VERSION" ]; then
		as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
	fi
	if ! as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
			-o "-p $PG_PORT -k $STATE_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
	fi
	"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='qlp_test'" | grep -q 1 ||
		"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE qlp_test" >/dev/null
}

start_redis() {
	if ! command -v redis-server >/dev/null; then
		echo "test-services: redis-server not found; run scripts/install-deps.sh test" >&2
		exit 1
	fi
	mkdir -p "$STATE_DIR/redis"
	if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
		redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
			--dir "$STATE_DIR/redis" --daemonize yes --pidfile "$STATE_DIR/redis/redis.pid" \
			--logfile "$STATE_DIR/redis/redis.log" >/dev/null
		for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
	fi
}

case "${1:-start}" in
start)
	start_pg
	start_redis
	echo "export QLP_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$PG_PORT/qlp_test?sslmode=disable'"
	echo "export QLP_TEST_REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'"
	;;
stop)
	if [ -n "$PG_BIN" ] && [ -f "$STATE_DIR/pg/PG_VERSION" ]; then
		as_pg "$PG_BIN/pg_ctl" -D "$STATE_DIR/pg" -m fast stop >/dev/null 2>&1 || true
	fi
	redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
	rm -rf "$STATE_DIR"
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
