#!/usr/bin/env python3
"""connlogs measured beside the anchor, on the same cluster, in the same run.

Reads the anchor's results-<N>.json (written by shared/anchor-bench/queries.py moments
before: its picked values, q strings and timings), then for every anchor case:

* the API answer time over HTTP against a real gunicorn process (p50/p95);
* the database time of connlogs' own page query and capped count: the SQL the view really
  sends, captured through Django (``CaptureQueriesContext`` around the real view), then timed
  with psycopg exactly as the anchor times its SQL (execute + fetchall, warm-ups, 15 runs);
* whether connlogs answers the same count and the same page rows as the anchor's SQL.

Then page 1 vs page 500 (offset and keyset ``after_id``), ingest through
``POST /api/v2/connectionlog/events`` in batches of 1000, and the NDJSON export's rate and the
server worker's memory. Prints one table, writes results-<N>.md / .json and the EXPLAIN
(ANALYZE, BUFFERS) plans to out/plans/<N>/.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ANCHOR_DIR = Path(os.environ.get("ANCHOR_DIR") or "/work/shared/anchor-bench")
PAGE_500_OFFSET = 499 * 100
INGEST_BATCH = 1000
WEB_TYPES = ("workspace_app", "port_forwarding", "tunnel")
# What --skip / --only name: the anchor's cases (captured SQL, DB timings), their API timings,
# page 1 vs 500, ingest, one retention batch, the NDJSON export.
PARTS = ("cases", "http", "paging", "ingest", "purge", "export")
AGENT_TYPES = ("ssh", "vscode", "jetbrains", "reconnecting_pty")
# The anchor's weak cases, where the brief asks for >= 10x (request DB time, page + count).
WEAK_CASES = (
    "username",
    "user_email",
    "workspace_owner_heaviest",
    "status_ongoing",
    "preset_active_ssh",
    "org_type_status",
    "no_filter_offset_10000",
)


def log(msg: str) -> None:
    print(f"[measure {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[max(0, -(-95 * len(s) // 100) - 1)]


def ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}×" if b > 0 else "-"


# ----------------------------------------------------------------------------- Django side


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def bench_tokens(auth_orgs: list[str]) -> dict[str, str]:
    """A site owner and an organization-auditor of the two authz orgs, each with a token."""
    from connlogs import roles, tokens
    from connlogs.models import ApiToken, Membership, User

    owner, _ = User.objects.update_or_create(
        username="bench-owner",
        defaults={
            "email": "bench-owner@bench.invalid",
            "site_roles": [roles.OWNER],
            "status": User.Status.ACTIVE,
        },
    )
    auditor, _ = User.objects.update_or_create(
        username="bench-auditor",
        defaults={
            "email": "bench-auditor@bench.invalid",
            "site_roles": [],
            "status": User.Status.ACTIVE,
        },
    )
    Membership.objects.filter(user=auditor).exclude(organization_id__in=auth_orgs).delete()
    for org_id in auth_orgs:
        Membership.objects.update_or_create(
            user=auditor,
            organization_id=org_id,
            defaults={"roles": [roles.ORGANIZATION_AUDITOR]},
        )
    ApiToken.objects.filter(user__in=[owner, auditor]).delete()
    return {
        "owner": tokens.issue(owner, name="bench"),
        "auditor": tokens.issue(auditor, name="bench"),
    }


def classify(sql: str) -> str:
    s = sql.lstrip()
    if "connlogs_connectionlog" not in sql:
        return "other"
    if s.upper().startswith("SELECT COUNT(*)"):
        return "count"
    if 'INNER JOIN "connlogs_organization"' in sql:
        return "page"
    return "log-other"


def capture(path: str, token: str) -> dict:
    """The SQL the real view sends for ``path`` (and its answer), via Django's test client."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, HTTP_CODER_SESSION_TOKEN=token)
    body = json.loads(response.content) if response.status_code == 200 else {}
    queries = [{"kind": classify(q["sql"]), "sql": q["sql"]} for q in ctx.captured_queries]
    found = {}
    for q in queries:
        found.setdefault(q["kind"], q["sql"])
    return {
        "status": response.status_code,
        "count": body.get("count"),
        "ids": [row["id"] for row in body.get("connection_logs", [])],
        "page_sql": found.get("page"),
        "count_sql": found.get("count"),
        "queries": len(queries),
        "all": queries,
        "error": None if response.status_code == 200 else response.content.decode()[:500],
    }


# ----------------------------------------------------------------------------- SQL timing


def run_timed(conn: psycopg.Connection, sql: str, warmup: int, runs: int) -> tuple[list, list]:
    rows: list = []
    samples = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        rows = conn.execute(sql).fetchall()
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            samples.append(elapsed)
    return samples, rows


def run_interleaved(queries: dict, warmup: int, runs: int) -> dict[str, list[float]]:
    """Time several (connection, sql) pairs round-robin; a None sql is skipped."""
    samples: dict[str, list[float]] = {name: [] for name, (_, sql) in queries.items() if sql}
    for i in range(warmup + runs):
        for name, (conn, sql) in queries.items():
            if not sql:
                continue
            t0 = time.perf_counter()
            conn.execute(sql).fetchall()
            elapsed = (time.perf_counter() - t0) * 1000
            if i >= warmup:
                samples[name].append(elapsed)
    return samples


