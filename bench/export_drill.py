"""The exports drill (``load_fault.py --drill exports``): long exports must not starve ingest
or the pages.

Writers, API readers, a page reader and a health prober run as in the fault drill (without
the PostgreSQL restart); after ``ALONE_SECONDS`` ``--exports`` clients each download every row
(NDJSON, as a site auditor, ``--demo-rows`` defaults to 1,000,000 here) at the same time and
read them to the end. The figures that count are those of the requests in flight while every
export was streaming, from the last export's first byte to the first export's last: the
ingest p99 there must stay under ``INGEST_P99_MS``.
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from urllib.parse import urlencode

from common import EVENTS_PATH, Server, auth, connect, describe_pools, logger, p50, percentile
from fault_clients import make_clients
from fault_ledger import Ledger
from fault_record import Recorder, Sample

INGEST_P99_MS = 1000.0
EXPORT_PATH = "/api/v2/connectionlog/export?" + urlencode({"format": "ndjson"})
EXPORT_ENDPOINT = "GET /api/v2/connectionlog/export (every row)"
INGEST_ENDPOINT = f"POST {EVENTS_PATH}"
# Every client waits this long for an answer, so a starved request shows as its real wait
# (under sync workers, until an export ends) instead of a timeout.
CLIENT_TIMEOUT = 3600.0
# Ingest is measured alone first (after a second of warm-up), for comparison.
ALONE_SECONDS = 20.0

say = logger("load_fault", sys.stdout)


class FullExport(threading.Thread):
    """One download of every row, read to the end; a 429 is waited out and asked again."""

    def __init__(self, index: int, port: int, token: str, recorder: Recorder):
        super().__init__(name=f"full-export-{index}", daemon=True)
        self.port, self.token, self.recorder = port, token, recorder
        self.rows = 0
        self.status = 0
        self.refused = 0  # 429 answers (too many exports already streaming)
        self.began = 0.0  # seconds since the load started
        self.first_byte: float | None = None
        self.ended: float | None = None
        self.error = ""

    def run(self) -> None:
        origin = self.recorder.origin
        self.began = time.monotonic() - origin
        while True:
            started = time.monotonic()
            conn = connect(self.port, CLIENT_TIMEOUT)
            retry_after = 0.0
            try:
                conn.request("GET", EXPORT_PATH, headers=auth(self.token))
                response = conn.getresponse()
                self.status = response.status
                if response.status == 429:
                    response.read()
                    self.refused += 1
                    retry_after = float(response.getheader("Retry-After") or 1)
                while response.status == 200 and (chunk := response.read(1 << 20)):
                    if self.first_byte is None:
                        self.first_byte = time.monotonic() - origin
                    self.rows += chunk.count(b"\n")
            except (OSError, http.client.HTTPException) as error:
                self.status, self.error = 0, type(error).__name__
            finally:
                conn.close()
            seconds = time.monotonic() - started
            self.recorder.add(
                Sample(EXPORT_ENDPOINT, started - origin, seconds, self.status, self.error)
            )
            if not retry_after:
                self.ended = time.monotonic() - origin
                return
            time.sleep(retry_after)


def run_drill(args, server: Server, exports: Server, seed: dict, count_rows) -> dict:
    """The drill; what happened, in the shape ``load_fault.print_results`` prints. Exports
    go to ``exports`` (the exports pool, as the proxy routes them; else ``server`` itself),
    everything else to ``server``; ``count_rows()`` counts the log's rows."""
    port = server.port
    stop = threading.Event()
    origin = time.monotonic()
    recorder = Recorder(origin)
    ledger = Ledger()
    clients = make_clients(args, port, seed, recorder, ledger, stop, timeout=CLIENT_TIMEOUT)
    others = [*clients["writers"], *clients["others"]]
    downloads = [
        FullExport(i, exports.port, seed["tokens"]["auditor"], recorder)
        for i in range(args.exports)
    ]
    say(
        f"exports drill: {args.writers} writers, {args.readers} readers, 1 page reader, "
        f"1 health prober; after {ALONE_SECONDS:.0f}s, {args.exports} exports of every row at "
        "once"
    )
    for thread in others:
        thread.start()
    time.sleep(ALONE_SECONDS)
    rows_before = count_rows()
    load_before = os.getloadavg()
    for thread in downloads:
        thread.start()
    for thread in downloads:
        thread.join()
    stop.set()
    load_seconds = time.monotonic() - origin
    # The machine's load average (other work included) while the exports ran.
    loads = f"{load_before[0]:.1f} when they started, {os.getloadavg()[1]:.1f} over the last 5 min"
    say("exports done; writers finish the batches they started")
    for thread in others:
        thread.join(timeout=120)
    facts = {"rows": (rows_before, count_rows()), "loads": loads, "seconds": load_seconds}
    return summarise(args, (server, exports), recorder, ledger, downloads, facts)


