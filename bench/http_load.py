"""connlogs over HTTP against a real gunicorn: the API's answer times, ingest through
``POST /api/v2/connectionlog/events`` in batches of 1000, and the NDJSON export's rate with
the serving worker's memory.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from common import AGENT_TYPES, EVENTS_PATH, WEB_TYPES, Http, Server, auth, logger, ms, p50, p95

INGEST_BATCH = 1000
# Long enough for a whole 10M-row export on one connection.
HTTP_TIMEOUT = 1800

log = logger("measure")


def measure_api(client: Http, measured: list, tokens: dict, warmup: int, runs: int) -> None:
    """``GET`` every case's path over HTTP; sets each case's ``api_ms``."""
    for m in measured:
        # Warm-ups reach both gunicorn workers before timing starts.
        m.api_ms = client.timed_get(m.path, tokens[m.user], max(warmup, 4), runs)
        log(f"{m.case:26s} API p50 {ms(p50(m.api_ms))} ms p95 {ms(p95(m.api_ms))} ms")


class EventMaker:
    """Batches shaped like the anchor's data: per agent session one connect and, a batch
    later, its disconnect; web requests as single events (about 44/44/12 per 1000)."""

    def __init__(self, workspaces: list[tuple], users: list[str], seed: int):
        self.rng = random.Random(seed)
        self.workspaces, self.users = workspaces, users
        self.open: list[dict] = []
        self.clock = dt.datetime.now(dt.UTC)

    def _time(self) -> str:
        self.clock += dt.timedelta(microseconds=self.rng.randrange(1, 2000))
        return self.clock.isoformat().replace("+00:00", "Z")

    def batch(self, size: int) -> list[dict]:
        rng, events = self.rng, []
        closing, self.open = self.open, []
        for event in closing[: int(size * 0.44)]:
            events.append(
                {
                    **event,
                    "action": "disconnect",
                    "time": self._time(),
                    "reason": "session ended",
                    "exit_code": rng.choice([0, 0, 0, 1]),
                }
            )
        still_open = closing[int(size * 0.44) :]
        while len(events) < size:
            ws_id, _ = rng.choice(self.workspaces)
            if rng.random() < 0.78:
                event = {
                    "action": "connect",
                    "time": self._time(),
                    "type": rng.choice(AGENT_TYPES),
                    "workspace_id": ws_id,
                    "agent_name": "main",
                    "connection_id": str(uuid.uuid4()),
                    "ip": f"fd7a:115c:a1e0::{rng.randrange(1, 65535):x}",
                }
                self.open.append(
                    {k: event[k] for k in ("type", "workspace_id", "agent_name", "connection_id")}
                )
            else:
                event = {
                    "action": "connect",
                    "time": self._time(),
                    "type": rng.choice(WEB_TYPES),
                    "workspace_id": ws_id,
                    "agent_name": "main",
                    "ip": f"34.{rng.randrange(256)}.0.1",
                    "user_id": rng.choice(self.users),
                    "user_agent": "bench/1.0",
                    "slug_or_port": "code-server",
                    "status_code": 200,
                }
            events.append(event)
        self.open = still_open + self.open
        return events


def post_batches(port: int, token: str, bodies: list[bytes]) -> tuple[float, list[float], dict]:
    """POST every body on one connection; (seconds, per-batch ms, summed results)."""
    client = Http(port, timeout=HTTP_TIMEOUT)
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    per_batch = []
    t0 = time.perf_counter()
    for body in bodies:
        t1 = time.perf_counter()
        response, answer = client.request("POST", EVENTS_PATH, body, auth(token))
        per_batch.append((time.perf_counter() - t1) * 1000)
        if response.status != 200:
            raise RuntimeError(f"events: {response.status} {answer[:500]!r}")
        for key, value in json.loads(answer).items():
            totals[key] += value
    return time.perf_counter() - t0, per_batch, totals


def _warm_up_ingest(args, db, port: int, token: str, makers) -> dict:
    """Warm-up batches first, like the warm-ups of every other measurement, timed apart:
    after the cluster starts (a checkpoint), the first write to each index page also writes
    the whole page to the WAL. The random-UUID-led indexes put each row on other pages, so
    the first ~20 batches write 15-18 MiB of WAL each, steady state ~3-5 MiB."""
    warm = makers(1)
    bodies = [
        json.dumps({"events": warm.batch(INGEST_BATCH)}).encode() for _ in range(args.ingest_warmup)
    ]
    if not bodies:
        return {}
    wal_before = db.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    seconds, _, _ = post_batches(port, token, bodies)
    wal = db.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [wal_before]).fetchone()[0]
    result = {
        "warmup_events_per_s": INGEST_BATCH * len(bodies) / seconds,
        "warmup_wal_mib_per_batch": float(wal) / 2**20 / len(bodies),
    }
    log(
        f"ingest warm-up x1: {result['warmup_events_per_s']:,.0f} events/s over "
        f"{len(bodies)} batches, {result['warmup_wal_mib_per_batch']:.1f} MiB WAL a batch"
    )
    return result


def _ingest_run(args, port: int, token: str, makers, streams: int) -> dict:
    """``streams`` clients posting ``--ingest-batches`` batches in all, at the same time."""
    per_stream = [
        [
            json.dumps({"events": maker.batch(INGEST_BATCH)}).encode()
            for _ in range(args.ingest_batches // streams)
        ]
        for maker in (makers(streams * 100 + i) for i in range(streams))
    ]
    client = Http(port, timeout=HTTP_TIMEOUT)  # warm-up: one small batch per worker
    for _ in range(2):
        client.request("POST", EVENTS_PATH, {"events": makers(7).batch(10)}, auth(token))
    outcomes: list = [None] * streams

    def run_stream(i: int) -> None:
        outcomes[i] = post_batches(port, token, per_stream[i])

    threads = [threading.Thread(target=run_stream, args=(i,)) for i in range(streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    events = INGEST_BATCH * sum(len(b) for b in per_stream)
    batch_ms = [x for o in outcomes for x in o[1]]
    totals = {k: sum(o[2][k] for o in outcomes) for k in outcomes[0][2]}
    run = {
        "concurrency": streams,
        "events": events,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "batch_p50_ms": p50(batch_ms),
        "batch_p95_ms": p95(batch_ms),
        "result": totals,
    }
    log(
        f"ingest x{streams}: {run['events_per_s']:,.0f} events/s, batch p50 "
        f"{ms(run['batch_p50_ms'])} ms, {totals}"
    )
    return run


def event_targets(db) -> tuple[list[tuple], list[str]]:
    """The workspaces (id, organization id) and active users events are made for."""
    workspaces = db.execute(
        "SELECT id::text, organization_id::text FROM connlogs_workspace WHERE NOT deleted "
        "ORDER BY id LIMIT 2000"
    ).fetchall()
    users = [
        r[0]
        for r in db.execute(
            "SELECT id::text FROM connlogs_user WHERE status = 'active' ORDER BY id LIMIT 500"
        )
    ]
    return workspaces, users


def measure_ingest(args, db, server: Server, tokens) -> dict:
    """Ingest rates with one and two client streams; the rows are deleted again after."""
    workspaces, users = event_targets(db)

    def makers(seed: int) -> EventMaker:
        return EventMaker(workspaces, users, seed=seed)

    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    result = {
        "batch_size": INGEST_BATCH,
        "batches": args.ingest_batches,
        "warmup_batches": args.ingest_warmup,
        "runs": [],
    }
    try:
        result.update(_warm_up_ingest(args, db, server.port, tokens["owner"], makers))
        for streams in (1, 2):
            result["runs"].append(_ingest_run(args, server.port, tokens["owner"], makers, streams))
    finally:
        # Leave the dataset as loaded: the ingested rows all start after `started`.
        deleted = db.execute(
            "DELETE FROM connlogs_connectionlog WHERE connect_time >= %s", [started]
        ).rowcount
        # The key table and the rollup (a partitioned log) lost rows with the log's: vacuumed
        # too, or their dead keys pile up run after run under the merge lookups' index.
        tables = ["connlogs_connectionlog"] + [
            table
            for table in ("connlogs_connectionkey", "connlogs_connectionrollup")
            if db.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]
        ]
        db.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
        db.execute("VACUUM connlogs_connectionlog")  # second pass: visibility map set again
        result["cleaned_up_rows"] = deleted
    return result


def memory_kib(pid: int) -> dict[str, int]:
    """``{"VmRSS": KiB, "VmHWM": KiB}`` of a process (HWM: its peak)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


