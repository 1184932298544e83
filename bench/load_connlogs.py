#!/usr/bin/env python3
"""Map the anchor's COPY files (generate.py --dump) into connlogs' tables with COPY.

The database must already be migrated (``manage.py migrate``): the tables, indexes and
constraints are Django's. For the big table the loader does what the anchor's generator does:
it drops the connection log's indexes and constraints, COPYs the rows in the same transaction
as a TRUNCATE (so ``wal_level=minimal`` skips WAL, as for the anchor), then rebuilds exactly
the definitions it dropped, read back from the catalog, and runs VACUUM ANALYZE.

Mapping (the anchor's columns -> connlogs'):

* organizations: same columns; ``description`` empty; created/updated = load time.
* users: the anchor's users have no password -> an unusable one (``!``); soft-deleted users
  (``deleted = t``, 50 of them, owning nothing) become ``status = suspended``, because
  connlogs has no user soft delete and a suspended user can neither sign in nor be resolved
  differently by the search keys; ``rbac_roles`` ``{owner}``/``{auditor}`` become
  ``site_roles`` ``["owner"]``/``["auditor"]``; ``user-admin`` is not a connlogs role and
  is dropped.
* workspaces: same columns; ``deleted_at`` = load time for deleted ones.
* connection_logs: same columns (``organization_id``, ``workspace_owner_id``,
  ``workspace_id``, ``user_id`` are Django's FK columns); NULL ``user_agent``,
  ``slug_or_port`` and ``disconnect_reason`` become ``''`` (connlogs keeps them NOT NULL);
  ``type`` is text instead of an enum.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import setup_django  # noqa: E402

NULL = r"\N"
LOG_TABLE = "connlogs_connectionlog"
LOG_COLUMNS = (
    "id, connect_time, organization_id, workspace_owner_id, workspace_id, workspace_name, "
    "agent_name, type, ip, code, user_agent, user_id, slug_or_port, connection_id, "
    "disconnect_time, disconnect_reason"
)
# Positions in the anchor's connection_logs line of the text columns connlogs keeps NOT NULL.
_EMPTY_NOT_NULL = (10, 12, 15)


def log(msg: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def organization_line(parts: list[str], now: str) -> str:
    org_id, name, display_name, icon, _deleted = parts
    return "\t".join([org_id, name, display_name, "", icon, now, now])


_ROLES = {"{owner}": '["owner"]', "{auditor}": '["auditor"]'}


# The anchor's users.tsv columns, in order.
_USER_FIELDS = (
    "id username email name avatar_url status login_type rbac_roles created_at updated_at "
    "last_seen_at deleted"
).split()


def user_line(parts: list[str], now: str) -> str:
    user = dict(zip(_USER_FIELDS, parts, strict=True))
    status = "suspended" if user["deleted"] == "t" else user["status"]
    return "\t".join(
        [user["id"], "!", NULL, user["username"], user["email"], user["name"],
         user["avatar_url"], status, user["login_type"], _ROLES.get(user["rbac_roles"], "[]"),
         user["last_seen_at"], user["created_at"], user["updated_at"]]
    )  # fmt: skip


def workspace_line(parts: list[str], now: str) -> str:
    ws_id, owner_id, org_id, name, deleted = parts
    return "\t".join(
        [ws_id, name, deleted, now if deleted == "t" else NULL, now, now, org_id, owner_id]
    )


SMALL_TABLES: list[tuple[str, str, str, Callable[[list[str], str], str]]] = [
    (
        "organizations",
        "connlogs_organization",
        "id, name, display_name, description, icon, created_at, updated_at",
        organization_line,
    ),
    (
        "users",
        "connlogs_user",
        "id, password, last_login, username, email, name, avatar_url, status, login_type, "
        "site_roles, last_seen_at, created_at, updated_at",
        user_line,
    ),
    (
        "workspaces",
        "connlogs_workspace",
        "id, name, deleted, deleted_at, created_at, updated_at, organization_id, owner_id",
        workspace_line,
    ),
]


def log_chunks(path: Path, size: int = 20_000) -> Iterator[str]:
    buf: list[str] = []
    with open(path) as f:
        for line in f:
            parts = line.split("\t")
            for i in _EMPTY_NOT_NULL:
                if parts[i] == NULL:
                    parts[i] = ""
            if parts[15] == "\\N\n":  # the last column carries the newline
                parts[15] = "\n"
            buf.append("\t".join(parts))
            if len(buf) >= size:
                yield "".join(buf)
                buf.clear()
    if buf:
        yield "".join(buf)


def months_of(path: Path) -> list[dt.datetime]:
    """The first instants (UTC) of the months the log's rows connect in: a pass over the
    dump reading ``connect_time``'s "YYYY-MM" (the second column, in UTC)."""
    with open(path) as f:
        found = {line.split("\t", 2)[1][:7] for line in f}
    return [dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC) for month in sorted(found)]