def walk(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


def human(n: float) -> str:
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def plan_summary(plan_json, log_indexes: set[str]) -> str:
    top = plan_json[0]
    parts, sorts = [], []
    for node in walk(top["Plan"]):
        nt = node["Node Type"]
        if nt == "Sort" and node.get("Sort Method"):
            sorts.append(node["Sort Method"])
        rel, index = node.get("Relation Name"), node.get("Index Name", "")
        loops = node.get("Actual Loops", 1) or 0
        on_log = rel == "connlogs_connectionlog" or index in log_indexes
        if "Scan" not in nt or not (on_log or loops >= 1000):
            continue
        label = ("Parallel " if node.get("Parallel Aware") else "") + nt
        if index:
            label += f" using {index}"
        if rel and rel != "connlogs_connectionlog":
            label += f" on {rel} ×{human(loops)} loops"
        rows = node.get("Actual Rows", 0) * loops
        removed = (
            node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
        ) * loops
        detail = f"{human(rows)} rows" + (
            f", removed by filter {human(removed)}" if removed else ""
        )
        if node.get("Heap Fetches") is not None:
            detail += f", heap fetches {human(node['Heap Fetches'] * loops)}"
        parts.append(f"{label} ({detail})")
    root = top["Plan"]
    buffers = root.get("Shared Hit Blocks", 0) + root.get("Shared Read Blocks", 0)
    text = "; ".join(parts)
    if sorts:
        text += "; Sort: " + ", ".join(sorted(set(sorts)))
    text += f"; {human(buffers)} buffers"
    jit = (top.get("JIT") or {}).get("Timing", {}).get("Total")
    if jit:
        text += f"; JIT {jit:.0f} ms"
    return text


def explain(conn: psycopg.Connection, sql: str) -> tuple[str, list]:
    text = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall())
    as_json = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}").fetchone()[0]
    return text, as_json


# ----------------------------------------------------------------------------- HTTP


