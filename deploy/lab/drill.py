#!/usr/bin/env python3
"""The failure drill: a bounded mixed load through the lab's nginx while its parts fail.

    deploy/lab/up.sh && .venv/bin/python deploy/lab/drill.py [--short]; deploy/lab/down.sh

The load is bench/load_fault.py's clients (bench/fault_ledger.py's writers posting event
batches with an Idempotency-Key and retrying until a 200; bench/fault_clients.py's API
readers, page reader, exporter and health prober), sent over TLS through nginx. First a
read-your-writes check (below), then one phase per fault, each its own stretch of load:

1. ``app server killed``: app-1's process group gets SIGKILL, and starts again;
2. ``replica stopped``: the replica stops (fast), and starts again;
3. ``PgBouncer restarted``: the primary's PgBouncer stops (SIGTERM, in-flight transactions
   cut) and starts again at once;
4. ``primary crashed``: the primary stops with ``pg_ctl -m immediate``, and starts again.

After each phase the load stops, writers see their last batch through, and the database is
compared with every event acknowledged so far: equal, none twice. The table per phase:
requests, answers other than 2xx/3xx by status, p50/p99 of answered requests, how long
clients saw errors after the fault, how long after the restart events were accepted again,
events acknowledged vs stored. For the replica phase, when reads left the replica and came
back (from /healthz).

Read-your-writes: the replica is made to lag (``recovery_min_apply_delay``); a client that
reads and writes posts a new connection and at once searches for it (it must be there);
another client searching at the same moment must not see it yet (the replica is really
serving reads). Exit status 0 when every check held.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "bench"))

import parts  # noqa: E402
from common import HOST, Http, logger, percentile, use_connection  # noqa: E402
from fault_clients import Exporter, PageReader, Prober, Reader  # noqa: E402
from fault_ledger import Clock, Ledger, Writer, verify  # noqa: E402
from fault_record import Recorder  # noqa: E402

_UNVERIFIED = ssl._create_unverified_context()  # the lab's self-signed certificate


class _BrowserLikeConnection(http.client.HTTPSConnection):
    """HTTPS as a browser sends it: a form post names its origin (Django's CSRF check
    requires a same-origin Referer on HTTPS)."""

    def request(self, method, url, body=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if method == "POST":
            origin = f"https://{self.host}:{self.port}"
            headers.setdefault("Origin", origin)
            headers.setdefault("Referer", origin + url)
        super().request(method, url, body=body, headers=headers, **kwargs)


def _tls_connection(host, port, timeout=30):
    return _BrowserLikeConnection(host, port, timeout=timeout, context=_UNVERIFIED)


# The shared load's clients speak HTTPS here.
use_connection(_tls_connection)
say = logger("drill", sys.stdout)


class Primary:
    """What ``fault_ledger.verify`` reads the database through: psql on the primary itself."""

    def __init__(self, state: dict):
        self.state = state

    def psql(self, sql: str, database: str) -> str:
        return parts.psql(self.state, sql, "primary", database)


class ReadsWatcher(threading.Thread):
    """Where each app server sends connection-log reads, from its /healthz, 4 times a second."""

    def __init__(self, state: dict, origin: float, stop: threading.Event):
        super().__init__(name="reads-watcher", daemon=True)
        self.ports = [state["ports"][app] for app in parts.APPS]
        self.origin, self.stop = origin, stop
        self.seen: list[tuple[float, int, str]] = []  # (seconds, port, "replica"/"primary")

    def run(self) -> None:
        while not self.stop.is_set():
            for port in self.ports:
                try:
                    conn = http.client.HTTPConnection(HOST, port, timeout=2)
                    conn.request("GET", "/healthz")
                    response = conn.getresponse()
                    data = json.loads(response.read())
                    conn.close()
                    reads = data.get("replica", {}).get("reads", "primary")
                except (OSError, ValueError, http.client.HTTPException):
                    continue
                self.seen.append((time.monotonic() - self.origin, port, reads))
            time.sleep(0.25)

    def first(self, after: float, reads: str) -> float | None:
        """Seconds after ``after`` until every server answering reported ``reads``."""
        latest: dict[int, str] = {}
        for seconds, port, where in self.seen:
            latest[port] = where
            if seconds >= after and latest and all(v == reads for v in latest.values()):
                return round(seconds - after, 2)
        return None


def seed(state: dict) -> dict:
    """The load's people and places (bench/load_fault_seed.py) and a client that both
    writes and reads, with a workspace of its own, for the read-your-writes check."""
    env = parts.app_env(state, direct=True)
    python = str(parts.VENV_BIN / "python")
    out = subprocess.run(
        [python, str(parts.ROOT / "bench" / "load_fault_seed.py"), "20"], cwd=parts.ROOT, env=env,
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    data = json.loads(out.stdout.strip().splitlines()[-1])
    code = (
        "from connlogs import roles, tokens; from connlogs.models import *; import json;"
        "o = Organization.objects.get(name='loadtest');"
        "u = User.objects.filter(username='lab-rw').first() or User.objects.create_user("
        "'lab-rw', 'lab-rw@loadtest.example', None, site_roles=[roles.AUDITOR, "
        "roles.CONNECTION_REPORTER]);"
        "w, _ = Workspace.objects.get_or_create(organization=o, owner=u, name='ryw');"
        "print(json.dumps({'token': tokens.issue(u, name='drill'), 'workspace': str(w.id)}))"
    )
    out = subprocess.run(
        [python, "manage.py", "shell", "-c", code], cwd=parts.ROOT, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    data["rw"] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def read_your_writes(state: dict, data: dict, clock: Clock, tries: int) -> dict:
    """Own writes seen at once while the replica lags 2 s; others' not yet."""
    parts.psql(state, "ALTER SYSTEM SET recovery_min_apply_delay = '2s'", "replica", "postgres")
    parts.psql(state, "SELECT pg_reload_conf()", "replica", "postgres")
    port, space = state["ports"]["nginx"], data["rw"]["workspace"]
    writer, other = Http(port), Http(port)
    own_seen = others_seen = 0
    warm_up = 10
    query = "/api/v2/connectionlog?" + urllib.parse.urlencode(
        {"q": f"workspace_id:{space}", "limit": 100}
    )
    try:
        # Writes for 3 s first, so that the replica's measured lag is its steady 2 s.
        for _ in range(tries + 10):
            cid = str(uuid.uuid4())
            event = {"action": "connect", "time": clock.tick(), "type": "ssh",
                     "workspace_id": space, "agent_name": "main", "connection_id": cid}  # fmt: skip
            headers = {"Coder-Session-Token": data["rw"]["token"]}
            response, body = writer.request(
                "POST", "/api/v2/connectionlog/events", {"events": [event]},
                {**headers, "Idempotency-Key": cid},
            )  # fmt: skip
            if response.status != 200:
                raise SystemExit(f"read-your-writes: the write answered {response.status}: {body}")
            _, seen_by_writer = writer.request("GET", query, headers=headers)
            _, seen_by_other = other.request(
                "GET", query, headers={"Coder-Session-Token": data["tokens"]["auditor"]}
            )
            if warm_up:
                warm_up -= 1
                time.sleep(0.3)
                continue
            own_seen += cid.encode() in seen_by_writer
            others_seen += cid.encode() in seen_by_other
            time.sleep(0.3)
    finally:
        parts.psql(state, "ALTER SYSTEM RESET recovery_min_apply_delay", "replica", "postgres")
        parts.psql(state, "SELECT pg_reload_conf()", "replica", "postgres")
    return {
        "tries": tries,
        "own_write_seen_at_once": own_seen,
        "seen_at_once_by_another": others_seen,
        "passed": own_seen == tries and others_seen <= tries // 2,
    }