def _ingest_ms(samples, keep) -> list[float]:
    """Answered event batches' times (ms) of the ``samples`` that ``keep(sample)``."""
    return [
        s.seconds * 1000 for s in samples if s.endpoint == INGEST_ENDPOINT and s.status and keep(s)
    ]


def _exported(args, exports, facts, window: tuple[float, float]) -> dict:
    rows_before, rows_after = facts["rows"]
    return {
        "exports": args.exports,
        "complete (every row, read to the end)": len(_complete(exports, facts["rows"])),
        "rows in the table when they started / ended": f"{rows_before:,} / {rows_after:,}",
        "rows each export read": ", ".join(f"{e.rows:,}" for e in exports),
        "seconds each (first byte after)": ", ".join(
            f"{(e.ended or e.began) - e.began:.1f} ({(e.first_byte or e.began) - e.began:.2f})"
            for e in exports
        ),
        "answered 429 first (then waited Retry-After)": sum(e.refused for e in exports),
        "all streaming from / to (s into the load)": f"{window[0]:.1f} / {window[1]:.1f}",
        "machine load average": facts["loads"],
    }


def _complete(exports, rows: tuple[int, int]) -> list:
    """The exports that read every row to the end: at least the rows there were when they
    started, at most those there were when they ended (writers add rows meanwhile)."""
    return [e for e in exports if e.status == 200 and not e.error and rows[0] <= e.rows <= rows[1]]


def summarise(args, servers, recorder, ledger, exports, facts) -> dict:
    """The window when every export streamed, ingest's latency in it, and the verdict;
    ``servers``: (main pool, exports pool); ``facts``: the table's row counts when the
    exports started and after they ended, the machine's load, the load's seconds."""
    start = max((e.first_byte or 0.0 for e in exports), default=0.0)
    end = min((e.ended or 0.0 for e in exports), default=0.0)
    # Requests in flight at any moment of the window, so one that waited through it counts.
    window = [s for s in recorder.samples if s.started <= end and s.started + s.seconds >= start]
    ingest = _ingest_ms(window, lambda s: True)
    began = min(e.began for e in exports)
    alone = _ingest_ms(
        recorder.samples, lambda s: 1 <= s.started and s.started + s.seconds <= began
    )
    ingest_p99 = percentile(ingest, 0.99)
    complete = _complete(exports, facts["rows"])
    ok = len(complete) == len(exports) and end > start and ingest and ingest_p99 < INGEST_P99_MS
    verdict = {
        f"before the exports ({len(alone)} batches) ingest p50 / p99 ms": (
            f"{p50(alone):.1f} / {percentile(alone, 0.99):.1f}" if alone else "-"
        ),
        "batches answered in the window": len(ingest),
        "batches without an answer in the window": sum(
            1 for s in window if s.endpoint == INGEST_ENDPOINT and not s.status
        ),
        "ingest p50 ms": f"{p50(ingest):.1f}" if ingest else "-",
        "ingest p99 ms": f"{ingest_p99:.1f}" if ingest else "-",
        f"target: ingest p99 < {INGEST_P99_MS:.0f} ms while every export streams": (
            "MET" if ok else "MISSED"
        ),
    }
    exported = _exported(args, exports, facts, (start, end))
    timed = [
        (round(s.started, 2), s.seconds * 1000) for s in window if s.endpoint == INGEST_ENDPOINT
    ]
    return {
        "recorder": recorder,
        "ledger": ledger,
        "load_seconds": facts["seconds"],
        "title": (
            f"== requests in flight while {args.exports} exports of every row streamed "
            f"({end - start:.1f}s of {facts['seconds']:.1f}s), gunicorn {describe_pools(*servers)}"
        ),
        "table": (window, max(end - start, 0.001)),
        "sections": [("exports", exported), ("ingest while every export streamed", verdict)],
        "notes": [],
        "ok": bool(ok),
        "json": {"exports": exported, "ingest": timed, "alone_ms": alone, "verdict": verdict},
    }