class Http:
    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)

    def request(self, method: str, path: str, token: str, body: bytes | None = None):
        headers = {"Coder-Session-Token": token}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1800)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        return response

    def get(self, path: str, token: str) -> tuple[int, bytes]:
        response = self.request("GET", path, token)
        return response.status, response.read()

    def timed_get(self, path: str, token: str, warmup: int, runs: int) -> list[float]:
        samples = []
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            status, body = self.get(path, token)
            elapsed = (time.perf_counter() - t0) * 1000
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
            if i >= warmup:
                samples.append(elapsed)
        return samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A gunicorn process serving the project against the bench database."""

    def __init__(self, database_url: str, log_path: Path, workers: int = 2):
        self.database_url, self.log_path, self.workers = database_url, log_path, workers
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        self.port = free_port()
        env = dict(
            os.environ,
            DATABASE_URL=self.database_url,
            SECRET_KEY="bench-only-secret",
            ALLOWED_HOSTS="127.0.0.1",
            CONN_MAX_AGE="600",
            LOG_LEVEL="WARNING",
            DEBUG="false",
        )
        env.pop("CONNLOGS_EVENT_LOG", None)
        self.proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "project.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "3600",
                "--chdir",
                str(ROOT),
            ],
            env=env,
            stdout=open(self.log_path, "a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                time.sleep(1.0)  # let every worker finish booting
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start; see " + str(self.log_path))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    pids.append(int(entry.name))
        return pids


def memory_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


# ----------------------------------------------------------------------------- ingest


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
        rng, events, still_open = self.rng, [], []
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
                events.append(event)
                self.open.append(
                    {k: event[k] for k in ("type", "workspace_id", "agent_name", "connection_id")}
                )
            else:
                events.append(
                    {
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
                )
        self.open = still_open + self.open
        return events


def ingest(port: int, token: str, bodies: list[bytes]) -> tuple[float, list[float], dict]:
    """POST every body on one connection; (seconds, per-batch ms, summed results)."""
    client = Http(port)
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    per_batch = []
    t0 = time.perf_counter()
    for body in bodies:
        t1 = time.perf_counter()
        response = client.request("POST", "/api/v2/connectionlog/events", token, body)
        answer = response.read()
        per_batch.append((time.perf_counter() - t1) * 1000)
        if response.status != 200:
            raise RuntimeError(f"events: {response.status} {answer[:500]!r}")
        for key, value in json.loads(answer).items():
            totals[key] += value
    return time.perf_counter() - t0, per_batch, totals


# ----------------------------------------------------------------------------- main


@dataclasses.dataclass
class Measured:
    case: str
    q: str
    path: str
    user: str
    matches: int
    anchor: dict
    api_ms: list = dataclasses.field(default_factory=list)
    page_ms: list = dataclasses.field(default_factory=list)
    count_ms: list = dataclasses.field(default_factory=list)
    # The anchor's page and capped-count SQL, re-timed interleaved with connlogs' own.
    anchor_page_ms: list = dataclasses.field(default_factory=list)
    anchor_count_ms: list = dataclasses.field(default_factory=list)
    captured: dict = dataclasses.field(default_factory=dict)
    page_plan: str = ""
    count_plan: str = ""
    same_count: bool | None = None
    same_rows: bool | None = None


def api_path(q: str, limit: int, offset: int = 0, after_id: str | None = None) -> str:
    from urllib.parse import urlencode

    params = {"q": q, "limit": limit}
    if offset:
        params["offset"] = offset
    if after_id:
        params["after_id"] = after_id
    return "/api/v2/connectionlog?" + urlencode(params)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--dsn", required=True, help="libpq DSN of the bench cluster (no dbname)")
    ap.add_argument("--anchor-results", required=True)
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--cases", help="comma-separated subset of the anchor's cases")
    ap.add_argument(
        "--ingest-batches", type=int, default=int(os.environ.get("BENCH_INGEST_BATCHES") or 40)
    )
    ap.add_argument(
        "--ingest-warmup",
        type=int,
        default=int(os.environ.get("BENCH_INGEST_WARMUP") or 30),
        help="batches of 1000 before the timed ingest runs (reported apart, see bench/README.md)",
    )
    ap.add_argument(
        "--export-q",
        default=os.environ.get("BENCH_EXPORT_Q", ""),
        help="q of the export measurement (default: everything)",
    )
    ap.add_argument(
        "--skip",
        default=os.environ.get("BENCH_SKIP", ""),
        help="comma-separated parts to skip: cases,http,paging,ingest,purge,export",
    )
    ap.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ""),
        help="comma-separated parts to run, skipping the others (e.g. ingest,export); the "
        "report then goes to results-<N>-<parts>.md/.json, beside the full run's",
    )
    args = ap.parse_args()
    runs = max(args.runs, 15)
    skip = set(filter(None, args.skip.split(",")))
    only = sorted(filter(None, args.only.split(",")))
    unknown = (set(only) | skip) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; known: {','.join(PARTS)}")
    if only:
        skip |= set(PARTS) - set(only)
    suffix = f"-{'-'.join(only)}" if only else ""
    out = Path(args.out)
    plan_dir = out / "plans" / str(args.n)
    plan_dir.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)

    anchor = json.loads(Path(args.anchor_results).read_text())
    values = anchor["values"]
    kv = dict(part.split("=", 1) for part in args.dsn.split())
    database_url = (
        f"postgres://{kv.get('user', 'postgres')}@{kv.get('host', '127.0.0.1')}:"
        f"{kv.get('port', '5432')}/connlogs_{args.n}"
    )
    setup_django(database_url)
    from django.db import connection as django_connection

    sys.path.insert(0, str(ANCHOR_DIR))
    import queries as anchor_queries  # the anchor's own SQL builders

    auth_orgs = [org[0] for org in values["org_auth_pair"]]
    tokens = bench_tokens(auth_orgs)
    with django_connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        app_jit = cursor.fetchone()[0]

    db = psycopg.connect(
        f"{args.dsn} dbname=connlogs_{args.n}", autocommit=True, prepare_threshold=None
    )
    anchor_db = psycopg.connect(
        f"{args.dsn} dbname=anchor_{args.n}", autocommit=True, prepare_threshold=None
    )
    # A previous run's ingest (rows deleted again) must not leave pages that index-only
    # scans have to visit: start from a vacuumed table, as the anchor's is.
    if not {"cases", "paging"} <= skip:
        db.execute("VACUUM (ANALYZE) connlogs_connectionlog")
    # Time connlogs' SQL under the session settings the app's own connections use.
    db.execute(f"SET jit = {app_jit}")
    log_indexes = {
        r[0]
        for r in db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'connlogs_connectionlog'"
        )
    }
    load_meta = db.execute("SELECT meta FROM bench_load").fetchone()[0]
    env = {
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "app_jit": app_jit,
        "only": ",".join(only),
    }

    # --- the anchor's cases ------------------------------------------------------------
    measured: list[Measured] = []
    wanted = set(args.cases.split(",")) if args.cases else None
    for r in anchor["results"]:
        if "cases" in skip or (wanted and r["case"] not in wanted):
            continue
        q = "" if r["q"].startswith("(") else r["q"]
        user = "auditor" if r["case"] == "authz_two_orgs" else "owner"
        m = Measured(r["case"], q, api_path(q, r["limit"], r["offset"]), user, r["matches"], r)
        m.captured = capture(m.path, tokens[user])
        if m.captured["status"] != 200:
            raise RuntimeError(f"{m.case}: {m.captured['error']}")
        m.same_count = m.captured["count"] == r["capped_count"]
        anchor_ids = [str(row[0]) for row in anchor_db.execute(r["sql"]["page"]).fetchall()]
        m.same_rows = set(anchor_ids) == set(m.captured["ids"])
        # Interleaved (anchor page, connlogs page, anchor count, connlogs count) rounds, so
        # the other sessions on this machine load both designs alike.
        timed = {
            "anchor_page_ms": (anchor_db, r["sql"]["page"]),
            "page_ms": (db, m.captured["page_sql"]),
            "anchor_count_ms": (anchor_db, r["sql"]["capped_count"]),
            "count_ms": (db, m.captured["count_sql"]),
        }
        for name, samples in run_interleaved(timed, args.warmup, runs).items():
            setattr(m, name, samples)
        for kind in ("page", "count"):
            sql = m.captured[f"{kind}_sql"]
            if sql is None:
                continue
            text, as_json = explain(db, sql)
            setattr(m, f"{kind}_plan", plan_summary(as_json, log_indexes))
            suffix = "" if kind == "page" else ".count"
            (plan_dir / f"{m.case}{suffix}.txt").write_text(
                f"-- case {m.case}: q = {q}\n-- GET {m.path}\n{sql};\n\n{text}\n"
            )
        measured.append(m)
        log(
            f"{m.case:26s} page {ms(p50(m.page_ms) if m.page_ms else None):>6} ms  "
            f"count {ms(p50(m.count_ms) if m.count_ms else None):>6} ms  "
            f"same count {m.same_count} rows {m.same_rows}"
        )

    server = Server(database_url, out / "logs" / f"gunicorn-{args.n}.log")
    server.start()
    extra: dict = {"env": env}
    try:
        client = Http(server.port)
        if "http" not in skip:
            for m in measured:
                # Warm-ups reach both gunicorn workers before timing starts.
                m.api_ms = client.timed_get(m.path, tokens[m.user], max(args.warmup, 4), runs)
                log(f"{m.case:26s} API p50 {ms(p50(m.api_ms))} ms p95 {ms(p95(m.api_ms))} ms")
        if "paging" not in skip:
            extra["paging"] = measure_paging(
                args,
                anchor,
                anchor_queries,
                anchor_db,
                db,
                client,
                tokens,
                log_indexes,
                plan_dir,
                runs,
            )
        if "ingest" not in skip:
            extra["ingest"] = measure_ingest(args, db, server, tokens)
        if "purge" not in skip:
            extra["purge"] = measure_purge(db)
        if "export" not in skip:
            extra["export"] = measure_export(args, server, tokens)
    finally:
        server.stop()
    env["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    server_facts = anchor_queries.server_facts(db)

    report = build_report(args.n, anchor, load_meta, measured, extra, server_facts)
    print(report["table"])
    (out / f"results-{args.n}{suffix}.md").write_text(report["markdown"])
    (out / f"results-{args.n}{suffix}.json").write_text(
        json.dumps(
            {
                "n": args.n,
                "env": env,
                "server": server_facts,
                "load": load_meta,
                "cases": [dataclasses.asdict(m) for m in measured],
                "extra": extra,
                "targets": report["targets"],
            },
            indent=1,
            default=str,
        )
    )
    log(f"wrote {out / f'results-{args.n}{suffix}.md'}")
    return 0


def measure_paging(
    args, anchor, anchor_queries, anchor_db, db, client, tokens, log_indexes, plan_dir, runs
) -> list[dict]:
    """Page 1 vs page 500 (100 rows a page): offset, keyset after_id, and the anchor's offset."""
    cases = {c.name: c for c in anchor_queries.build_cases(anchor["values"])}
    by_name = {r["case"]: r for r in anchor["results"]}
    rows = []
    for name in ("no_filter", "organization_big"):
        q = "" if by_name[name]["q"].startswith("(") else by_name[name]["q"]
        anchor_case = cases[name]
        filters_sql = (
            " AND ".join(f"({f.as_string(db)})".replace("cl.", "") for f in anchor_case.filters)
            or "true"
        )
        last_of_499 = db.execute(
            f"SELECT id FROM connlogs_connectionlog WHERE {filters_sql} "
            f"ORDER BY connect_time DESC, id DESC OFFSET {PAGE_500_OFFSET - 1} LIMIT 1"
        ).fetchone()
        if last_of_499 is None:  # a small data set: this filter has no page 500
            log(f"paging {name}: fewer than {PAGE_500_OFFSET + 1:,} rows, no page 500; skipped")
            continue
        cursor_id = str(last_of_499[0])
        variants = [
            ("page 1", api_path(q, 100)),
            ("page 500 offset", api_path(q, 100, offset=PAGE_500_OFFSET)),
            ("page 500 after_id", api_path(q, 100, after_id=cursor_id)),
        ]
        result = {"case": name, "q": q, "variants": []}
        first_ids = None
        for label, path in variants:
            captured = capture(path, tokens["owner"])
            page_ms, _ = run_timed(db, captured["page_sql"], args.warmup, runs)
            text, as_json = explain(db, captured["page_sql"])
            slug = f"{name}.{label.replace(' ', '_')}"
            (plan_dir / f"paging.{slug}.txt").write_text(
                f"-- GET {path}\n{captured['page_sql']};\n\n{text}\n"
            )
            api_ms = client.timed_get(path, tokens["owner"], args.warmup, runs)
            if label == "page 500 offset":
                first_ids = captured["ids"]
            same = None if label != "page 500 after_id" else captured["ids"] == first_ids
            result["variants"].append(
                {
                    "label": label,
                    "path": path,
                    "api_ms": api_ms,
                    "page_ms": page_ms,
                    "plan": plan_summary(as_json, log_indexes),
                    "same_rows_as_offset": same,
                }
            )
            log(f"paging {name} {label}: API p50 {ms(p50(api_ms))} DB p50 {ms(p50(page_ms))}")
        page500 = dataclasses.replace(anchor_case, limit=100, offset=PAGE_500_OFFSET)
        page1 = dataclasses.replace(anchor_case, limit=100, offset=0)
        for label, case in (("anchor page 1", page1), ("anchor page 500 offset", page500)):
            samples, _ = run_timed(
                anchor_db, case.page_sql().as_string(anchor_db), args.warmup, runs
            )
            result["variants"].append({"label": label, "page_ms": samples, "api_ms": []})
        rows.append(result)
    return rows


