"""What the change feed costs ingest: the same batches with and without ``feed.record``.

    DATABASE_URL=postgres://…/connlogs_N SECRET_KEY=x bench/feed_ingest_ab.py [--rounds 40]

In-process (no HTTP, no gunicorn), so the other load on a shared machine moves both sides
alike: each round applies one batch of 1000 events per client (1, then 2 concurrent
clients) with the feed on and one with it off, in random order, and the report compares the
medians. The time spent inside ``feed.record`` (the advisory lock and the insert) is timed
apart. The rows and entries written are deleted afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402
from follow_changes import Events  # noqa: E402

from connlogs import feed  # noqa: E402
from connlogs.ingest import record_events  # noqa: E402

RECORD = feed.record
inside: list[float] = []


def timed_record(*args, **kwargs):
    started = time.perf_counter()
    RECORD(*args, **kwargs)
    inside.append((time.perf_counter() - started) * 1000)


def round_trip(streams: list[Events], on: bool, size: int) -> list[float]:
    feed.record = timed_record if on else (lambda *args, **kwargs: None)
    batches = [stream.batch(size) for stream in streams]
    took: list[float] = [0.0] * len(streams)
    barrier = threading.Barrier(len(streams))

    def apply(i: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        record_events(batches[i], max_events=size)
        took[i] = (time.perf_counter() - started) * 1000
        if i:  # a thread's own connection
            connections.close_all()

    threads = [threading.Thread(target=apply, args=(i,)) for i in range(1, len(streams))]
    for thread in threads:
        thread.start()
    apply(0)
    for thread in threads:
        thread.join()
    return took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id::text FROM connlogs_workspace WHERE NOT deleted ORDER BY id LIMIT 2000"
        )
        workspaces = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT coalesce(max(seq), 0) FROM connlogs_feedentry")
        first_seq = cursor.fetchone()[0]
    started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    rng = random.Random(1)
    try:
        for clients in (1, 2):
            streams = [Events(workspaces, seed=clients * 10 + i) for i in range(clients)]
            times: dict[bool, list[float]] = {True: [], False: []}
            inside.clear()
            for _ in range(args.rounds):
                for on in rng.sample([True, False], 2):
                    times[on] += round_trip(streams, on, args.size)
            on, off = statistics.median(times[True]), statistics.median(times[False])
            rate_on, rate_off = clients * args.size / on * 1000, clients * args.size / off * 1000
            print(
                f"{clients} client(s): batch p50 {off:.1f} ms without the feed, {on:.1f} ms "
                f"with it ({(on / off - 1) * 100:+.1f}%), {rate_off:,.0f} -> {rate_on:,.0f} "
                f"events/s; inside feed.record p50 {statistics.median(inside):.2f} ms",
                flush=True,
            )
    finally:
        feed.record = RECORD
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM connlogs_connectionlog WHERE connect_time >= %s", [started])
            cursor.execute("DELETE FROM connlogs_feedentry WHERE seq > %s", [first_seq])
    return 0


if __name__ == "__main__":
    sys.exit(main())
