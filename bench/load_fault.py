#!/usr/bin/env python3
"""Load and faults in one run: connlogs under gunicorn, PostgreSQL restarted mid-load.

    .venv/bin/python bench/load_fault.py [--duration 60] [--workers 4] [--restart-at 20]
                                         [--outage 5] [--restart-mode immediate|fast]

Run as root (the throwaway cluster runs as ``postgres`` via runuser). Everything listens on
127.0.0.1 only, on free ports (never 55433, the development cluster). Steps:

1. a throwaway PostgreSQL cluster (fsync on: a crash must not lose acknowledged events),
   ``migrate``, ``createcachetable``, demo data, the run's own organization and tokens
   (bench/load_fault_seed.py);
2. gunicorn with several sync workers, as in docs/deployment.md (persistent connections
   with health checks, sign-in counters shared through the database cache);
3. a sign-in throttling check across workers (the counters must be shared);
4. a mixed load for ``--duration`` seconds: writers posting event batches (new connections,
   disconnects, web events, deliberate repeats of acknowledged batches, and retries of a
   batch that did not get a 200, same body), readers searching the API with random filters,
   a page reader, an exporter (some exports abandoned half-way), a health prober;
5. in the middle, PostgreSQL is stopped (``immediate``: a crash) and started again after
   ``--outage`` seconds; every answer during the outage must be a 503 in the contract's
   error shape with Retry-After, never a 500, and the service must recover by itself;
6. the check: the rows in the database are exactly the acknowledged events (none lost,
   none doubled, nothing half-written), then the report (requests/s, p50/p95/p99, errors
   per endpoint; the outage's timeline).

Exit status 0 when every check passed. The parts live beside this script: fault_ledger.py
(writers, the ledger and the integrity check), fault_clients.py (readers, pages, exporter,
prober), fault_record.py (what the clients saw, the table and the outage's timeline).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import HOST, PY, ROOT, Cluster, Http, Server, app_env, logger
from fault_clients import ATTACKER, PAGE_CLIENT, Exporter, PageReader, Prober, Reader
from fault_ledger import Clock, Ledger, Writer, verify
from fault_record import Recorder, endpoint_table, outage_timeline

DATABASE = "connlogs"
say = logger("load_fault", sys.stdout)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (>= 60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--restart-at", type=float, default=20.0, help="seconds into the load")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL is down")
    parser.add_argument("--restart-mode", choices=["immediate", "fast"], default="immediate")
    parser.add_argument("--demo-rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    return parser.parse_args()


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def prepare(cluster: Cluster, demo_rows: int) -> tuple[dict[str, str], dict]:
    """Start the cluster, migrate, load demo data and the run's people: (app env, seed)."""
    say(f"cluster {cluster.root} on {HOST}:{cluster.port} (PostgreSQL {cluster.version}, fsync on)")
    cluster.init()
    cluster.start()
    cluster.psql(f"CREATE DATABASE {DATABASE}")
    env = app_env(
        cluster.url(DATABASE),
        clean=True,
        CONN_MAX_AGE="60",
        CONNLOGS_CACHE_TABLE="connlogs_cache",
        CONNLOGS_CLIENT_ADDRESS_HEADER="X-Forwarded-For",
    )
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "createcachetable")
    if demo_rows:
        say(f"demo data: {demo_rows} rows")
        manage(env, "demo", "--rows", str(demo_rows))
    seed = json.loads(subprocess.run(
        [PY, str(ROOT / "bench" / "load_fault_seed.py"), "20"], cwd=ROOT, env=env,
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1])  # fmt: skip
    return env, seed


