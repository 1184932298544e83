#!/usr/bin/env bash
# connlogs side by side with the anchor (Coder's design), same machine, same cluster, same run:
#
#   bench/run.sh [--rows N] [--reload]        # N defaults to 1,000,000; the full run is 10,000,000
#   bench/run.sh --rows N --only ingest,export # only those parts of measure.py (see bench/README.md)
#   bench/run.sh --rows N --only search        # the search language's keys (bench/search_cases.py)
#   bench/run.sh --rows N --load-only          # steps 1-2 only: a loaded cluster for other scripts
#
# 1. creates (once) and starts a throwaway PostgreSQL cluster with the anchor's settings
#    (shared_buffers=2GB, work_mem=64MB, effective_cache_size=16GB, fsync on, ...) on
#    127.0.0.1:$BENCH_PORT (default 55434), owned by the postgres user, data in $BENCH_PGROOT;
# 2. loads anchor_N with the anchor's own generate.py (skipped when already loaded), then
#    writes the same rows as COPY files (generate.py --dump) and maps them into connlogs'
#    tables in database connlogs_N (manage.py migrate + bench/load_connlogs.py);
# 3. runs the anchor's queries.py (its picked values, q strings and timings), then
#    bench/measure.py: connlogs over HTTP (gunicorn), connlogs' own SQL timed with psycopg,
#    paging, counts, ingest and export; prints one table and writes bench/out/results-N.md;
# 4. stops the cluster if this run started it (BENCH_KEEP_RUNNING=1 leaves it up). The data
#    directory is kept, so the next run only measures.
#
# Everything written goes to bench/out/ (git-ignored); shared/anchor-bench is only read.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ANCHOR="${ANCHOR_DIR:-$(cd "$ROOT/../shared/anchor-bench" 2>/dev/null && pwd || echo /work/shared/anchor-bench)}"
N=1000000
RELOAD=""
LOAD_ONLY=""
ONLY="${BENCH_ONLY:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) N="$2"; shift 2 ;;
        --rows=*) N="${1#--rows=}"; shift ;;
        --reload) RELOAD=1; shift ;;
        --load-only) LOAD_ONLY=1; shift ;;
        --only) ONLY="$2"; shift 2 ;;
        --only=*) ONLY="${1#--only=}"; shift ;;
        -h|--help) sed -n 2,19p "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (usage: bench/run.sh [--rows N] [--reload] [--only PARTS])" >&2; exit 2 ;;
    esac
done

PGROOT="${BENCH_PGROOT:-/tmp/connlogs-benchpg}"
PGDATA="$PGROOT/data"
PORT="${BENCH_PORT:-55434}"
SEED="${BENCH_SEED:-42}"
OUT="$ROOT/bench/out"
DSN="host=127.0.0.1 port=$PORT user=postgres"
PY="$ROOT/.venv/bin/python"
mkdir -p "$OUT/logs"
LOG="$OUT/logs/run-$N.log"
exec > >(tee -a "$LOG") 2>&1
say() { echo "[bench $(date -u +%H:%M:%S)] $*"; }

# --- 1. cluster ------------------------------------------------------------------------
find_pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(find_pgbin)" ]; then
    say "installing postgresql"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi
PGBIN="$(find_pgbin)"
asdb() { runuser -u postgres -- "$@"; }
[ -x "$PY" ] || { say "no venv at $ROOT/.venv (python3 -m venv .venv && .venv/bin/pip install -e '.[dev]')"; exit 1; }

if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "initdb $PGDATA"
    mkdir -p "$PGROOT"
    chown postgres:postgres "$PGROOT"
    asdb "$PGBIN/initdb" -D "$PGDATA" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    echo "include_dir = 'conf.d'" >> "$PGDATA/postgresql.conf"
fi
# The anchor's settings (shared/anchor-bench/run.sh), word for word except the port/socket.
mkdir -p "$PGDATA/conf.d"
cat > "$PGDATA/conf.d/bench.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGROOT'
shared_buffers = 2GB
work_mem = 64MB
maintenance_work_mem = 1GB
effective_cache_size = 16GB
max_wal_size = 8GB
checkpoint_timeout = 15min
wal_level = minimal
max_wal_senders = 0
fsync = on
synchronous_commit = on
max_parallel_maintenance_workers = 2
EOF
chown -R postgres:postgres "$PGDATA/conf.d"

STARTED=0
if asdb "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    say "cluster already running; will leave it running"
else
    if ss -Hltn "sport = :$PORT" | grep -q .; then
        say "port $PORT is taken; set BENCH_PORT"; exit 1
    fi
    say "starting cluster on 127.0.0.1:$PORT"
    asdb "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGROOT/server.log" -w -t 120 start >/dev/null
    STARTED=1
fi
stop_cluster() {
    if [ "$STARTED" = 1 ] && [ "${BENCH_KEEP_RUNNING:-0}" != 1 ]; then
        say "stopping cluster (data kept in $PGDATA)"
        asdb "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null || true
    fi
}
trap stop_cluster EXIT

