"""The costs of the storage layout, for either code base (partitioned or plain), side by side.

Run it once per layout against a database of its own, with the code under test first on
``PYTHONPATH`` (its Django settings, models and migrations are the ones used)::

    DATABASE_URL=postgres://postgres@127.0.0.1:PORT/DB PYTHONPATH=CODE \\
        .venv/bin/python bench/partition_costs.py --code CODE --load 1000000 --days 95 \\
        --ingest --chart --lookup --purge --out bench/out/partition-costs-LABEL.json

* ``--load N``: ``migrate``, the demo's people and N demo rows (COPY) over ``--days`` days;
* ``--ingest``: ``measure.py``'s ingest (gunicorn, 2 workers, batches of 1000 events, one
  then two clients; the rows are deleted again);
* ``--chart``: the list page of the last 30 days as a site owner, the chart's cache empty:
  the page's time and the chart's own queries' time, for several ``q``;
* ``--lookup``: a row by its id (``ConnectionLog.objects.get``): p50 and its plan;
* ``--purge``: retention of one whole month (the oldest month the data covers entirely;
  the part-month before it is purged first, untimed): seconds and rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE))


def log(text: str) -> None:
    print(f"[costs {dt.datetime.now(dt.UTC):%H:%M:%S}] {text}", flush=True)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
    import django

    django.setup()


def sizes() -> dict:
    """Heap and index bytes of the log (all its partitions), and how many partitions."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE isleaf), "
            "COALESCE(sum(pg_relation_size(relid)) FILTER (WHERE isleaf), 0), "
            "COALESCE(sum(pg_indexes_size(relid)) FILTER (WHERE isleaf), 0) "
            "FROM pg_partition_tree('connlogs_connectionlog')"
        )
        leaves, heap, indexes = cursor.fetchone()
        if not leaves:  # a plain table is no partition tree
            cursor.execute(
                "SELECT 1, pg_relation_size('connlogs_connectionlog'), "
                "pg_indexes_size('connlogs_connectionlog')"
            )
            leaves, heap, indexes = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM connlogs_connectionlog")
        rows = cursor.fetchone()[0]
    return {"rows": rows, "tables": leaves, "heap_bytes": int(heap), "index_bytes": int(indexes)}


def load(rows: int, days: int) -> dict:
    from django.core.management import call_command

    from connlogs import demo

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    cast = demo.ensure_cast()
    demo.load(cast, rows, seed=1, days=days)
    seconds = time.perf_counter() - started
    log(f"loaded {rows:,} rows in {seconds:.1f} s")
    return {"rows": rows, "days": days, "seconds": seconds}


def ingest(code: Path, database_url: str) -> dict:
    import measure

    measure.ROOT = code  # gunicorn runs the code under test (its .venv links to ours)
    tokens = measure.bench_tokens([])
    args = argparse.Namespace(ingest_batches=40, ingest_warmup=30)
    server = measure.Server(database_url, HERE / "out" / "logs" / "costs-gunicorn.log")
    server.start()
    try:
        with psycopg.connect(_dsn(database_url), autocommit=True) as db:
            return measure.measure_ingest(args, db, server, tokens)
    finally:
        server.stop()


def chart(queries: list[str]) -> dict:
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from connlogs.models import User

    owner = User.objects.get(username="bench-owner")
    client = Client()
    client.force_login(owner)
    found = {}
    for q in queries:
        runs = []
        for _ in range(5):
            cache.clear()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get("/connectionlog", {"q": q})
                page_ms = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.status_code
            chart_ms = sum(
                float(query["time"]) * 1000
                for query in captured.captured_queries
                if "date_trunc" in query["sql"].lower()
                or "connlogs_connectionrollup" in query["sql"]
            )
            runs.append((page_ms, chart_ms))
        found[q or "(none)"] = {
            "first_page_ms": runs[0][0],
            "first_chart_ms": runs[0][1],
            "chart_p50_ms": statistics.median(chart for _, chart in runs),
        }
        log(f"chart q={q!r}: {found[q or '(none)']}")
    return found


def lookup() -> dict:
    from connlogs.models import ConnectionLog

    newest = ConnectionLog.objects.order_by("-connect_time").values_list("id", flat=True)[500]
    times = []
    for _ in range(25):
        started = time.perf_counter()
        ConnectionLog.objects.get(id=newest)
        times.append((time.perf_counter() - started) * 1000)
    plan = ConnectionLog.objects.filter(id=newest).explain(analyze=True, buffers=True)
    scanned = sum(1 for line in plan.splitlines() if " on connlogs_connectionlog" in line)
    result = {
        "id_version": newest.version,
        "p50_ms": statistics.median(times[5:]),
        "tables_scanned": scanned,
        "plan": plan,
    }
    log(f"lookup by id: {result['p50_ms']:.2f} ms, {scanned} table(s) scanned")
    return result


def purge() -> dict:
    from connlogs import retention
    from connlogs.models import ConnectionLog

    oldest = ConnectionLog.objects.order_by("connect_time").values_list("connect_time", flat=True)[
        0
    ]
    first = oldest.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month = (first + dt.timedelta(days=32)).replace(day=1)
    after = (month + dt.timedelta(days=32)).replace(day=1)
    retention.purge(month)  # the part-month before it, untimed
    rows = ConnectionLog.objects.filter(connect_time__lt=after).count()
    started = time.perf_counter()
    result = retention.purge(after, batch_size=5000)
    seconds = time.perf_counter() - started
    dropped = [partition.name for partition in getattr(result, "dropped", ())]
    found = {
        "month": f"{month:%Y-%m}",
        "rows": rows,
        "seconds": seconds,
        "deleted_row_by_row": result.deleted,
        "dropped_partitions": dropped,
    }
    log(f"purge of {found['month']}: {rows:,} rows in {seconds:.2f} s ({found})")
    return found


def _dsn(database_url: str) -> str:
    from django.db import connection

    settings = connection.settings_dict
    return (
        f"host={settings['HOST']} port={settings['PORT']} user={settings['USER']} "
        f"dbname={settings['NAME']}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", type=Path, required=True, help="root of the code under test")
    ap.add_argument("--load", type=int, default=0, metavar="N")
    ap.add_argument("--days", type=int, default=95)
    ap.add_argument("--ingest", action="store_true")
    ap.add_argument("--chart", action="store_true")
    ap.add_argument("--lookup", action="store_true")
    ap.add_argument("--purge", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    setup_django()
    import connlogs

    log(f"code under test: {Path(connlogs.__file__).parent}")
    result: dict = {"code": str(args.code)}
    if args.load:
        result["load"] = load(args.load, args.days)
    import measure

    measure.bench_tokens([])  # the site owner who reads the pages
    result["sizes"] = sizes()
    log(f"sizes: {result['sizes']}")
    database_url = os.environ["DATABASE_URL"]
    steps = {
        "ingest": lambda: ingest(args.code, database_url),
        "chart": lambda: chart(["", "type:ssh status:completed", "workspace_owner:me"]),
        "lookup": lookup,
        "purge": purge,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, step in steps.items():
        if getattr(args, name):
            result[name] = step()
            result[f"{name}_load_average"] = os.getloadavg()
            args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