def restart_bouncer(state: dict) -> None:
    parts.stop(state, "bouncer-primary")
    parts.start(state, "bouncer-primary")


PHASES = [
    ("app server killed", lambda s: parts.stop(s, "app-1", "kill"),
     lambda s: parts.start(s, "app-1")),
    ("replica stopped", lambda s: parts.stop(s, "replica"), lambda s: parts.start(s, "replica")),
    ("PgBouncer restarted", restart_bouncer, None),
    ("primary crashed", lambda s: parts.stop(s, "primary", "immediate"),
     lambda s: parts.start(s, "primary")),
]  # fmt: skip


def events_in(verified: dict) -> tuple[int, int, int]:
    """(acknowledged, stored, doubled) events from ``fault_ledger.verify``'s answer."""
    acknowledged = (
        verified["expected_agent_rows"] + verified["expected_disconnects"]
        + verified["expected_web_rows"]
    )  # fmt: skip
    stored = (
        verified["agent_rows_found"]
        + verified["expected_disconnects"] - verified["lost_or_wrong_disconnects"]
        + verified["web_rows_found"]
    )  # fmt: skip
    doubled = (
        verified["doubled_connections"] + verified["doubled_web_events"]
        + verified["web_events_doubled_by_a_retry_after_a_lost_answer"]
    )  # fmt: skip
    return acknowledged, stored, doubled