def measure_ingest(args, db, server: Server, tokens) -> dict:
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
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    result = {
        "batch_size": INGEST_BATCH,
        "batches": args.ingest_batches,
        "warmup_batches": args.ingest_warmup,
        "runs": [],
    }
    try:
        # Warm-up batches first, like the warm-ups of every other measurement, timed apart:
        # after the cluster starts (a checkpoint), the first write to each index page also
        # writes the whole page to the WAL. The random-UUID-led indexes put each row on other
        # pages, so the first ~20 batches write 15-18 MiB of WAL each, steady state ~3-5 MiB.
        warm = EventMaker(workspaces, users, seed=1)
        warm_bodies = [
            json.dumps({"events": warm.batch(INGEST_BATCH)}).encode()
            for _ in range(args.ingest_warmup)
        ]
        if warm_bodies:
            wal_before = db.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            seconds, _, _ = ingest(server.port, tokens["owner"], warm_bodies)
            wal = db.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [wal_before]
            ).fetchone()[0]
            result["warmup_events_per_s"] = INGEST_BATCH * len(warm_bodies) / seconds
            result["warmup_wal_mib_per_batch"] = float(wal) / 2**20 / len(warm_bodies)
            log(
                f"ingest warm-up x1: {result['warmup_events_per_s']:,.0f} events/s over "
                f"{len(warm_bodies)} batches, {result['warmup_wal_mib_per_batch']:.1f} MiB WAL "
                "a batch"
            )
        for streams in (1, 2):
            makers = [EventMaker(workspaces, users, seed=streams * 100 + i) for i in range(streams)]
            per_stream = [
                [
                    json.dumps({"events": maker.batch(INGEST_BATCH)}).encode()
                    for _ in range(args.ingest_batches // streams)
                ]
                for maker in makers
            ]
            client = Http(server.port)  # warm-up: one small batch per worker
            for _ in range(2):
                warm = EventMaker(workspaces, users, seed=7).batch(10)
                client.request(
                    "POST",
                    "/api/v2/connectionlog/events",
                    tokens["owner"],
                    json.dumps({"events": warm}).encode(),
                ).read()
            outcomes: list = [None] * streams

            def run_stream(i: int, bodies: list[bytes], into: list) -> None:
                into[i] = ingest(server.port, tokens["owner"], bodies)

            threads = [
                threading.Thread(target=run_stream, args=(i, per_stream[i], outcomes))
                for i in range(streams)
            ]
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
            result["runs"].append(run)
            log(
                f"ingest x{streams}: {run['events_per_s']:,.0f} events/s, batch p50 "
                f"{ms(run['batch_p50_ms'])} ms, {totals}"
            )
    finally:
        # Leave the dataset as loaded: the ingested rows all start after `started`.
        deleted = db.execute(
            "DELETE FROM connlogs_connectionlog WHERE connect_time >= %s", [started]
        ).rowcount
        db.execute("VACUUM (ANALYZE) connlogs_connectionlog")
        db.execute("VACUUM connlogs_connectionlog")  # second pass: visibility map set again
        result["cleaned_up_rows"] = deleted
    return result


def measure_purge(db: psycopg.Connection, batches: int = 5, size: int = 5000) -> dict:
    """What one retention batch costs: the SQL of ``retention.purge`` (the oldest ids past
    the cutoff, then DELETE them), each batch rolled back so the data stays as loaded."""
    past = db.execute(
        "SELECT connect_time FROM connlogs_connectionlog "
        "ORDER BY connect_time, id OFFSET 100000 LIMIT 1"
    ).fetchone()
    if past is None:  # a small data set: every row is past the cutoff
        past = db.execute(
            "SELECT max(connect_time) + interval '1 microsecond' FROM connlogs_connectionlog"
        ).fetchone()
    cutoff = past[0]
    samples = []
    for _ in range(batches):
        with db.transaction(force_rollback=True):
            t0 = time.perf_counter()
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM connlogs_connectionlog WHERE connect_time < %s "
                    "ORDER BY connect_time, id LIMIT %s",
                    [cutoff, size],
                )
            ]
            deleted = db.execute(
                "DELETE FROM connlogs_connectionlog WHERE id = ANY(%s)", [ids]
            ).rowcount
            samples.append((time.perf_counter() - t0) * 1000)
    result = {
        "batch_size": size,
        "deleted_per_batch": deleted,
        "batch_ms": samples,
        "rows_per_s": size / (p50(samples) / 1000),
    }
    log(f"purge: {ms(p50(samples))} ms per batch of {size} = {result['rows_per_s']:,.0f} rows/s")
    return result


