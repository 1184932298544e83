"""Where an ingest batch's time goes: Python or PostgreSQL, and which statement.

    DATABASE_URL=postgres://…/connlogs_N bench/ingest_profile.py [--batches 30] [--warmup 10]
        [--cprofile 10] [--explain 2] [--waits 20] [--pgdata DATA_DIR]

In-process (no HTTP, no gunicorn): ``record_events`` on batches shaped like the bench's
(``EventMaker``: 440 disconnects, ~340 agent connects, ~220 web requests per 1000), one
client. For each timed batch: its wall time, this process's CPU time, and the wall time of
every statement (Django's execute wrapper; the COPY into the staging table is timed around
``_stage``, the COMMIT around the connection's commit). With ``--pgdata`` the CPU time of
every process of that cluster (backends, WAL writer, checkpointer...) is read from /proc
too, so "CPU per 1000 events" can be split between the app and PostgreSQL.

* ``--cprofile N``: N more batches under cProfile; the top functions are printed
  (``PROFILE_SORT=cumulative`` to sort by cumulative time);
* ``--explain N``: N more batches with ``auto_explain`` loaded in the session (nested
  statements included, so the triggers' own statements are shown); the last batch's plans
  are printed with buffers and WAL;
* ``--waits N``: two clients, N batches each, at once; what their backends wait for, sampled
  every 5 ms from ``pg_stat_activity``, and the CPU per batch of both sides.

The rows written are deleted afterwards and the log vacuumed, like the bench's.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import re
import statistics
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import setup_django  # noqa: E402
from http_load import INGEST_BATCH, EventMaker  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=30, help="timed batches (default 30)")
    ap.add_argument("--warmup", type=int, default=10, help="batches first, not timed")
    ap.add_argument("--cprofile", type=int, default=10, help="batches under cProfile")
    ap.add_argument("--explain", type=int, default=2, help="batches under auto_explain")
    ap.add_argument(
        "--pgdata",
        help="the cluster's data directory: the CPU time of all its processes is counted too",
    )
    ap.add_argument(
        "--waits",
        type=int,
        default=0,
        help="batches per client with two clients at once, sampling what their backends wait for",
    )
    return ap.parse_args()


def statement_label(sql: str) -> str:
    """A short name for a statement: its verb and first table."""
    sql = " ".join(sql.split())
    match = re.search(r"\b(INSERT INTO|UPDATE|DELETE FROM|FROM|COPY)\s+\"?(\w+)", sql)
    verb = sql.split(" ", 1)[0].upper()
    if sql.upper().startswith("WITH STAGED"):
        return "insert log rows (from staging)"
    if sql.upper().startswith("WITH MERGED"):
        return "update merged rows (from staging)"
    if "pg_advisory_xact_lock" in sql:
        return "feed lock"
    if " FOR UPDATE" in sql:
        return "lock keys and rows"
    return f"{verb} {match.group(2) if match else sql[:40]}"


class StatementClock:
    """Wall time per statement label, summed per batch."""

    def __init__(self):
        self.batch: dict[str, float] = defaultdict(float)

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.batch[statement_label(sql)] += (time.perf_counter() - started) * 1000


@contextmanager
def timed_copies(clock: StatementClock):
    from connlogs.ingest import stores

    original = stores.PostgresStore._stage

    def stage(self, cursor, columns, rows):
        started = time.perf_counter()
        try:
            return original(self, cursor, columns, rows)
        finally:
            clock.batch["COPY staging (incl. row formatting)"] += (
                time.perf_counter() - started
            ) * 1000

    stores.PostgresStore._stage = stage
    try:
        yield
    finally:
        stores.PostgresStore._stage = original


def commit_clock(clock: StatementClock):
    """Time the COMMIT (Django's atomic() commits through the connection, not execute())."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    original = BaseDatabaseWrapper._commit

    def _commit(self):
        started = time.perf_counter()
        try:
            return original(self)
        finally:
            clock.batch["COMMIT (fsync)"] += (time.perf_counter() - started) * 1000

    BaseDatabaseWrapper._commit = _commit


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` so far (``/proc/<pid>/stat``; gone ones: 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cluster_pids(pgdata: str | None) -> list[int]:
    """The postmaster of ``pgdata`` and its children (backends, WAL writer, checkpointer...)."""
    if not pgdata:
        return []
    postmaster = int(Path(pgdata, "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return [postmaster, *map(int, children)]


def main() -> int:
    args = parse_args()
    setup_django()
    from django.db import connection
    from http_load import event_targets

    from connlogs.ingest import record_events

    connection.ensure_connection()
    raw = connection.connection
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    workspaces, users = event_targets(raw)
    maker = EventMaker(workspaces, users, seed=13)
    clock = StatementClock()
    commit_clock(clock)
    per_batch: list[dict] = []

    def one(timed: bool) -> None:
        events = maker.batch(INGEST_BATCH)
        clock.batch = defaultdict(float)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = record_events(events)
        wall, cpu = (time.perf_counter() - wall0) * 1000, (time.process_time() - cpu0) * 1000
        if timed:
            per_batch.append({"wall": wall, "cpu": cpu, **clock.batch, "result": result})

    try:
        with connection.execute_wrapper(clock), timed_copies(clock):
            for _ in range(args.warmup):
                one(False)
            pids = cluster_pids(args.pgdata)
            cpu0, own0 = cpu_seconds(pids), time.process_time()
            for _ in range(args.batches):
                one(True)
            cluster_cpu = (cpu_seconds(pids) - cpu0) * 1000 / args.batches
            own_cpu = (time.process_time() - own0) * 1000 / args.batches
        report(per_batch)
        print(f"  mean CPU per batch: this process {own_cpu:.1f} ms", end="")
        print(f", PostgreSQL (all its processes) {cluster_cpu:.1f} ms" if pids else "")
        if args.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.cprofile):
                one(False)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(
                os.environ.get("PROFILE_SORT", "tottime")
            ).print_stats(40)
            print(f"\ncProfile of {args.cprofile} batches, by own time:")
            print("\n".join(out.getvalue().splitlines()[:60]))
        if args.explain:
            explain(connection, raw, lambda: one(False), args.explain)
        if args.waits:
            waits(args.waits, workspaces, users, args.pgdata)
    finally:
        with raw.cursor() as cursor:
            cursor.execute("DELETE FROM connlogs_connectionlog WHERE connect_time >= %s", [started])
            print(f"\ncleaned up {cursor.rowcount:,} rows")
        raw.commit()
        raw.execute("VACUUM (ANALYZE) connlogs_connectionlog")  # as the bench leaves it
    return 0


def report(per_batch: list[dict]) -> None:
    """Medians per batch: wall, CPU of this process, each statement."""
    labels = sorted(
        {k for b in per_batch for k in b if k not in ("wall", "cpu", "result")},
        key=lambda k: -statistics.median(b.get(k, 0.0) for b in per_batch),
    )

    def median(key: str) -> float:
        return statistics.median(b.get(key, 0.0) for b in per_batch)

    print(f"{len(per_batch)} batches of {INGEST_BATCH}, one client, medians (ms):")
    print(f"  wall                                 {median('wall'):8.1f}")
    print(f"  CPU of this process (Python+psycopg) {median('cpu'):8.1f}")
    in_db = [sum(b.get(k, 0.0) for k in labels) for b in per_batch]
    print(f"  waiting on statements (sum)          {statistics.median(in_db):8.1f}")
    for label in labels:
        print(f"    {label:34s} {median(label):8.1f}")
    print(f"  result of the last batch: {per_batch[-1]['result']}")


def waits(batches: int, workspaces: list, users: list, pgdata: str | None) -> None:
    """Two clients, ``batches`` each, at once; what their backends wait for, sampled every
    5 ms from pg_stat_activity (lock waits name the lock type and the statement)."""
    import threading

    from django.db import connection, connections

    from connlogs.ingest import record_events

    makers = [EventMaker(workspaces, users, seed=1300 + i) for i in range(2)]
    bodies = [[m.batch(INGEST_BATCH) for _ in range(batches)] for m in makers]
    samples: dict[tuple, int] = defaultdict(int)
    done = threading.Event()
    backends: list[int] = []
    # Both clients' connections are open before the CPU count starts and still open when it
    # ends: a backend's CPU time is read from /proc while it runs.
    connected, finished = threading.Barrier(3), threading.Barrier(3)

    def client(i: int) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.append(cursor.fetchone()[0])
            connected.wait()
            for events in bodies[i]:
                record_events(events)
            finished.wait()
            finished.wait()
        finally:
            connections.close_all()

    def sample() -> None:
        import psycopg

        settings = connection.settings_dict
        with psycopg.connect(
            host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
            dbname=settings["NAME"], autocommit=True,
        ) as db:  # fmt: skip
            while not done.is_set():
                for row in db.execute(
                    "SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-'), "
                    "left(regexp_replace(query, '\\s+', ' ', 'g'), 60) FROM pg_stat_activity "
                    "WHERE pid = ANY(%s) AND state = 'active'",
                    [backends],
                ):
                    samples[tuple(row)] += 1
                time.sleep(0.005)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    sampler = threading.Thread(target=sample)
    for t in threads:
        t.start()
    connected.wait()
    pids = cluster_pids(pgdata)
    cpu0, own0 = cpu_seconds(pids), time.process_time()
    t0 = time.perf_counter()
    sampler.start()
    finished.wait()
    elapsed = time.perf_counter() - t0
    own_cpu = (time.process_time() - own0) * 1000 / (2 * batches)
    cluster_cpu = (cpu_seconds(pids) - cpu0) * 1000 / (2 * batches)
    finished.wait()
    for t in threads:
        t.join()
    done.set()
    sampler.join()
    total = sum(samples.values())
    print(
        f"\ntwo clients, {batches} batches each: {2 * batches * INGEST_BATCH / elapsed:,.0f} "
        f"events/s in process; mean CPU per batch: this process {own_cpu:.1f} ms"
        + (f", PostgreSQL {cluster_cpu:.1f} ms" if pids else "")
        + f"; backend states over {total} samples:"
    )
    for key, count in sorted(samples.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {count / total:6.1%}  {key[0]:9s} {key[1]:22s} {key[2]}")


def explain(connection, raw, run_batch, batches: int) -> None:
    """Run ``batches`` with auto_explain (nested statements: the triggers') and print plans."""
    notices: list[str] = []
    raw.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting, value in (
            ("log_min_duration", "0"),
            ("log_analyze", "on"),
            ("log_buffers", "on"),
            ("log_wal", "on"),
            ("log_timing", "on"),
            ("log_triggers", "on"),
            ("log_nested_statements", "on"),
            ("log_level", "notice"),
        ):
            cursor.execute(f"SET auto_explain.{setting} = {value}")
    for _ in range(batches):
        notices.clear()
        run_batch()
    with connection.cursor() as cursor:
        cursor.execute("SET auto_explain.log_min_duration = -1")
    print(f"\nauto_explain of the last batch ({len(notices)} statements):")
    for message in notices:
        print(message)
        print()


if __name__ == "__main__":
    raise SystemExit(main())
