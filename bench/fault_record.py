"""What the load/fault run's clients saw: every request's endpoint, start, duration and
status, the contract checks on 503 answers, and their summaries (the per-endpoint table, the
outage's timeline)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from common import percentile

DB_UNAVAILABLE = "The database is unavailable; try again shortly."


@dataclass
class Sample:
    """One request as its client saw it."""

    endpoint: str
    started: float  # seconds since the load started
    seconds: float
    status: int  # 0: no HTTP answer (connection refused, reset, timeout, cut body)
    detail: str = ""


class Recorder:
    """Every client's samples (``started`` counts from ``origin``) and contract problems."""

    def __init__(self, origin: float):
        self.origin = origin
        self.samples: list[Sample] = []
        self.lock = threading.Lock()
        self.problems: list[str] = []

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def problem(self, text: str) -> None:
        with self.lock:
            if len(self.problems) < 200:
                self.problems.append(text)


def timed(recorder: Recorder, endpoint: str, call):
    """Run ``call()`` -> (status, detail); record the sample; return what call returned."""
    started = time.monotonic()
    try:
        status, detail, result = call()
    except (OSError, http.client.HTTPException) as error:
        status, detail, result = 0, type(error).__name__, None
    recorder.add(
        Sample(endpoint, started - recorder.origin, time.monotonic() - started, status, detail)
    )
    return status, result


def check_503(recorder: Recorder, endpoint: str, response, data: bytes) -> None:
    """A 503 must be the contract's error (JSON under /api/) with a Retry-After."""
    if response.status != 503:
        return
    if not response.getheader("Retry-After"):
        recorder.problem(f"{endpoint}: 503 without Retry-After")
    if endpoint.startswith(("POST /api", "GET /api")):
        try:
            body = json.loads(data)
        except ValueError:
            recorder.problem(f"{endpoint}: 503 body is not JSON: {data[:80]!r}")
            return
        if body != {"message": DB_UNAVAILABLE}:
            recorder.problem(f"{endpoint}: unexpected 503 body {body}")


def endpoint_table(samples: list[Sample], duration: float) -> tuple[str, dict]:
    """The per-endpoint table (requests, req/s, p50/p95/p99 ms, answers by kind) of
    ``samples`` taken over ``duration`` seconds, and its rows."""
    by_endpoint: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_endpoint[sample.endpoint].append(sample)
    lines = [
        f"{'endpoint':44} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'2xx/3xx':>7} {'4xx':>5} {'503':>5} {'5xx*':>5} {'no ans':>6}"
    ]
    totals: dict = {}
    for endpoint in sorted(by_endpoint):
        samples = by_endpoint[endpoint]
        answered = [s for s in samples if s.status and s.status != 503]
        latencies = [s.seconds * 1000 for s in answered]
        row = {
            "requests": len(samples),
            "rps": len(samples) / duration,
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "ok": sum(1 for s in samples if 200 <= s.status < 400),
            "4xx": sum(1 for s in samples if 400 <= s.status < 500),
            "503": sum(1 for s in samples if s.status == 503),
            "5xx_other": sum(1 for s in samples if s.status >= 500 and s.status != 503),
            "no_answer": sum(1 for s in samples if s.status == 0),
        }
        totals[endpoint] = row
        lines.append(
            f"{endpoint:44} {row['requests']:8d} {row['rps']:7.1f} {row['p50']:8.1f} "
            f"{row['p95']:8.1f} {row['p99']:8.1f} {row['ok']:7d} {row['4xx']:5d} {row['503']:5d} "
            f"{row['5xx_other']:5d} {row['no_answer']:6d}"
        )
    lines.append("(latencies of answered requests other than 503; 5xx* = 5xx other than 503)")
    return "\n".join(lines), totals


def outage_timeline(recorder: Recorder, down: float, up: float) -> dict:
    """When the 503s began and ended, and how soon health and ingest were back (seconds)."""
    during = [s for s in recorder.samples if down <= s.started <= up]
    after = sorted((s for s in recorder.samples if s.started > up), key=lambda s: s.started)
    statuses: dict[str, int] = defaultdict(int)
    for sample in during:
        statuses[str(sample.status)] += 1
    first_503 = min((s.started for s in recorder.samples if s.status == 503), default=None)
    last_503 = max(
        (s.started + s.seconds for s in recorder.samples if s.status == 503), default=None
    )
    health_back = next(
        (s.started for s in after if s.endpoint == "GET /healthz" and s.status == 200), None
    )
    events_back = next(
        (s.started for s in after if s.endpoint.startswith("POST") and s.status == 200), None
    )
    return {
        "stopped_at_s": round(down, 2),
        "started_at_s": round(up, 2),
        "answers_during_outage": dict(statuses),
        "first_503_at_s": round(first_503, 2) if first_503 is not None else None,
        "last_503_at_s": round(last_503, 2) if last_503 is not None else None,
        "healthz_ok_again_s_after_start": round(health_back - up, 2) if health_back else None,
        "events_ok_again_s_after_start": round(events_back - up, 2) if events_back else None,
    }
