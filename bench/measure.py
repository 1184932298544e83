#!/usr/bin/env python3
"""connlogs measured beside the anchor in the same run (on the same cluster, or the anchor on
its own with ``--anchor-dsn``, as its run.sh makes it).

Reads the anchor's results-<N>.json (written by shared/anchor-bench/queries.py moments
before: its picked values, q strings and timings), then for every anchor case:

* the API answer time over HTTP against a real gunicorn process (p50/p95);
* the database time of connlogs' own page query and capped count: the SQL the view really
  sends, captured through Django (``CaptureQueriesContext`` around the real view), then timed
  with psycopg exactly as the anchor times its SQL (execute + fetchall, warm-ups, 15 runs);
* whether connlogs answers the same count and the same page rows as the anchor's SQL.

Then page 1 vs page 500 (offset and keyset ``after_id``), ingest through
``POST /api/v2/connectionlog/events`` in batches of 1000, and the NDJSON export's rate and the
server worker's memory. Prints one table, writes results-<N>.md / .json and the EXPLAIN
(ANALYZE, BUFFERS) plans to out/plans/<N>/.

The parts live beside this script: sql_timing.py (the SQL side by side, paging, retention),
http_load.py (API, ingest, export over HTTP), report.py (the table and results-<N>.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
from pathlib import Path

import psycopg
from common import HERE, Http, Server, app_env, bench_tokens, logger, setup_django
from http_load import HTTP_TIMEOUT, measure_api, measure_export, measure_ingest
from report import build_report
from sql_timing import connect_as_app, measure_cases, measure_paging, measure_purge

ANCHOR_DIR = Path(os.environ.get("ANCHOR_DIR") or "/work/shared/anchor-bench")
# What --skip / --only name: the anchor's cases (captured SQL, DB timings), their API timings,
# page 1 vs 500, ingest, one retention batch, the NDJSON export.
PARTS = ("cases", "http", "paging", "ingest", "purge", "export")

log = logger("measure")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--dsn", required=True, help="libpq DSN of the bench cluster (no dbname)")
    ap.add_argument("--anchor-results", required=True)
    ap.add_argument(
        "--anchor-dsn",
        help="libpq DSN of the anchor's own cluster (no dbname; default: --dsn). Apart, "
        "neither design's scans evict the other's pages from shared buffers",
    )
    ap.add_argument(
        "--timing",
        choices=("interleaved", "blocks"),
        default="interleaved",
        help="the cases' SQL in round-robin rounds (default), or each statement's runs back to "
        "back: sql_timing.run_blocks says why",
    )
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--cases", help="comma-separated subset of the anchor's cases")
    ap.add_argument(
        "--ingest-batches", type=int, default=int(os.environ.get("BENCH_INGEST_BATCHES") or 40)
    )
    ap.add_argument(
        "--ingest-warmup",
        type=int,
        default=int(os.environ.get("BENCH_INGEST_WARMUP") or 30),
        help="batches of 1000 before the timed ingest runs (reported apart, see bench/README.md)",
    )
    ap.add_argument(
        "--export-q",
        default=os.environ.get("BENCH_EXPORT_Q", ""),
        help="q of the export measurement (default: everything)",
    )
    ap.add_argument(
        "--skip",
        default=os.environ.get("BENCH_SKIP", ""),
        help="comma-separated parts to skip: cases,http,paging,ingest,purge,export",
    )
    ap.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ""),
        help="comma-separated parts to run, skipping the others (e.g. ingest,export); the "
        "report then goes to results-<N>-<parts>.md/.json, beside the full run's",
    )
    args = ap.parse_args()
    args.skip = set(filter(None, args.skip.split(",")))
    args.only = sorted(filter(None, args.only.split(",")))
    unknown = (set(args.only) | args.skip) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; known: {','.join(PARTS)}")
    if args.only:
        args.skip |= set(PARTS) - set(args.only)
    return args


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True, prepare_threshold=None)


def main() -> int:
    args = parse_args()
    skip, runs = args.skip, max(args.runs, 15)
    suffix = f"-{'-'.join(args.only)}" if args.only else ""
    out = Path(args.out)
    plan_dir = out / "plans" / str(args.n)
    plan_dir.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)

    anchor = json.loads(Path(args.anchor_results).read_text())
    kv = dict(part.split("=", 1) for part in args.dsn.split())
    database_url = (
        f"postgres://{kv.get('user', 'postgres')}@{kv.get('host', '127.0.0.1')}:"
        f"{kv.get('port', '5432')}/connlogs_{args.n}"
    )
    setup_django(database_url)
    from django.db import connection as django_connection

    sys.path.insert(0, str(ANCHOR_DIR))
    import queries as anchor_queries  # the anchor's own SQL builders

    tokens = bench_tokens([org[0] for org in anchor["values"]["org_auth_pair"]])
    with django_connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        app_jit = cursor.fetchone()[0]

    db = connect_as_app(f"{args.dsn} dbname=connlogs_{args.n}")
    anchor_db = connect(f"{args.anchor_dsn or args.dsn} dbname=anchor_{args.n}")
    # A previous run's ingest (rows deleted again) must not leave pages that index-only
    # scans have to visit: start from a vacuumed table, as the anchor's is.
    if not {"cases", "paging"} <= skip:
        db.execute("VACUUM (ANALYZE) connlogs_connectionlog")
    # Time connlogs' SQL under the session settings the app's own connections use.
    db.execute(f"SET jit = {app_jit}")
    log_indexes = {
        r[0]
        for r in db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'connlogs_connectionlog'"
        )
    }
    load_meta = db.execute("SELECT meta FROM bench_load").fetchone()[0]
    env = {
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "app_jit": app_jit,
        "only": ",".join(args.only),
        "anchor_apart": bool(args.anchor_dsn),
        "timing": args.timing,
    }

    measured = []
    if "cases" not in skip:
        measured = measure_cases(args, anchor, tokens, db, anchor_db, log_indexes, plan_dir, runs)

    server = Server(
        app_env(database_url, CONN_MAX_AGE="600"), out / "logs" / f"gunicorn-{args.n}.log"
    )
    server.start()
    extra: dict = {"env": env}
    try:
        client = Http(server.port, timeout=HTTP_TIMEOUT)
        if "http" not in skip:
            measure_api(client, measured, tokens, args.warmup, runs)
        if "paging" not in skip:
            extra["paging"] = measure_paging(
                args, anchor, anchor_queries, anchor_db, db, client, tokens, log_indexes,
                plan_dir, runs,
            )  # fmt: skip
        if "ingest" not in skip:
            extra["ingest"] = measure_ingest(args, db, server, tokens)
        if "purge" not in skip:
            extra["purge"] = measure_purge(db)
        if "export" not in skip:
            extra["export"] = measure_export(args, server, tokens)
    finally:
        server.stop()
    env["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    server_facts = anchor_queries.server_facts(db)

    report = build_report(args.n, anchor, load_meta, measured, extra, server_facts)
    print(report["table"])
    (out / f"results-{args.n}{suffix}.md").write_text(report["markdown"])
    results = {
        "n": args.n,
        "env": env,
        "server": server_facts,
        "load": load_meta,
        "cases": [dataclasses.asdict(m) for m in measured],
        "extra": extra,
        "targets": report["targets"],
    }
    (out / f"results-{args.n}{suffix}.json").write_text(json.dumps(results, indent=1, default=str))
    log(f"wrote {out / f'results-{args.n}{suffix}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