def throttle_across_workers(port: int, seed: dict, failures: int) -> tuple[bool, str]:
    """Wrong passwords land on different workers; the lockout must count them all, and it
    must lock out that client only, not everybody behind the same proxy."""
    email = seed["throttle_user"]["email"]
    right = {"email": email, "password": seed["throttle_user"]["password"]}
    statuses = []
    for _ in range(failures):
        response, _ = Http(port).request(
            "POST", "/api/v2/users/login", {"email": email, "password": "wrong"}, ATTACKER
        )
        statuses.append(response.status)
    locked, _ = Http(port).request("POST", "/api/v2/users/login", right, ATTACKER)
    statuses.append(locked.status)
    other, _ = Http(port).request(
        "POST", "/api/v2/users/login", {**right, "email": seed["page_user"]["email"]}, PAGE_CLIENT
    )
    statuses.append(other.status)
    ok = (
        statuses[:failures] == [401] * failures
        and locked.status == 429
        and locked.getheader("Retry-After")
        and other.status == 201
    )
    return bool(ok), " ".join(map(str, statuses))


def run_load(args, cluster: Cluster, port: int, seed: dict) -> dict:
    """The mixed load with PostgreSQL's outage in the middle; what happened, for the report."""
    stop = threading.Event()
    origin = time.monotonic()
    recorder = Recorder(origin)
    ledger = Ledger()
    clock = Clock()
    writers = [
        Writer(i, port, seed, ledger, recorder, stop, clock, args.seed * 100 + i)
        for i in range(args.writers)
    ]
    readers = [
        Reader(i, port, seed, recorder, stop, args.seed * 200 + i) for i in range(args.readers)
    ]
    pages = PageReader(port, seed, recorder, stop, args.seed * 300)
    exporter = Exporter(port, seed, recorder, stop, args.seed * 400)
    prober = Prober(port, recorder, stop)
    threads = [*writers, *readers, pages, exporter, prober]
    say(
        f"load for {args.duration:.0f}s: {args.writers} writers, {args.readers} readers, "
        f"1 page reader, 1 exporter, 1 health prober; PostgreSQL {args.restart_mode} stop "
        f"at {args.restart_at:.0f}s for {args.outage:.0f}s"
    )
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, args.restart_at - (time.monotonic() - origin)))
    down = time.monotonic() - origin
    cluster.stop(args.restart_mode)
    stopped = time.monotonic() - origin
    say(f"PostgreSQL stopping ({args.restart_mode}) at {down:.1f}s, down at {stopped:.1f}s")
    time.sleep(args.outage)
    cluster.start()
    up = time.monotonic() - origin
    say(f"PostgreSQL started again at {up:.1f}s")
    time.sleep(max(0.0, args.duration - (time.monotonic() - origin)))
    stop.set()
    load_seconds = time.monotonic() - origin
    say("load stopped; writers finish the batches they started")
    for thread in threads:
        thread.join(timeout=120)
    return {
        "recorder": recorder,
        "ledger": ledger,
        "exporter": exporter,
        "load_seconds": load_seconds,
        "timeline": outage_timeline(recorder, down, up),
    }


def server_checks(cluster: Cluster, error_log: Path) -> dict:
    """What the server side left: its logged errors, connections left in a transaction."""
    leftover = cluster.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND state LIKE 'idle in transaction%'",
        DATABASE,
    )
    log_text = error_log.read_text(errors="replace") if error_log.exists() else ""
    kept = ROOT / "bench" / "out" / "load_fault"
    kept.mkdir(parents=True, exist_ok=True)
    (kept / "gunicorn.log").write_text(log_text)
    server_log = cluster.root / "log"
    (kept / "postgresql.log").write_text(
        server_log.read_text(errors="replace") if server_log.exists() else ""
    )
    # gunicorn's error records: "[date] [pid] [LEVEL] message" then any traceback lines.
    records = re.split(r"(?m)^(?=\[\d{4}-\d{2}-\d{2} )", log_text)
    failed = [record for record in records if "Traceback (most recent call last)" in record]
    return {
        "leftover": leftover,
        "failed": failed,
        # A stream cut by the outage can only end early (its 200 and headers are sent): the
        # server logs it. Any other traceback is a request that failed without an answer.
        "other_tracebacks": sum(1 for record in failed if "connlogs/export.py" not in record),
        "server_errors": len(re.findall(r"Internal Server Error", log_text)),
    }


