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
* ``--lookup``: a row by its id (``ConnectionLog.objects.get``), warm, median of 100: a new
  (v7) id and an older random (v4) one, their plans, and the same query on the plain table
  an online conversion left behind (``connlogs_connectionlog_flat``) when it is there;
* ``--purge``: retention: the rate of a row-by-row purge (three days of the oldest month),
  then one whole month dropped, and the keys its rows left cleared, each timed.
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


def chart(queries: list[str], window: str = "") -> dict:
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
        q = f"{window} {q}".strip()
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
    found["plain_table_rows"] = _plain_chart(window)
    return found


def _plain_chart(window: str) -> dict | None:
    """The chart's count of rows by day over the window (the only way the plain layout has),
    run on the plain table an online conversion left behind: first run and median of 5."""
    from django.db import connection
    from django.db.models import Q
    from django.test import RequestFactory

    from connlogs.models import ConnectionLog, User
    from connlogs.search.request import LogSearch
    from connlogs.web import chart_rollups, charts

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('connlogs_connectionlog_flat')")
        if not cursor.fetchone()[0]:
            return None
    request = RequestFactory().get("/")
    request.user = User.objects.get(username="bench-owner")
    found = LogSearch(request, window)
    assert found.is_valid, found.validations
    cleaned = found.filterset.form.cleaned_data
    after, before = (cleaned.get(key) for key in sorted(chart_rollups.WINDOW_KEYS))
    start, end, _ = charts.chart_window(after, before, timezone_now())
    rows = charts._row_counts(
        ConnectionLog.objects.all(), Q(connect_time__gte=start, connect_time__lte=end), charts.DAY
    )
    sql, params = rows.query.sql_with_params()
    sql = sql.replace('"connlogs_connectionlog"', '"connlogs_connectionlog_flat"')
    times = []
    with connection.cursor() as cursor:
        for _ in range(6):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    result = {"first_ms": times[0], "p50_ms": statistics.median(times[1:])}
    log(f"chart on the plain table (rows by day): {result}")
    return result


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def _lookup_one(row_id, runs: int) -> dict:
    """``ConnectionLog.objects.get(id=...)`` ``runs`` times (5 more to warm up): p50 and the
    plan's partitions; and the same SQL on the plain table a swap left behind, if any."""
    from django.db import connection

    from connlogs.models import ConnectionLog

    times = []
    for _ in range(runs + 5):
        started = time.perf_counter()
        ConnectionLog.objects.get(id=row_id)
        times.append((time.perf_counter() - started) * 1000)
    found = ConnectionLog.objects.filter(id=row_id)
    plan = found.explain(analyze=True, buffers=True)
    result = {
        "id_version": row_id.version,
        "p50_ms": statistics.median(times[5:]),
        "tables_scanned": sum(
            1 for line in plan.splitlines() if " on connlogs_connectionlog" in line
        ),
        "executed": sum(
            1
            for line in plan.splitlines()
            if " on connlogs_connectionlog" in line and "never executed" not in line
        ),
        "plan": plan,
    }
    sql, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('connlogs_connectionlog_flat')")
        if cursor.fetchone()[0]:
            flat_sql = sql.replace('"connlogs_connectionlog"', '"connlogs_connectionlog_flat"')
            flat_times = []
            for _ in range(runs + 5):
                started = time.perf_counter()
                cursor.execute(flat_sql, params)
                cursor.fetchall()
                flat_times.append((time.perf_counter() - started) * 1000)
            result["plain_table_p50_ms"] = statistics.median(flat_times[5:])
    log(
        f"lookup by v{row_id.version} id: {result['p50_ms']:.2f} ms "
        f"(plain table {result.get('plain_table_p50_ms', float('nan')):.2f} ms), "
        f"{result['executed']} of {result['tables_scanned']} partition(s) read"
    )
    return result


def lookup(runs: int = 100) -> dict:
    """A row by its id, warm, median of ``runs``: the 500th newest row (a v7 id, if ingest
    wrote it) and, if there is one, a row of a random v4 id (written before v7 ids)."""
    from connlogs.models import ConnectionLog

    newest = ConnectionLog.objects.order_by("-connect_time").values_list("id", flat=True)[500]
    found = {f"v{newest.version}": _lookup_one(newest, runs)}
    older = ConnectionLog.objects.order_by("connect_time").values_list("id", flat=True)[:1000]
    random_id = next((value for value in older if value.version == 4), None)
    if random_id is not None:
        found["v4"] = _lookup_one(random_id, runs)
    return found


def purge() -> dict:
    """Retention on the oldest months: three days of the oldest month deleted row by row
    (its partition is not wholly expired: the rate of a row-by-row purge), then the rest of
    that month dropped (untimed), then the next whole month dropped (timed), and the keys
    their rows left cleared (timed apart)."""
    from connlogs import retention
    from connlogs.models import ConnectionLog
    from connlogs.storage import partitions

    oldest = ConnectionLog.objects.order_by("connect_time").values_list("connect_time", flat=True)[
        0
    ]
    first = partitions.month_start(oldest)
    month = partitions.next_month(first)
    after = partitions.next_month(month)
    sample = oldest + dt.timedelta(days=3)
    sample_rows = ConnectionLog.objects.filter(connect_time__lt=sample).count()
    started = time.perf_counter()
    by_rows = retention.purge(sample, batch_size=5000, clear_keys=False)
    row_seconds = time.perf_counter() - started
    retention.purge(month, clear_keys=False)  # the rest of the oldest month, untimed
    rows = ConnectionLog.objects.filter(connect_time__lt=after).count()
    started = time.perf_counter()
    result = retention.purge(after, batch_size=5000, clear_keys=False)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    cleared = retention.clear_stale_keys(after, batch_size=5000)
    key_seconds = time.perf_counter() - started
    rate = by_rows.deleted / row_seconds if row_seconds else 0
    found = {
        "row_by_row": {"rows": sample_rows, "deleted": by_rows.deleted, "seconds": row_seconds,
                       "rows_per_s": rate},
        "month": f"{month:%Y-%m}",
        "rows": rows,
        "seconds": seconds,
        "deleted_row_by_row": result.deleted,
        "dropped_partitions": [partition.name for partition in result.dropped],
        "keys_cleared": cleared,
        "key_seconds": key_seconds,
        "row_by_row_estimate_s": rows / rate if rate else None,
    }  # fmt: skip
    log(f"purge: {found}")
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
    ap.add_argument(
        "--window", default="", help="time terms before each chart q (default: the last 30 days)"
    )
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
        "chart": lambda: chart(
            ["", "type:ssh status:completed", "workspace_owner:me"], args.window
        ),
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
