"""The stream outage drill: a receiver outage and a killed worker while ingest goes on.

Run by ``bench/streams.sh --drill`` (which starts a cluster and migrates); on its own:

    DATABASE_URL=postgres://… SECRET_KEY=bench python bench/stream_drill.py \\
        --rate 2000 --outage 10 [--lease 30]

On an empty feed, one stream (from the oldest entry, ``--batch`` records a batch) and one
real ``manage.py stream_worker`` deliver to a loopback receiver (bench/stream_receiver.py,
logging every seq it acknowledged to a file) while ingest records ``--rate`` events/s
(bench/stream_delivery.py's paced ingest, in a thread). After ``--warmup`` seconds the
receiver is stopped for ``--outage`` seconds and started again; once the lag is under 5 s
and ``--settle`` seconds more have passed, the worker is SIGKILLed and a new one started at
once (it takes the stream over when the dead worker's lease, ``--lease`` seconds, expires).
Once the lag is under 5 s again and ``--settle`` seconds more have passed, ingest stops and
the stream catches up. The stream's lag (``stream_health``) is sampled every 0.5 s.

Prints a table: the feed's records for the stream against the distinct seqs received,
duplicates, each fault's maximum lag and the time from its recovery (receiver back, new
worker up) until the lag was under 5 s again, and the rates.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection
from stream_delivery import (  # sets Django up (django.setup) before the models below
    paced_ingest,
    start_receiver,
    start_worker,
    stop,
    stream_batch,
    wait_caught_up,
    world,
)

from connlogs.feed.models import FeedEntry  # noqa: E402
from connlogs.feed.reading import latest_seq  # noqa: E402
from connlogs.streams.models import Stream  # noqa: E402
from connlogs.streams.status import stream_health  # noqa: E402

LAG_TARGET_SECONDS = 5.0  # issue 15: "lag stays under 5 s"
SAMPLE_SECONDS = 0.5


@dataclass
class Fault:
    """One fault: when it began, when it was repaired (``recovered_at``: the receiver back or
    the new worker started), when the stream next delivered (``delivered_at``) and when the
    lag was under the target again with everything the feed held at the repair delivered
    (``lag_ok_at``), in seconds from the drill's start."""

    name: str
    began_at: float
    recovered_at: float = 0.0
    delivered_at: float = 0.0
    lag_ok_at: float = 0.0
    cursor_at_recovery: int = 0
    latest_at_recovery: int = 0
    cursor_at_lag_ok: int = 0