def measure_export(args, server: Server, tokens) -> dict:
    """The NDJSON export of ``--export-q``: rows/s, first byte, the worker's RSS over time."""
    # A fresh server, so the worker's peak memory is this export's.
    server.stop()
    server.start()
    client = Http(server.port, timeout=HTTP_TIMEOUT)
    for _ in range(2):
        client.request("GET", "/api/v2/connectionlog?limit=1", headers=auth(tokens["owner"]))
    before = {pid: memory_kib(pid) for pid in server.worker_pids()}
    path = "/api/v2/connectionlog/export?" + urlencode({"q": args.export_q, "format": "ndjson"})
    samples: list[tuple[float, int, int]] = []
    progress = {"rows": 0, "done": False}

    def sample() -> None:
        while not progress["done"]:
            rss = 0
            for pid in before:
                try:
                    rss = max(rss, memory_kib(pid)["VmRSS"])
                except (OSError, KeyError):
                    pass
            samples.append((time.perf_counter(), progress["rows"], rss))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample)
    t0 = time.perf_counter()
    response, _ = client.request("GET", path, headers=auth(tokens["owner"]), read=False)
    sampler.start()
    first_byte = time.perf_counter() - t0
    nbytes = 0
    while chunk := response.read(1 << 20):
        nbytes += len(chunk)
        progress["rows"] += chunk.count(b"\n")
    elapsed = time.perf_counter() - t0
    progress["done"] = True
    sampler.join()
    after = {pid: memory_kib(pid) for pid in before}
    rows = progress["rows"]
    baseline = max(v["VmRSS"] for v in before.values())
    peak = max(v["VmHWM"] for v in after.values())
    at = {}
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        hits = [s[2] for s in samples if s[1] >= share * rows]
        at[f"{int(share * 100)}%"] = hits[0] if hits else None
    result = {
        "path": path,
        "status": response.status,
        "rows": rows,
        "bytes": nbytes,
        "seconds": elapsed,
        "first_byte_s": first_byte,
        "rows_per_s": rows / elapsed,
        "rss_baseline_kib": baseline,
        "rss_peak_kib": peak,
        "rss_at_progress_kib": at,
    }
    log(
        f"export: {rows:,} rows in {elapsed:.1f}s = {result['rows_per_s']:,.0f} rows/s; worker RSS "
        f"{baseline / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB"
    )
    return result
