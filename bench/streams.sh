#!/usr/bin/env bash
# The stream bench (bench/stream_delivery.py) on a throwaway cluster with fsync on:
#
#   BENCH_PORT=55623 BENCH_PGROOT=/tmp/connlogs-streambench bench/streams.sh [--backlog N] [--rate R] [--seconds S] [--batch N …]
#   BENCH_PORT=55623 BENCH_PGROOT=/tmp/connlogs-streambench bench/streams.sh --drill [--rate R] …
#
# Creates (once) and starts the cluster as the postgres user, (re)creates the database
# connlogs_streams, migrates, runs the bench (with --drill: the outage drill,
# bench/stream_drill.py, and its options), prints its output and stops the cluster it started.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PGROOT="${BENCH_PGROOT:-/tmp/connlogs-streambench}"
PGDATA="$PGROOT/data"
PORT="${BENCH_PORT:-55435}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
asdb() { runuser -u postgres -- "$@"; }

if [ ! -f "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGROOT" && chown postgres:postgres "$PGROOT"
    asdb "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGROOT'
shared_buffers = 512MB
fsync = on
synchronous_commit = on
max_wal_size = 4GB
CONF
fi
asdb "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGROOT/server.log" -w -t 120 start >/dev/null
trap 'asdb "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null' EXIT

"$PGBIN/psql" "host=127.0.0.1 port=$PORT user=postgres dbname=postgres" -XAtqc \
    "DROP DATABASE IF EXISTS connlogs_streams" -c "CREATE DATABASE connlogs_streams"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/connlogs_streams" SECRET_KEY=bench
cd "$ROOT"
.venv/bin/python manage.py migrate -v 0
BENCH=bench/stream_delivery.py
if [ "${1:-}" = "--drill" ]; then
    BENCH=bench/stream_drill.py
    shift
fi
.venv/bin/python "$BENCH" "$@"