@dataclass
class Drill:
    """The samples ``(t, lag_seconds, lag_records, cursor)`` and the faults, as they go."""

    stream: Stream
    started: float = field(default_factory=time.monotonic)
    samples: list[tuple[float, float, int, int]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    def sample(self) -> tuple[float, float, int, int]:
        health = stream_health(Stream.objects.get(pk=self.stream.pk))
        row = (self.now(), health["lag_seconds"], health["lag_records"], health["cursor"])
        self.samples.append(row)
        return row

    def wait(self, seconds: float) -> None:
        """Sample every SAMPLE_SECONDS for ``seconds``."""
        until = self.now() + seconds
        while self.now() < until:
            self.sample()
            time.sleep(SAMPLE_SECONDS)

    def until_lag_ok(self, fault: Fault, timeout: float) -> None:
        """Sample until the stream delivered what the feed held when ``fault`` was repaired
        and its lag is under the target (a killed worker's stream lags only once its lease
        ran on: an early sample under the target says nothing)."""
        while self.now() - fault.recovered_at < timeout:
            at, lag_seconds, _, cursor = self.sample()
            if cursor > fault.cursor_at_recovery and not fault.delivered_at:
                fault.delivered_at = at
            if (
                fault.delivered_at
                and cursor >= fault.latest_at_recovery
                and lag_seconds < LAG_TARGET_SECONDS
            ):
                fault.lag_ok_at, fault.cursor_at_lag_ok = at, cursor
                return
            time.sleep(SAMPLE_SECONDS)
        raise SystemExit(f"{fault.name}: the lag did not come back under the target")

    def recover(self, fault: Fault) -> None:
        fault.recovered_at = self.now()
        fault.latest_at_recovery = latest_seq()
        fault.cursor_at_recovery = self.sample()[3]

    def during(self, fault: Fault) -> list[tuple[float, float, int, int]]:
        return [s for s in self.samples if fault.began_at <= s[0] <= fault.lag_ok_at]


def mid_round(stream: Stream, timeout: float = 30) -> None:
    """Return while a worker holds ``stream``'s lease (a round is under way), so a kill
    lands mid-stream rather than between rounds (a caught-up stream is idle between them)."""
    deadline = time.monotonic() + timeout
    while not Stream.objects.filter(pk=stream.pk).exclude(lease_owner="").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no delivery round was under way to kill")
        time.sleep(0.005)


def read_seqs(path: Path) -> list[int]:
    return [int(line) for line in path.read_bytes().split()]


def table(drill: Drill, faults: list[Fault], seqs: list[int], ingest: dict, end: float) -> str:
    expected = set(FeedEntry.objects.filter(seq__gt=0).values_list("seq", flat=True))
    distinct = set(seqs)
    rows = [
        ("records the feed holds for the stream", f"{len(expected):,}"),
        ("records received, de-duplicated by seq", f"{len(distinct):,}"),
        ("equal (same set of seqs)", "yes" if distinct == expected else "NO"),
        ("missing / unexpected seqs", f"{len(expected - distinct)} / {len(distinct - expected)}"),
        ("duplicates received", f"{len(seqs) - len(distinct):,}"),
        (
            "ingest: events recorded, achieved rate",
            f"{ingest['events']:,}, {ingest['achieved_rate']:,} events/s",
        ),
    ]
    for fault in faults:
        window = drill.during(fault)
        caught = fault.cursor_at_lag_ok - fault.cursor_at_recovery
        catching_up = fault.lag_ok_at - fault.delivered_at  # from its first delivery on
        rows += [
            (
                f"{fault.name}: at / repaired at",
                f"{fault.began_at:.1f} s / "
                f"{fault.recovered_at:.1f} s ({fault.recovered_at - fault.began_at:.1f} s)",
            ),
            (
                f"{fault.name}: repaired → first delivery",
                f"{fault.delivered_at - fault.recovered_at:.1f} s",
            ),
            (
                f"{fault.name}: max lag",
                f"{max(s[1] for s in window):.1f} s, {max(s[2] for s in window):,} records",
            ),
            (
                f"{fault.name}: repaired → lag < 5 s",
                f"{fault.lag_ok_at - fault.recovered_at:.1f} s",
            ),
            (
                f"{fault.name}: caught up (first delivery → lag < 5 s)",
                f"{caught:,} seqs in {catching_up:.1f} s"
                + (f", {caught / catching_up:,.0f} seqs/s" if catching_up else ""),
            ),
        ]
    steady = [
        s for s in drill.samples if not any(f.began_at <= s[0] <= f.lag_ok_at for f in faults)
    ]
    rows += [
        (
            "lag outside the faults: max",
            f"{max(s[1] for s in steady):.2f} s, {max(s[2] for s in steady):,} records",
        ),
        (
            "overall delivery rate (distinct / start → caught up)",
            f"{len(distinct) / end:,.0f} records/s over {end:.1f} s",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=2000, help="ingest, events/s")
    parser.add_argument("--batch", type=stream_batch, default=1000)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--outage", type=float, default=10, help="receiver down, seconds")
    parser.add_argument("--settle", type=float, default=10)
    parser.add_argument("--lease", type=float, help="the workers' lease (default: settings)")
    parser.add_argument("--port", type=int, default=18924)
    args = parser.parse_args()
    if args.lease:
        os.environ["CONNLOGS_STREAM_LEASE_SECONDS"] = str(args.lease)
    Stream.objects.all().delete()  # an earlier run's streams would share the worker
    ws = world()
    stream = Stream.objects.create(
        name="drill",
        kind="http",
        url=f"http://127.0.0.1:{args.port}/",
        batch_size=args.batch,
        created_by=ws.owner,
    )
    log = Path(tempfile.mkdtemp(prefix="stream-drill-")) / "seqs"
    receiver = start_receiver(args.port, "--log", str(log))
    worker = start_worker()
    stop_ingest, ingest = threading.Event(), {}

    def run_ingest() -> None:
        try:
            ingest.update(paced_ingest(ws, args.rate, 24 * 3600, stop=stop_ingest))
        finally:
            connection.close()

    ingesting = threading.Thread(target=run_ingest)
    drill = Drill(stream)
    ingesting.start()
    try:
        drill.wait(args.warmup)
        outage = Fault("receiver outage", drill.now())
        stop(receiver)
        drill.wait(args.outage)
        receiver = start_receiver(args.port, "--log", str(log))
        drill.recover(outage)
        drill.until_lag_ok(outage, timeout=300)
        drill.wait(args.settle)
        mid_round(stream)
        kill = Fault("worker SIGKILL", drill.now())
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker = start_worker()
        drill.recover(kill)
        drill.until_lag_ok(kill, timeout=300)
        drill.wait(args.settle)
        stop_ingest.set()
        ingesting.join()
        wait_caught_up(stream, timeout=300)
        end = drill.now()
    finally:
        stop_ingest.set()
        stop(worker)
        stop(receiver)
    print(table(drill, [outage, kill], read_seqs(log), ingest, end))


if __name__ == "__main__":
    main()
