"""The stream bench: one worker delivering to a loopback HTTP receiver.

Run by bench/streams.sh (which starts a cluster and migrates); on its own:

    DATABASE_URL=postgres://… SECRET_KEY=bench python bench/stream_delivery.py \
        --backlog 200000 --rate 10000 --seconds 30 [--batch 1000 [2000 …]]

1. backlog: ``--backlog`` events recorded (``record_events``, batches of 1000), then one
   stream from the oldest entry and one ``manage.py stream_worker``: records/s from the
   first delivered batch to the last (the worker's start-up is not counted). Once per
   ``--batch`` (the stream's ``batch_size``, 1..5000), each with a new stream and a new
   receiver, the same backlog and the same worker; steps 2 and 3 use the first;
2. lag: ingest paced at ``--rate`` events/s for ``--seconds`` while the worker follows; the
   stream's lag (``stream_health``) sampled every second; catch-up time after ingest stops;
3. the cost to ingest: each batch's ``record_events`` time, paced the same, without a
   worker (before step 1) and with one (step 2): p50 / p95.
Prints one JSON document; every record is checked to have arrived (distinct seqs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from django.db.models import Max, Min  # noqa: E402

from connlogs import roles  # noqa: E402
from connlogs.feed.models import FeedEntry  # noqa: E402
from connlogs.feed.reading import latest_seq  # noqa: E402
from connlogs.ingest import record_events  # noqa: E402
from connlogs.models import Membership, Organization, User, Workspace  # noqa: E402
from connlogs.streams.models import Stream, StreamBatch  # noqa: E402
from connlogs.streams.status import stream_health  # noqa: E402

BATCH = 1000  # events per record_events call
MAX_STREAM_BATCH = 5000  # the API's bound on a stream's batch_size


def world() -> Workspace:
    run = uuid.uuid4().hex[:8]
    org = Organization.objects.create(name=f"bench-{run}", display_name="Bench")
    owner = User.objects.create_user(
        username=f"bench-{run}", email=f"{run}@bench.invalid", site_roles=[roles.OWNER]
    )
    Membership.objects.create(user=owner, organization=org, roles=[])
    return Workspace.objects.create(organization=org, owner=owner, name=f"ws-{run}")


def events(ws: Workspace, n: int) -> list[dict]:
    return [
        {
            "action": "connect",
            "time": "2026-01-01T00:00:00Z",
            "type": "ssh",
            "workspace_id": str(ws.id),
            "agent_name": "main",
            "connection_id": str(uuid.uuid4()),
            "ip": "10.0.0.1",
        }
        for _ in range(n)
    ]


def paced_ingest(ws: Workspace, rate: int, seconds: float, sample=None, stop=None) -> dict:
    """Record ``rate`` events/s in batches of BATCH for ``seconds`` (or until the
    ``threading.Event`` ``stop`` is set); batch times (ms)."""
    latencies, samples, sent = [], [], 0
    started = time.monotonic()
    next_sample = started
    while time.monotonic() - started < seconds and not (stop and stop.is_set()):
        due = started + sent / rate
        if time.monotonic() < due:
            time.sleep(due - time.monotonic())
        batch = events(ws, BATCH)
        began = time.perf_counter()
        record_events(batch)
        latencies.append((time.perf_counter() - began) * 1000)
        sent += BATCH
        if sample and time.monotonic() >= next_sample:
            samples.append(sample())
            next_sample += 1
    elapsed = time.monotonic() - started
    return {
        "events": sent,
        "achieved_rate": round(sent / elapsed),
        "batch_ms_p50": round(statistics.median(latencies), 1),
        "batch_ms_p95": round(statistics.quantiles(latencies, n=20)[18], 1),
        "samples": samples,
    }


def received(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as answer:
        return json.load(answer)


def stream_batch(text: str) -> int:
    """``--batch``: a stream's ``batch_size`` as the API allows it (1..5000)."""
    size = int(text)
    if not 1 <= size <= MAX_STREAM_BATCH:
        raise argparse.ArgumentTypeError(f"a batch is 1..{MAX_STREAM_BATCH} records")
    return size