def table_definitions(conn: psycopg.Connection, table: str) -> tuple[list, list]:
    """(constraints, plain indexes) of ``table`` as (name, SQL to recreate) pairs."""
    constraints = conn.execute(
        """SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f')
           ORDER BY CASE contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 ELSE 2 END, conname""",
        [table],
    ).fetchall()
    indexes = conn.execute(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = %s::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
           ORDER BY c.relname""",
        [table],
    ).fetchall()
    return constraints, indexes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", required=True, help="libpq DSN including dbname")
    ap.add_argument("--dump", required=True, help="folder written by generate.py --dump")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--gen-version", default="")
    args = ap.parse_args()
    dump = Path(args.dump)
    now = dt.datetime.now(dt.UTC).isoformat()
    timings: dict[str, float] = {}

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        constraints, indexes = table_definitions(conn, LOG_TABLE)
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute(
                f"TRUNCATE {LOG_TABLE}, connlogs_workspace, connlogs_membership, "
                "connlogs_apitoken, connlogs_user, connlogs_organization CASCADE"
            )
            # Dropped before the small tables are loaded: their deferred FK checks would
            # otherwise block ALTER TABLE on the tables the log references.
            for name, _kind, _ in reversed(constraints):
                conn.execute(f'ALTER TABLE {LOG_TABLE} DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            # A partitioned log gets the months of the rows first, or every row would land in
            # its DEFAULT partition (migrate made only the months around today).
            if conn.execute(
                "SELECT relkind = 'p' FROM pg_class WHERE oid = %s::regclass", [LOG_TABLE]
            ).fetchone()[0]:
                setup_django()  # connlogs' own partition rules, on this connection's cursor
                from connlogs.storage import partitions

                # Client-side binding, as Django's: DDL takes no server-side parameters.
                with psycopg.ClientCursor(conn) as cursor:
                    have = {p.lower for p in partitions.partitions(cursor) if not p.is_default}
                    for month in months_of(dump / "connection_logs.tsv"):
                        if month not in have:
                            log(f"partition {partitions.create_month(cursor, month)}")
            for source, table, columns, convert in SMALL_TABLES:
                with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    with open(dump / f"{source}.tsv") as f:
                        copy.write(
                            "".join(
                                convert(line.rstrip("\n").split("\t"), now) + "\n" for line in f
                            )
                        )
                log(f"{table} loaded")
            rows = 0
            t1 = time.perf_counter()
            with conn.cursor().copy(f"COPY {LOG_TABLE} ({LOG_COLUMNS}) FROM STDIN") as copy:
                for chunk in log_chunks(dump / "connection_logs.tsv"):
                    copy.write(chunk)
                    rows += chunk.count("\n")
                    if rows % 1_000_000 < 20_000:
                        log(f"{LOG_TABLE}: {rows:,} rows, {time.perf_counter() - t1:.0f}s")
            log(f"{LOG_TABLE}: {rows:,} rows loaded in {time.perf_counter() - t1:.1f}s")
        timings["copy_s"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        for name, kind, definition in constraints:
            if kind == "f":
                continue
            t2 = time.perf_counter()
            conn.execute(f'ALTER TABLE {LOG_TABLE} ADD CONSTRAINT "{name}" {definition}')
            log(f"{time.perf_counter() - t2:6.1f}s  {name}")
        for name, definition in indexes:
            t2 = time.perf_counter()
            # The log is partitioned: pg_get_indexdef says "ON ONLY" (the parent alone, an
            # index left invalid, with none on the partitions); built on every partition.
            conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
            log(f"{time.perf_counter() - t2:6.1f}s  {name}")
        for name, kind, definition in constraints:
            if kind == "f":
                t2 = time.perf_counter()
                conn.execute(f'ALTER TABLE {LOG_TABLE} ADD CONSTRAINT "{name}" {definition}')
                log(f"{time.perf_counter() - t2:6.1f}s  {name}")
        timings["index_fk_s"] = time.perf_counter() - t1

        t1 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        timings["vacuum_analyze_s"] = time.perf_counter() - t1
        conn.execute("CHECKPOINT")
        timings["total_s"] = time.perf_counter() - t0

        # Summed over the partitions (a partitioned table or index has no storage of its
        # own; pg_partition_tree of a plain one is itself).
        heap, idx, total = conn.execute(
            "SELECT sum(pg_relation_size(relid))::bigint, sum(pg_indexes_size(relid))::bigint, "
            f"sum(pg_total_relation_size(relid))::bigint FROM pg_partition_tree('{LOG_TABLE}') "
            "WHERE isleaf"
        ).fetchone()
        index_sizes = dict(
            conn.execute(
                "SELECT indexrelid::regclass::text, (SELECT sum(pg_relation_size(relid))::bigint "
                "FROM pg_partition_tree(indexrelid) WHERE isleaf) FROM pg_index "
                f"WHERE indrelid = '{LOG_TABLE}'::regclass ORDER BY 1"
            ).fetchall()
        )
        meta = {
            "n": args.n,
            "seed": args.seed,
            "rows": rows,
            "timings_s": {k: round(v, 1) for k, v in timings.items()},
            "heap_bytes": heap,
            "indexes_bytes": idx,
            "total_bytes": total,
            "index_bytes": index_sizes,
            "loaded_at": now,
        }
        conn.execute("DROP TABLE IF EXISTS bench_load")
        conn.execute("CREATE TABLE bench_load (n bigint, seed int, gen_version text, meta jsonb)")
        conn.execute(
            "INSERT INTO bench_load VALUES (%s, %s, %s, %s)",
            [args.n, args.seed, args.gen_version, json.dumps(meta)],
        )
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