def run_phase(state, data, ledger, clock, name, fault, restore, args) -> dict:
    port = state["ports"]["nginx"]
    stop = threading.Event()
    origin = time.monotonic()
    recorder = Recorder(origin)
    rng = int(origin)
    threads = [
        *(Writer(i, port, data, ledger, recorder, stop, clock, rng + i) for i in range(2)),
        *(Reader(i, port, data, recorder, stop, rng + 10 + i) for i in range(2)),
        PageReader(port, data, recorder, stop, rng + 20),
        Exporter(port, data, recorder, stop, rng + 30),
        Prober(port, recorder, stop),
    ]
    watcher = ReadsWatcher(state, origin, stop)
    for thread in [*threads, watcher]:
        thread.start()
    time.sleep(args.lead)
    fault_at = time.monotonic() - origin
    say(f"{name}: fault at {fault_at:.1f}s")
    fault(state)
    fault_done = time.monotonic() - origin
    if restore is not None:
        time.sleep(args.outage)
        restore(state)
    restored_at = time.monotonic() - origin
    say(f"{name}: restored at {restored_at:.1f}s")
    # At least half a phase of load after the restart, to see the service recovered.
    time.sleep(max(args.phase - (time.monotonic() - origin), args.phase / 2))
    stop.set()
    for thread in [*threads, watcher]:
        thread.join(timeout=120)

    samples = recorder.samples
    # Requests the killed server was serving when it died: answered by nobody (a cut stream,
    # or nginx's 502 for a request it may not resend). Every other 5xx but 503 is a failure.
    in_flight = [
        s for s in samples if s.started <= fault_done and s.started + s.seconds >= fault_at
        and (s.status == 0 or s.status == 502) and "killed" in name
    ]  # fmt: skip
    failed = [s for s in samples if s.status == 0 or s.status >= 500]
    statuses = Counter(str(s.status or "no answer") for s in samples if not 200 <= s.status < 400)
    timed = [s.seconds * 1000 for s in samples
             if s.status and s.status != 503 and "export" not in s.endpoint]  # fmt: skip
    after_fault = [s for s in failed if s.started + s.seconds >= fault_at]
    events_back = next(
        (s.started - restored_at for s in sorted(samples, key=lambda s: s.started)
         if s.started >= restored_at and s.endpoint.startswith("POST") and s.status == 200),
        None,
    )  # fmt: skip
    verified = verify(Primary(state), parts.DATABASE, data, ledger)
    acknowledged, stored, doubled = events_in(verified)
    row = {
        "phase": name,
        "requests": len(samples),
        "errors": dict(statuses),
        "errors_5xx_not_503": sum(
            1 for s in samples if s.status >= 500 and s.status != 503 and s not in in_flight
        ),
        "cut_in_flight": len(in_flight),
        # Which requests failed, so that a failing drill names them (at most 10).
        "failures": [
            f"{s.endpoint} -> {s.status} at {s.started:.2f}s ({s.detail})"
            for s in samples
            if s.status >= 500 and s.status != 503 and s not in in_flight
        ][:10],
        "p50_ms": percentile(timed, 0.5),
        "p99_ms": percentile(timed, 0.99),
        "errors_for_s": round(max(s.started + s.seconds for s in after_fault) - fault_at, 2)
        if after_fault
        else 0.0,
        "events_ok_after_restore_s": round(events_back, 2) if events_back is not None else None,
        "acknowledged": acknowledged,
        "stored": stored,
        "doubled": doubled,
        "exact": verified["exact"],
        "problems": sorted(
            p for p in set(recorder.problems) if not (in_flight and "HTTP 502" in p)
        )[:10],
    }
    if name == "replica stopped":
        row["reads_to_primary_after_s"] = watcher.first(fault_at, "primary")
        row["reads_back_on_replica_after_restart_s"] = watcher.first(restored_at, "replica")
    return row