# --- 2. data ---------------------------------------------------------------------------
GEN_VERSION="$(sha1sum "$ANCHOR/generate.py" "$ANCHOR/schema.sql" | sha1sum | cut -c1-12)"
psql_at() { "$PGBIN/psql" "$DSN dbname=$1" -XAtqc "$2" 2>/dev/null || true; }

have="$(psql_at "anchor_$N" "SELECT (meta->>'n') || ':' || (meta->>'seed') || ':' ||
        coalesce(meta->>'gen_version','') FROM bench_meta")"
if [ -n "$RELOAD" ] || [ "$have" != "$N:$SEED:$GEN_VERSION" ]; then
    say "loading $N rows into anchor_$N with the anchor's generate.py (seed $SEED)"
    "$PY" "$ANCHOR/generate.py" --n "$N" --seed "$SEED" --dsn "$DSN" > "$OUT/logs/anchor-load-$N.json"
    "$PGBIN/psql" "$DSN dbname=anchor_$N" -XAtqc \
        "UPDATE bench_meta SET meta = meta || jsonb_build_object('gen_version', '$GEN_VERSION')"
else
    say "anchor_$N already loaded (generator $GEN_VERSION); reusing it"
fi

have="$(psql_at "connlogs_$N" "SELECT n || ':' || seed || ':' || gen_version FROM bench_load")"
if [ -n "$RELOAD" ] || [ "$have" != "$N:$SEED:$GEN_VERSION" ]; then
    DUMP="$OUT/dump-$N"
    if [ ! -f "$DUMP/.complete-$SEED-$GEN_VERSION" ]; then
        say "writing the same rows as COPY files to $DUMP (generate.py --dump)"
        rm -rf "$DUMP"
        "$PY" "$ANCHOR/generate.py" --n "$N" --seed "$SEED" --dump "$DUMP"
        touch "$DUMP/.complete-$SEED-$GEN_VERSION"
    fi
    say "creating connlogs_$N (manage.py migrate) and loading the dump"
    "$PGBIN/psql" "$DSN dbname=postgres" -XAtqc "DROP DATABASE IF EXISTS connlogs_$N"
    "$PGBIN/psql" "$DSN dbname=postgres" -XAtqc "CREATE DATABASE connlogs_$N"
    (cd "$ROOT" && DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/connlogs_$N" \
        SECRET_KEY=bench "$PY" manage.py migrate -v 0)
    "$PY" "$HERE/load_connlogs.py" --dsn "$DSN dbname=connlogs_$N" --dump "$DUMP" \
        --n "$N" --seed "$SEED" --gen-version "$GEN_VERSION" > "$OUT/logs/connlogs-load-$N.json"
    [ "${BENCH_KEEP_DUMP:-0}" = 1 ] || rm -rf "$DUMP"
else
    say "connlogs_$N already loaded; applying any new migrations"
    (cd "$ROOT" && DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/connlogs_$N" \
        SECRET_KEY=bench "$PY" manage.py migrate -v 1)
fi

if [ -n "$LOAD_ONLY" ]; then
    say "loaded: connlogs_$N on 127.0.0.1:$PORT"
    exit 0
fi

# --- 3. measure ------------------------------------------------------------------------
# --only without the anchor's cases reuses the anchor's last picked values (the bench users'
# organizations) instead of timing Coder's SQL again.
if [ -n "$ONLY" ] && [[ ",$ONLY," != *",cases,"* ]] && [ -f "$OUT/anchor/results-$N.json" ]; then
    say "--only $ONLY: reusing $OUT/anchor/results-$N.json (the anchor's queries not re-run)"
else
    say "anchor: shared/anchor-bench/queries.py (picks the values, times Coder's SQL)"
    mkdir -p "$OUT/anchor"
    "$PY" "$ANCHOR/queries.py" --n "$N" --dsn "$DSN" --out "$OUT/anchor" \
        --runs "${BENCH_RUNS:-15}" --warmup "${BENCH_WARMUP:-2}"
fi
# Part "search" is bench/search_cases.py (the search language's own keys), not measure.py's.
MEASURE_ONLY="$(echo ",$ONLY," | sed 's/,search,/,/g; s/^,//; s/,$//')"
if [ -z "$ONLY" ] || [ -n "$MEASURE_ONLY" ]; then
say "connlogs: bench/measure.py${MEASURE_ONLY:+ --only $MEASURE_ONLY}"
"$PY" "$HERE/measure.py" --n "$N" --dsn "$DSN" --anchor-results "$OUT/anchor/results-$N.json" \
    --out "$OUT" --runs "${BENCH_RUNS:-15}" --warmup "${BENCH_WARMUP:-2}" --only "$MEASURE_ONLY"
fi
if [ -z "$ONLY" ] || [[ ",$ONLY," == *",search,"* ]]; then
    "$PY" "$HERE/search_cases.py" --n "$N" --dsn "$DSN" --out "$OUT" --runs "${BENCH_RUNS:-15}" \
        --warmup "${BENCH_WARMUP:-2}" --anchor-results "$OUT/anchor/results-$N.json"
fi
say "done: $OUT/results-$N${ONLY:+-$(echo "$ONLY" | tr ',' '\n' | sort | paste -sd-)}.md"
