#!/usr/bin/env python3
"""Load and faults in one run: connlogs under gunicorn, PostgreSQL restarted mid-load.

    .venv/bin/python bench/load_fault.py [--duration 60] [--workers 4] [--restart-at 20]
                                         [--outage 5] [--restart-mode immediate|fast]
    .venv/bin/python bench/load_fault.py --drill exports [--exports 4] [--worker-class sync]

Run as root (the throwaway cluster runs as ``postgres`` via runuser). Everything listens on
127.0.0.1 only, on free ports (never 55433, the development cluster). Steps:

1. a throwaway PostgreSQL cluster (fsync on: a crash must not lose acknowledged events),
   ``migrate``, ``createcachetable``, demo data, the run's own organization and tokens
   (bench/load_fault_seed.py);
2. gunicorn with several workers as in docs/deployment.md (threaded; persistent connections
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

``--drill exports`` replaces steps 4-5: no outage; ``--exports`` downloads of every row
(1,000,000 demo rows) at once beside the same writers and readers, and the event batches'
p99 while they all stream must stay under 1 s (bench/export_drill.py).

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

from common import HOST, PY, ROOT, Cluster, Http, Server, app_env, describe_pools, logger
from export_drill import run_drill
from fault_clients import ATTACKER, PAGE_CLIENT, Exporter, make_clients
from fault_ledger import Ledger, verify
from fault_record import Recorder, endpoint_table, outage_timeline

DATABASE = "connlogs"
# gunicorn as docs/deployment.md runs it.
DEPLOYED = {
    "worker_class": "gthread",
    "threads": 8,
    "exports_pool": 1,  # workers: at most one core of Python for all exports
    "exports_threads": 4,
    "exports_nice": 10,
}
say = logger("load_fault", sys.stdout)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (>= 60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--worker-class",
        choices=["gthread", "sync"],
        default=DEPLOYED["worker_class"],
        help=f"gunicorn's (default {DEPLOYED['worker_class']}, as in docs/deployment.md)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"threads per gthread worker (default {DEPLOYED['threads']}, as documented)",
    )
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument(
        "--readers", type=int, help="API readers (default 4; 1 for --drill exports)"
    )
    parser.add_argument("--restart-at", type=float, default=20.0, help="seconds into the load")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL is down")
    parser.add_argument("--restart-mode", choices=["immediate", "fast"], default="immediate")
    parser.add_argument(
        "--demo-rows", type=int, help="demo rows (default 20,000; 1,000,000 for --drill exports)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    parser.add_argument(
        "--drill",
        choices=["fault", "exports"],
        default="fault",
        help="fault: the mixed load with PostgreSQL's outage (above); exports: --exports "
        "downloads of every row at once beside the same writers and readers, no outage, "
        "until the exports end; ingest p99 must stay under 1 s meanwhile (bench/export_drill.py)",
    )
    parser.add_argument("--exports", type=int, default=4, help="exports at once (--drill exports)")
    parser.add_argument(
        "--exports-pool",
        type=int,
        default=DEPLOYED["exports_pool"],
        help="workers of the separate gunicorn the proxy sends exports to, as documented "
        f"(default {DEPLOYED['exports_pool']}); 0: exports go to the main pool like the rest",
    )
    parser.add_argument(
        "--exports-nice",
        type=int,
        default=DEPLOYED["exports_nice"],
        help=f"the exports pool's CPU priority (nice; default {DEPLOYED['exports_nice']})",
    )
    args = parser.parse_args()
    if args.threads is None:
        args.threads = DEPLOYED["threads"] if args.worker_class == "gthread" else 1
    if args.demo_rows is None:
        args.demo_rows = 1_000_000 if args.drill == "exports" else 20_000
    if args.readers is None:
        # The fault drill's readers search without pause; beside four exports on two cores,
        # one such reader and the page reader stand for the people using the pages.
        args.readers = 1 if args.drill == "exports" else 4
    return args


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


def run_load(args, cluster: Cluster, server: Server, exports: Server, seed: dict) -> dict:
    """The mixed load with PostgreSQL's outage in the middle; what happened, for the report.
    The exporter downloads from ``exports`` (the exports pool, as the proxy routes)."""
    port = server.port
    stop = threading.Event()
    origin = time.monotonic()
    recorder = Recorder(origin)
    ledger = Ledger()
    clients = make_clients(args, port, seed, recorder, ledger, stop)
    exporter = Exporter(exports.port, seed, recorder, stop, args.seed * 400)
    threads = [*clients["writers"], *clients["others"], exporter]
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
    timeline = outage_timeline(recorder, down, up)
    return {
        "recorder": recorder,
        "ledger": ledger,
        "load_seconds": load_seconds,
        "title": (
            f"== load: {load_seconds:.1f}s, gunicorn {describe_pools(server, exports)}, "
            f"PostgreSQL on {HOST}:{cluster.port}"
        ),
        "table": (recorder.samples, load_seconds),
        "sections": [(f"outage ({args.restart_mode} stop for {args.outage:.0f}s)", timeline)],
        "notes": [
            "== exporter",
            f"  completed: {exporter.completed} ({exporter.lines} lines), abandoned on purpose: "
            f"{exporter.abandoned}, cut by the outage: {exporter.cut}",
        ],
        "ok": timeline["healthz_ok_again_s_after_start"] is not None,
        "json": {"outage": timeline},
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


def print_results(args, run, integrity, checks, throttled, statuses) -> bool:
    """Print the report; whether every check held."""
    table, totals = endpoint_table(*run["table"])
    failed = checks["failed"]
    errors_500 = sum(row["5xx_other"] for row in totals.values())
    tracebacks, other_tracebacks = len(failed), checks["other_tracebacks"]
    print()
    print(run["title"])
    print(table)
    for title, items in run["sections"]:
        print()
        print(f"== {title}")
        for key, value in items.items():
            print(f"  {key}: {value}")
    print()
    print("== integrity (database vs acknowledged events)")
    for key, value in integrity.items():
        print(f"  {key}: {value}")
    print()
    for line in run["notes"]:
        print(line)
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
        and run["ok"]
    )
    print()
    print(f"== {'PASSED' if passed else 'FAILED'}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"endpoints": totals, **run["json"], "integrity": integrity,
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
    servers: list[Server] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        env, seed = prepare(cluster, args.demo_rows)
        error_log = cluster.root / "gunicorn.log"
        pools = {
            "main": (args.workers, args.threads, 0),
            "exports": (args.exports_pool, min(args.threads, DEPLOYED["exports_threads"]),
                        args.exports_nice),
        }  # fmt: skip
        for name, (workers, threads, nice) in pools.items():
            if not workers:
                continue
            servers.append(Server(
                env, error_log, workers=workers, worker_class=args.worker_class,
                threads=threads, timeout=60 if args.drill == "fault" else 3600,
                app_output=False, nice=nice,
            ))  # fmt: skip
            servers[-1].start()
            say(f"gunicorn ({name}): {servers[-1].describe()} on {HOST}:{servers[-1].port}")
        server, exports_server = servers[0], servers[-1]

        failures = 5
        throttled, statuses = throttle_across_workers(server.port, seed, failures)
        say(f"sign-in throttle across workers: {'ok' if throttled else 'FAILED'} ({statuses})")

        if args.drill == "exports":
            count = "SELECT count(*) FROM connlogs_connectionlog"
            run = run_drill(
                args, server, exports_server, seed, lambda: int(cluster.psql(count, DATABASE))
            )
        else:
            run = run_load(args, cluster, server, exports_server, seed)
        integrity = verify(cluster, DATABASE, seed, run["ledger"])
        checks = server_checks(cluster, error_log)
        passed = print_results(args, run, integrity, checks, throttled, statuses)
        return 0 if passed else 1
    finally:
        for server in servers:
            server.stop()
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main())
