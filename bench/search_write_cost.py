#!/usr/bin/env python3
"""What the search indexes of migration 0007 cost each write, measured in SQL.

The ingest measurement (``run.sh --only ingest``) includes HTTP, Python and the rest of the
batch, and moves with the machine's other load; this isolates the database's part. In rolled
back transactions, alternately with and without the indexes (dropped inside the transaction),
it copies the newest ``--rows`` rows as new connects (fresh ids, agent sessions open), then
closes the agent sessions with their original disconnect time and exit code, as a batch of
events does, and reports the median time and WAL volume of each step per 1,000 rows (the WAL
does not move with the machine's load; the time does).

    bench/search_write_cost.py --dsn "host=127.0.0.1 port=55434 dbname=connlogs_1000000"
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

INDEXES = (
    "cl_ip_time_idx",
    "cl_ws_name_time_idx",
    "cl_failed_time_idx",
    "cl_web_failed_time_idx",
    "cl_long_session_idx",
    "cl_session_end_idx",
    "cl_text_trgm_idx",
)
AGENT = "('jetbrains', 'reconnecting_pty', 'ssh', 'vscode')"
COLUMNS = (
    "connect_time, organization_id, workspace_owner_id, workspace_id, workspace_name, "
    "agent_name, ip, type, user_agent, user_id, slug_or_port, disconnect_reason"
)


def wal(db: psycopg.Connection) -> int:
    return int(
        db.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')").fetchone()[0]
    )


def one_round(db: psycopg.Connection, rows: int, without: tuple[str, ...]) -> tuple:
    """(insert seconds, update seconds, insert WAL bytes, update WAL bytes)."""
    with db.transaction(force_rollback=True):
        for name in without:
            db.execute(f"DROP INDEX {name}")
        db.execute(
            "CREATE TEMP TABLE src ON COMMIT DROP AS SELECT id AS old_id, gen_random_uuid() AS "
            f"new_id, {COLUMNS}, code, disconnect_time FROM connlogs_connectionlog "
            f"ORDER BY connect_time DESC, id DESC LIMIT {rows}"
        )
        start, wal_start = time.perf_counter(), wal(db)
        db.execute(
            f"INSERT INTO connlogs_connectionlog (id, {COLUMNS}, code, connection_id, "
            "disconnect_time) SELECT new_id, "
            f"{COLUMNS}, CASE WHEN type IN {AGENT} THEN NULL ELSE code END, "
            f"CASE WHEN type IN {AGENT} THEN gen_random_uuid() END, NULL FROM src"
        )
        inserted, insert_wal = time.perf_counter() - start, wal(db) - wal_start
        start, wal_start = time.perf_counter(), wal(db)
        db.execute(
            "UPDATE connlogs_connectionlog AS log SET disconnect_time = src.disconnect_time, "
            "code = src.code FROM src WHERE log.id = src.new_id AND src.type IN "
            f"{AGENT} AND src.disconnect_time IS NOT NULL"
        )
        updated, update_wal = time.perf_counter() - start, wal(db) - wal_start
    return inserted, updated, insert_wal, update_wal


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    db = psycopg.connect(args.dsn, autocommit=True)
    present = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes")}
    search = tuple(name for name in INDEXES if name in present)
    results: dict[str, list[tuple]] = {"with": [], "without": []}
    one_round(db, args.rows, ())  # warm the cache
    for _ in range(args.rounds):
        results["without"].append(one_round(db, args.rows, search))
        results["with"].append(one_round(db, args.rows, ()))
    per = 1000 / args.rows
    for variant, samples in results.items():
        insert, update, insert_wal, update_wal = (
            statistics.median(s[i] for s in samples) * per for i in range(4)
        )
        print(
            f"{variant:8s} search indexes: insert {insert * 1000:6.1f} ms "
            f"{insert_wal / 1024:6.0f} KiB WAL, disconnect update {update * 1000:6.1f} ms "
            f"{update_wal / 1024:6.0f} KiB WAL, per 1,000 rows "
            f"({args.rounds} rounds of {args.rows:,})"
        )
    print("dropped for 'without':", ", ".join(search))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