def start_receiver(port: int, *extra: str) -> subprocess.Popen:
    """bench/stream_receiver.py on ``port`` (``extra``: its options), once it listens."""
    receiver = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/stream_receiver.py"), str(port), *extra]
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            received(port)
            return receiver
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_worker() -> subprocess.Popen:
    """One ``manage.py stream_worker`` (polling every 0.1 s), with this process's settings."""
    command = [sys.executable, str(ROOT / "manage.py"), "stream_worker", "--interval", "0.1"]
    return subprocess.Popen([*command, "--no-startup-delay", "-v", "0"], cwd=ROOT)


def delivery_rate(stream: Stream, expected: int, port: int) -> dict:
    """Wait until ``stream`` delivered the feed; records/s from its first batch to its last."""
    wait_caught_up(stream, timeout=900)
    batches = StreamBatch.objects.filter(stream=stream)
    span = batches.aggregate(first=Min("delivered_at"), last=Max("delivered_at"))
    records = received(port)
    first_batch = batches.order_by("delivered_at").first()
    seconds = (span["last"] - span["first"]).total_seconds()
    return {
        "batch_size": stream.batch_size,
        "feed_entries": expected,
        "received": records,
        "seconds": round(seconds, 2),
        "records_per_second": round((records["distinct"] - first_batch.records) / seconds),
    }


def wait_caught_up(stream: Stream, timeout: float) -> float:
    started = time.monotonic()
    while Stream.objects.get(pk=stream.pk).cursor < latest_seq():
        if time.monotonic() - started > timeout:
            raise SystemExit("the stream did not catch up in time")
        time.sleep(0.05)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--port", type=int, default=18923)
    parser.add_argument("--batch", type=stream_batch, nargs="+", default=[BATCH])
    args = parser.parse_args()
    Stream.objects.all().delete()  # an earlier run's streams would share the worker
    ws = world()
    result: dict = {"backlog": args.backlog}

    result["ingest_without_worker"] = paced_ingest(ws, args.rate, min(args.seconds, 15))
    for _ in range(args.backlog // BATCH):
        record_events(events(ws, BATCH))
    expected = latest_seq()
    worker = start_worker()
    receiver = None
    try:
        result["delivery"] = []
        for size in args.batch:
            Stream.objects.all().delete()  # one stream at a time: the worker is all its
            receiver = start_receiver(args.port)
            stream = Stream.objects.create(
                name=f"bench-{size}",
                kind="http",
                url=f"http://127.0.0.1:{args.port}/",
                batch_size=size,
                created_by=ws.owner,
            )
            result["delivery"].append(delivery_rate(stream, expected, args.port))
            if size != args.batch[-1]:
                stop(receiver)
        stream = Stream.objects.get(pk=stream.pk)

        def lag() -> float:
            return stream_health(Stream.objects.get(pk=stream.pk))["lag_seconds"]

        following = paced_ingest(ws, args.rate, args.seconds, sample=lag)
        following["caught_up_after_seconds"] = round(wait_caught_up(stream, timeout=600), 2)
        lags = following.pop("samples")
        following["lag_seconds_max"] = max(lags)
        following["lag_seconds_p50"] = statistics.median(lags)
        following["batch_size"] = stream.batch_size
        result["ingest_with_worker"] = following
        # The stream started at the oldest entry: every entry of the feed is a record.
        result["all_received"] = received(args.port)["distinct"] == FeedEntry.objects.count()
    finally:
        stop(worker)
        if receiver is not None:
            stop(receiver)
    print(json.dumps(result, indent=2))


def stop(process: subprocess.Popen) -> None:
    """End ``process`` (SIGTERM) and reap it."""
    process.terminate()
    process.wait()


if __name__ == "__main__":
    main()