def measure_export(args, server: Server, tokens) -> dict:
    from urllib.parse import urlencode

    # A fresh server, so the worker's peak memory is this export's.
    server.stop()
    server.start()
    client = Http(server.port)
    client.get("/api/v2/connectionlog?limit=1", tokens["owner"])
    client.get("/api/v2/connectionlog?limit=1", tokens["owner"])
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
    response = client.request("GET", path, tokens["owner"])
    sampler.start()
    first_byte = time.perf_counter() - t0
    nbytes = 0
    while True:
        chunk = response.read(1 << 20)
        if not chunk:
            break
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


# ----------------------------------------------------------------------------- report


def build_report(n, anchor, load_meta, measured, extra, server_facts) -> dict:
    lines, md, targets = [], [], []
    head = (
        f"{'case':26s} {'matches':>10s} | {'anchor page':>11s} {'anchor count':>12s} | "
        f"{'cl page':>8s} {'cl count':>8s} | {'page ×':>7s} {'count ×':>8s} {'request ×':>9s}"
        f" | {'API p50':>8s} {'API p95':>8s} | same"
    )
    if measured:
        lines.append(head)
        lines.append("-" * len(head))
    md.append(f"# connlogs vs the anchor (Coder's design), N = {n:,}\n")
    env = extra["env"]
    only = f" --only {env['only']}" if env.get("only") else ""
    md.append(
        f"Measured {env['started']} by `bench/run.sh --rows {n}{only}`, "
        + ("same cluster and run as the anchor" if not only else "on the anchor's cluster")
        + f". PostgreSQL {server_facts['server_version'].split()[0]}; "
        + ", ".join(f"{k}={v}" for k, v in server_facts.items() if k != "server_version")
        + f"; the app's connections run with jit={env['app_jit']}. Load average before/after: "
        f"{env['load_before']} / {env.get('load_after', '?')} (2 cores, shared).\n"
    )
    t = load_meta["timings_s"]
    md.append(
        f"**connlogs load:** COPY {t['copy_s']:.0f} s, indexes+FKs {t['index_fk_s']:.0f} s, "
        f"VACUUM ANALYZE {t['vacuum_analyze_s']:.0f} s. **Size:** heap "
        f"{load_meta['heap_bytes'] / 2**20:,.0f} MiB, indexes "
        f"{load_meta['indexes_bytes'] / 2**20:,.0f} MiB ("
        + ", ".join(f"{k} {v / 2**20:,.0f}" for k, v in load_meta["index_bytes"].items())
        + "). Anchor: heap "
        f"{anchor['meta']['heap_bytes'] / 2**20:,.0f} MiB, indexes "
        f"{anchor['meta']['indexes_bytes'] / 2**20:,.0f} MiB.\n"
    )
    if not measured:
        md.append(
            "Only these parts were measured (`--only`); the anchor's cases are in the full "
            "run's report.\n"
        )
    else:
        md.append(
            "All times are p50 milliseconds (p95 where said). *anchor page / count* = the "
            "anchor's page query and [V2] capped count, the exact SQL queries.py ran in this "
            "run (its own timings are in anchor/results-N.md); *cl page / count* = the SQL "
            "connlogs' view sends (captured through Django); both timed the anchor's way "
            "(psycopg execute + fetchall, TCP loopback, 2 warm-ups, 15 runs) in interleaved "
            "rounds, so load from other sessions hits both alike; × = anchor ÷ connlogs "
            "(request = page + count); *API* = "
            "`GET /api/v2/connectionlog` end to end over HTTP against gunicorn (2 sync "
            "workers), 15+ requests after warm-up; *same* = same capped count and same page "
            "rows as the anchor's SQL.\n"
        )
        md.append(
            "| case | q | matches | anchor page | anchor count | cl page | cl count | page × "
            "| count × | request × | API p50 | API p95 | same |"
        )
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for m in measured:
            a_page, a_count = p50(m.anchor_page_ms), p50(m.anchor_count_ms)
            c_page = p50(m.page_ms) if m.page_ms else 0.0
            c_count = p50(m.count_ms) if m.count_ms else 0.0
            api50 = p50(m.api_ms) if m.api_ms else None
            api95 = p95(m.api_ms) if m.api_ms else None
            if m.same_count and m.same_rows:
                same = "yes"
            else:
                same = f"count {'ok' if m.same_count else 'DIFFERS'}, "
                same += f"rows {'ok' if m.same_rows else 'DIFFER'}"
            lines.append(
                f"{m.case:26s} {m.matches:>10,} | {ms(a_page):>11s} {ms(a_count):>12s} | "
                f"{ms(c_page):>8s} {ms(c_count):>8s} | {ratio(a_page, c_page):>7s} "
                f"{ratio(a_count, c_count):>8s} {ratio(a_page + a_count, c_page + c_count):>9s} | "
                f"{ms(api50):>8s} {ms(api95):>8s} | {same}"
            )
            q = (
                f"`{m.q}`"
                if m.q
                else (
                    "(auditor of 2 orgs)"
                    if m.user == "auditor"
                    else ("(limit=25&offset=10000)" if "offset" in m.path else "(none)")
                )
            )
            md.append(
                f"| {m.case} | {q} | {m.matches:,} | {ms(a_page)} | {ms(a_count)} | "
                f"{ms(c_page)} | {ms(c_count)} | {ratio(a_page, c_page)} | "
                f"{ratio(a_count, c_count)} | {ratio(a_page + a_count, c_page + c_count)} | "
                f"{ms(api50)} | {ms(api95)} | {same} |"
            )

    # --- targets ----------------------------------------------------------------------
    def target(name: str, met: bool, detail: str) -> None:
        targets.append({"target": name, "met": met, "detail": detail})

    if measured:  # not with --only parts that leave the anchor's cases out
        slower = []
        for m in measured:
            for kind, ours, theirs in (
                ("page", m.page_ms, m.anchor_page_ms),
                ("count", m.count_ms, m.anchor_count_ms),
            ):
                if ours and theirs and p50(ours) > p50(theirs):
                    slower.append(f"{m.case} {kind} {ms(p50(ours))} vs {ms(p50(theirs))} ms")
        target(
            "DB time page and capped count <= anchor, every case",
            not slower,
            "all cases" if not slower else "slower: " + "; ".join(slower),
        )
        weak = []
        for m in measured:
            if m.case in WEAK_CASES:
                a = p50(m.anchor_page_ms) + p50(m.anchor_count_ms)
                c = (p50(m.page_ms) if m.page_ms else 0) + (p50(m.count_ms) if m.count_ms else 0)
                weak.append((m.case, a / c if c else float("inf"), a, c))
        target(
            "anchor's weak cases >= 10x faster (page + count)",
            all(w[1] >= 10 for w in weak),
            "; ".join(f"{c} {r:.0f}× ({ms(a)} → {ms(cc)} ms)" for c, r, a, cc in weak),
        )
        api = [(m.case, p50(m.api_ms)) for m in measured if m.api_ms]
        worst = max(api, key=lambda x: x[1]) if api else ("-", 0)
        target(
            "API page < 30 ms p50 end to end, every case",
            all(x[1] < 30 for x in api),
            f"slowest {worst[0]} {ms(worst[1])} ms"
            + (
                "; over: " + ", ".join(f"{c} {ms(v)}" for c, v in api if v >= 30)
                if any(v >= 30 for _, v in api)
                else ""
            ),
        )
        counts = [(m.case, p50(m.count_ms)) for m in measured if m.count_ms]
        worst_c = max(counts, key=lambda x: x[1]) if counts else ("-", 0)
        target(
            "capped count < 20 ms p50, every case",
            all(x[1] < 20 for x in counts),
            f"slowest {worst_c[0]} {ms(worst_c[1])} ms",
        )

        md.append("\n## Plans (connlogs)\n")
        md.append(
            "`EXPLAIN (ANALYZE, BUFFERS)` of the captured SQL, full text in "
            f"`bench/out/plans/{n}/`.\n"
        )
        md.append("| case | page plan | count plan |")
        md.append("|---|---|---|")
        for m in measured:
            md.append(f"| {m.case} | {m.page_plan} | {m.count_plan} |")

    paging = extra.get("paging")
    if paging:
        lines.append("")
        lines.append("Page 1 vs page 500 (100 rows a page; page 500 = offset 49,900)")
        md.append("\n## Page 1 vs page 500\n")
        md.append(
            "100 rows a page; page 500 skips 49,900 rows. *keyset* = `after_id` of the "
            "last row of page 499 (same rows as the offset page).\n"
        )
        md.append("| filter | variant | API p50 | API p95 | DB p50 | plan |")
        md.append("|---|---|---:|---:|---:|---|")
        for p in paging:
            v = {x["label"]: x for x in p["variants"]}
            for x in p["variants"]:
                api50 = p50(x["api_ms"]) if x["api_ms"] else None
                api95 = p95(x["api_ms"]) if x["api_ms"] else None
                lines.append(
                    f"  {p['case']:18s} {x['label']:24s} API {ms(api50):>6s} "
                    f"DB {ms(p50(x['page_ms'])):>6s}"
                )
                md.append(
                    f"| {p['case']} | {x['label']} | {ms(api50)} | {ms(api95)} | "
                    f"{ms(p50(x['page_ms']))} | {x.get('plan', '')} |"
                )
            one = p50(v["page 1"]["api_ms"])
            for label in ("page 500 after_id", "page 500 offset"):
                deep = p50(v[label]["api_ms"])
                target(
                    f"{p['case']}: {label} within 2x of page 1 (API p50)",
                    deep <= 2 * one,
                    f"{ms(deep)} vs {ms(one)} ms ({deep / one:.2f}×); DB "
                    f"{ms(p50(v[label]['page_ms']))} vs {ms(p50(v['page 1']['page_ms']))} ms; "
                    f"anchor offset page 500 {ms(p50(v['anchor page 500 offset']['page_ms']))}"
                    " ms",
                )
    ingest = extra.get("ingest")
    if ingest:
        lines.append("")
        md.append("\n## Ingest\n")
        md.append(
            f"`POST /api/v2/connectionlog/events`, batches of {ingest['batch_size']} "
            "(≈44% agent connects, 44% disconnects of the previous batch's sessions, 12% "
            f"web events), {ingest['batches']} batches per run; fsync on. The rows were "
            "deleted again afterwards.\n"
        )
        if ingest.get("warmup_events_per_s"):
            md.append(
                f"Before them, {ingest['warmup_batches']} warm-up batches from one client "
                f"(right after the cluster start): {ingest['warmup_events_per_s']:,.0f} "
                f"events/s, {ingest['warmup_wal_mib_per_batch']:.1f} MiB of WAL a batch (full-"
                "page images of every index page touched for the first time since the "
                "checkpoint).\n"
            )
            lines.append(
                f"Ingest warm-up x1 ({ingest['warmup_batches']} batches after the cluster "
                f"start): {ingest['warmup_events_per_s']:,.0f} events/s"
            )
        md.append(
            "| client streams | events | seconds | events/s | batch p50 | batch p95 | result |"
        )
        md.append("|---:|---:|---:|---:|---:|---:|---|")
        for run in ingest["runs"]:
            lines.append(
                f"Ingest x{run['concurrency']}: {run['events_per_s']:,.0f} events/s "
                f"(batch p50 {ms(run['batch_p50_ms'])} ms)"
            )
            md.append(
                f"| {run['concurrency']} | {run['events']:,} | {run['seconds']:.1f} | "
                f"{run['events_per_s']:,.0f} | {ms(run['batch_p50_ms'])} | "
                f"{ms(run['batch_p95_ms'])} | {run['result']} |"
            )
        best = max(r["events_per_s"] for r in ingest["runs"])
        one = ingest["runs"][0]["events_per_s"]
        target(
            ">= 20,000 events/s ingest, batches of 1000",
            best >= 20_000,
            f"{one:,.0f}/s one client, {best:,.0f}/s best",
        )
    purge = extra.get("purge")
    if purge:
        lines.append(
            f"Retention purge: {ms(p50(purge['batch_ms']))} ms per batch of "
            f"{purge['batch_size']} = {purge['rows_per_s']:,.0f} rows/s"
        )
        md.append("\n## Retention purge\n")
        md.append(
            f"One batch of `purge_connection_logs` (select the {purge['batch_size']:,} "
            "oldest ids past the cutoff, DELETE them), rolled back: p50 "
            f"{ms(p50(purge['batch_ms']))} ms = **{purge['rows_per_s']:,.0f} rows/s**.\n"
        )
    export = extra.get("export")
    if export:
        at = export["rss_at_progress_kib"]
        lines.append(
            f"Export: {export['rows']:,} rows in {export['seconds']:.1f}s = "
            f"{export['rows_per_s']:,.0f} rows/s (first byte after "
            f"{export['first_byte_s'] * 1000:.0f} ms); worker RSS "
            f"{export['rss_baseline_kib'] / 1024:.0f} MiB before, peak "
            f"{export['rss_peak_kib'] / 1024:.0f} MiB"
        )
        md.append("\n## Export\n")
        md.append(
            f"`GET {export['path']}` on a freshly started server; rows counted by the client.\n"
        )
        md.append(
            f"- {export['rows']:,} rows, {export['bytes'] / 2**20:,.0f} MiB in "
            f"{export['seconds']:.1f} s = **{export['rows_per_s']:,.0f} rows/s** "
            f"(first byte after {export['first_byte_s'] * 1000:.0f} ms)"
        )
        md.append(
            f"- worker RSS before {export['rss_baseline_kib'] / 1024:.0f} MiB; at "
            + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in at.items() if v)
            + f"; peak (VmHWM) {export['rss_peak_kib'] / 1024:.0f} MiB"
        )
        growth = export["rss_peak_kib"] - export["rss_baseline_kib"]
        late = [v for k, v in at.items() if v and k in ("25%", "100%")]
        flat = growth < 64 * 1024 and (len(late) < 2 or abs(late[1] - late[0]) < 16 * 1024)
        target(
            ">= 50,000 rows/s export with flat server memory",
            export["rows_per_s"] >= 50_000 and flat,
            f"{export['rows_per_s']:,.0f} rows/s; RSS +{growth / 1024:.0f} MiB over the "
            "export" + ("" if flat else " (not flat)"),
        )

    lines.append("")
    md.append("\n## Targets\n")
    for t in targets:
        mark = "MET " if t["met"] else "MISSED"
        lines.append(f"[{mark}] {t['target']}: {t['detail']}")
        md.append(f"- **{'met' if t['met'] else 'MISSED'}** — {t['target']}: {t['detail']}")
    return {"table": "\n".join(lines), "markdown": "\n".join(md) + "\n", "targets": targets}


if __name__ == "__main__":
    sys.exit(main())