def table(rows: list[dict]) -> str:
    lines = [
        f"{'phase':20} {'requests':>8} {'errors by status':24} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors for':>10} {'events ok':>9} {'acked':>7} {'stored':>7} {'doubled':>7}",
        f"{'':20} {'':>8} {'':24} {'':>7} {'':>7} {'(s)':>10} {'after (s)':>9}",
    ]
    for row in rows:
        errors = " ".join(f"{k}:{v}" for k, v in sorted(row["errors"].items())) or "none"
        back = row["events_ok_after_restore_s"]
        lines.append(
            f"{row['phase']:20} {row['requests']:8d} {errors:24} {row['p50_ms']:7.1f} "
            f"{row['p99_ms']:7.1f} {row['errors_for_s']:10.2f} "
            f"{'-' if back is None else f'{back:.2f}':>9} {row['acknowledged']:7d} "
            f"{row['stored']:7d} {row['doubled']:7d}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="CI: 20 s phases (about 2.5 min)")
    parser.add_argument("--phase", type=float, default=60.0, help="seconds of load per phase")
    parser.add_argument("--lead", type=float, default=None, help="seconds before the fault")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds a part stays down")
    parser.add_argument("--ryw-tries", type=int, default=10)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.short:
        args.phase, args.outage, args.ryw_tries = 20.0, 3.0, 5
    args.lead = args.lead if args.lead is not None else args.phase / 4
    state = parts.load_state()
    if not state:
        raise SystemExit("no lab is up: run deploy/lab/up.sh first")
    data = seed(state)
    ledger, clock = Ledger(), Clock()
    ryw = read_your_writes(state, data, clock, args.ryw_tries)
    say(f"read-your-writes: {ryw}")
    rows = []
    for name, fault, restore in PHASES:
        rows.append(run_phase(state, data, ledger, clock, name, fault, restore, args))
        say(f"{name}: {json.dumps(rows[-1])}")

    print()
    print(f"== drill: {len(PHASES)} phases of {args.phase:.0f}s through nginx (TLS), "
          f"parts down for {args.outage:.0f}s")  # fmt: skip
    print(table(rows))
    print("(errors for: from the fault until the last failed answer; events ok after: from the")
    print(" restart until the first acknowledged batch; acked/stored: all events so far)")
    for row in rows:
        if row["cut_in_flight"]:
            print(f"{row['phase']}: {row['cut_in_flight']} requests in flight on the killed "
                  "server were cut (no answer or 502; writers resent their batches)")  # fmt: skip
        if "reads_to_primary_after_s" in row:
            print(
                f"replica stopped: reads went to the primary after "
                f"{row['reads_to_primary_after_s']} s; back on the replica "
                f"{row['reads_back_on_replica_after_restart_s']} s after its restart"
            )
        for problem in row["problems"]:
            print(f"  {row['phase']}: {problem}")
        for failure in row["failures"]:
            print(f"  {row['phase']}: failed: {failure}")
    print(f"read-your-writes ({ryw['tries']} tries, replica 2 s behind): own write seen at "
          f"once {ryw['own_write_seen_at_once']}/{ryw['tries']}, by another client "
          f"{ryw['seen_at_once_by_another']}/{ryw['tries']}")  # fmt: skip
    passed = ryw["passed"] and all(
        row["exact"] and row["errors_5xx_not_503"] == 0 and row["acknowledged"] == row["stored"]
        and not row["doubled"] and not row["problems"] for row in rows
    )  # fmt: skip
    print(f"== {'PASSED' if passed else 'FAILED'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"phases": rows, "ryw": ryw, "passed": passed}))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