def print_results(args, cluster, run, integrity, checks, throttled, statuses) -> bool:
    """Print the report; whether every check held."""
    table, totals = endpoint_table(run["recorder"], run["load_seconds"])
    exporter, timeline, failed = run["exporter"], run["timeline"], checks["failed"]
    errors_500 = sum(row["5xx_other"] for row in totals.values())
    tracebacks, other_tracebacks = len(failed), checks["other_tracebacks"]
    print()
    print(
        f"== load: {run['load_seconds']:.1f}s, gunicorn {args.workers} workers, "
        f"PostgreSQL on {HOST}:{cluster.port}"
    )
    print(table)
    print()
    print(f"== outage ({args.restart_mode} stop for {args.outage:.0f}s)")
    for key, value in timeline.items():
        print(f"  {key}: {value}")
    print()
    print("== integrity (database vs acknowledged events)")
    for key, value in integrity.items():
        print(f"  {key}: {value}")
    print()
    print("== exporter")
    print(
        f"  completed: {exporter.completed} ({exporter.lines} lines), abandoned on purpose: "
        f"{exporter.abandoned}, cut by the outage: {exporter.cut}"
    )
    print("== server")
    print(f"  sign-in throttle shared across workers: {throttled} ({statuses})")
    print(f"  answers 500 (or other 5xx but 503): {errors_500}")
    print(
        f"  'Internal Server Error' in the server log: {checks['server_errors']}; "
        f"tracebacks: {tracebacks} ({tracebacks - other_tracebacks} in streams cut by the "
        f"outage, {other_tracebacks} elsewhere)"
    )
    print(f"  idle-in-transaction connections left: {checks['leftover']}")
    problems = sorted(set(run["recorder"].problems))
    print(f"  contract problems seen by clients: {len(problems)}")
    for problem in problems[:20]:
        print(f"    - {problem}")
    passed = (
        integrity["exact"]
        and errors_500 == 0
        and checks["server_errors"] == 0
        and other_tracebacks == 0
        and not problems
        and throttled
        and checks["leftover"] == "0"
        and timeline["healthz_ok_again_s_after_start"] is not None
    )
    print()
    print(f"== {'PASSED' if passed else 'FAILED'}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"endpoints": totals, "outage": timeline, "integrity": integrity,
             "throttle": statuses, "errors_500": errors_500, "tracebacks": tracebacks,
             "load_seconds": run["load_seconds"], "passed": passed}, indent=2,
        ))  # fmt: skip
    if failed:
        print("\n== server log errors (first 3, last lines)")
        for record in failed[:3]:
            print("\n".join(record.strip().splitlines()[:1] + record.strip().splitlines()[-3:]))
    return passed


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the cluster is started as postgres with runuser")
    cluster = Cluster()
    server: Server | None = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        env, seed = prepare(cluster, args.demo_rows)
        error_log = cluster.root / "gunicorn.log"
        server = Server(env, error_log, workers=args.workers, timeout=60, app_output=False)
        server.start()
        say(f"gunicorn: {args.workers} sync workers on {HOST}:{server.port}")

        failures = 5
        throttled, statuses = throttle_across_workers(server.port, seed, failures)
        say(f"sign-in throttle across workers: {'ok' if throttled else 'FAILED'} ({statuses})")

        run = run_load(args, cluster, server.port, seed)
        integrity = verify(cluster, DATABASE, seed, run["ledger"])
        checks = server_checks(cluster, error_log)
        passed = print_results(args, cluster, run, integrity, checks, throttled, statuses)
        return 0 if passed else 1
    finally:
        if server is not None:
            server.stop()
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main())
