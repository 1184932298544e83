"""The anchor's SQL and connlogs' SQL, timed side by side on the same cluster.

For every anchor case: the SQL connlogs' view really sends (captured through Django around
the real view), timed with psycopg the way the anchor times its own (execute + fetchall over
TCP loopback, warm-ups, then runs) in interleaved rounds with the anchor's SQL, its
``EXPLAIN (ANALYZE, BUFFERS)``, and whether both answer the same count and rows. Then page 1
vs page 500 (offset, keyset ``after_id``, the anchor's offset) and one retention batch.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from common import logger, ms, p50

PAGE_500_OFFSET = 499 * 100
LOG_TABLE = "connlogs_connectionlog"

log = logger("measure")


@dataclasses.dataclass
class Measured:
    """One anchor case: connlogs' and the anchor's timings (ms), plans and answers."""

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
    params = {"q": q, "limit": limit}
    if offset:
        params["offset"] = offset
    if after_id:
        params["after_id"] = after_id
    return "/api/v2/connectionlog?" + urlencode(params)


def classify(sql: str) -> str:
    s = sql.lstrip()
    if LOG_TABLE not in sql:
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
    sent = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    reset_queries()
    with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(record):
        response = client.get(path, HTTP_CODER_SESSION_TOKEN=token)
    body = json.loads(response.content) if response.status_code == 200 else {}
    queries = [{"kind": classify(q["sql"]), "sql": q["sql"]} for q in ctx.captured_queries]
    found, statements = {}, {}
    for q in queries:
        found.setdefault(q["kind"], q["sql"])
    for statement in sent:
        statements.setdefault(classify(statement[0]), statement)
    return {
        "status": response.status_code,
        "count": body.get("count"),
        "ids": [row["id"] for row in body.get("connection_logs", [])],
        "page_sql": found.get("page"),
        "count_sql": found.get("count"),
        # As the app sends them: SQL with placeholders and its parameters, so a timing
        # binds and prepares them the way the app's connection does.
        "page_statement": statements.get("page"),
        "count_statement": statements.get("count"),
        "queries": len(queries),
        "all": queries,
        "error": None if response.status_code == 200 else response.content.decode()[:500],
    }


def connect_as_app(dsn: str) -> psycopg.Connection:
    """A connection to time the app's SQL on: it prepares a statement after as many runs as
    the app's connection does (``prepare_threshold`` of Django's OPTIONS; None: never)."""
    from django.db import connection

    threshold = connection.settings_dict["OPTIONS"].get("prepare_threshold")
    return psycopg.connect(dsn, autocommit=True, prepare_threshold=threshold)


def run_timed(conn: psycopg.Connection, sql, warmup: int, runs: int) -> list[float]:
    """``runs`` timings (ms) of ``sql`` (execute + fetchall) after ``warmup`` untimed ones."""
    return run_interleaved({"sql": (conn, sql)}, warmup, runs)["sql"]


def _timed(conn, statement) -> float:
    """One run of ``statement`` on ``conn``: execute and fetch everything, in ms."""
    sql, params = statement if isinstance(statement, tuple) else (statement, None)
    t0 = time.perf_counter()
    conn.execute(sql, params).fetchall()
    return (time.perf_counter() - t0) * 1000


def run_interleaved(queries: dict, warmup: int, runs: int) -> dict[str, list[float]]:
    """Time several (connection, statement) pairs round-robin; a None statement is skipped.

    A statement is literal SQL (the anchor's) or ``(sql, params)`` as the app sent it, bound
    by the server and prepared after the connection's ``prepare_threshold`` runs, as the
    app's connection does.
    """
    samples: dict[str, list[float]] = {name: [] for name, (_, sql) in queries.items() if sql}
    for i in range(warmup + runs):
        for name, (conn, statement) in queries.items():
            if statement:
                elapsed = _timed(conn, statement)
                if i >= warmup:
                    samples[name].append(elapsed)
    return samples


def run_blocks(queries: dict, warmup: int, runs: int) -> dict[str, list[float]]:
    """``run_interleaved``'s samples, each statement's runs back to back (``--timing
    blocks``). Round-robin, a statement waits for the others' runs: its backend sits idle
    for as long as the anchor's scans take (up to 2 s), and on this virtual machine a process
    that touches a large working set after sitting idle runs several times slower (a plain
    Python loop over 300 MB: 36 ms warm, 200 ms after a 1 s sleep; bench/README.md, "The
    anchor on a cluster of its own"). Back to back, each design is timed warm."""
    samples: dict[str, list[float]] = {}
    for name, (conn, statement) in queries.items():
        if statement:
            timings = [_timed(conn, statement) for _ in range(warmup + runs)]
            samples[name] = timings[warmup:]
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
    """One line per plan: the scans of the log table, rows, filter losses, sorts, buffers."""
    top = plan_json[0]
    parts, sorts = [], []
    for node in walk(top["Plan"]):
        nt = node["Node Type"]
        if nt == "Sort" and node.get("Sort Method"):
            sorts.append(node["Sort Method"])
        rel, index = node.get("Relation Name"), node.get("Index Name", "")
        loops = node.get("Actual Loops", 1) or 0
        on_log = rel == LOG_TABLE or index in log_indexes
        if "Scan" not in nt or not (on_log or loops >= 1000):
            continue
        label = ("Parallel " if node.get("Parallel Aware") else "") + nt
        if index:
            label += f" using {index}"
        if rel and rel != LOG_TABLE:
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


def measure_cases(args, anchor, tokens, db, anchor_db, log_indexes, plan_dir: Path, runs):
    """Every anchor case (``--cases`` narrows them): a list of ``Measured`` without API times."""
    measured: list[Measured] = []
    wanted = set(args.cases.split(",")) if args.cases else None
    for r in anchor["results"]:
        if wanted and r["case"] not in wanted:
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
        # the other sessions on this machine load both designs alike; or each statement's
        # runs back to back (``--timing blocks``, ``run_blocks``).
        timed = {
            "anchor_page_ms": (anchor_db, r["sql"]["page"]),
            "page_ms": (db, m.captured["page_statement"]),
            "anchor_count_ms": (anchor_db, r["sql"]["capped_count"]),
            "count_ms": (db, m.captured["count_statement"]),
        }
        timing = run_blocks if args.timing == "blocks" else run_interleaved
        for name, samples in timing(timed, args.warmup, runs).items():
            setattr(m, name, samples)
        for kind in ("page", "count"):
            sql = m.captured[f"{kind}_sql"]
            if sql is None:
                continue
            text, as_json = explain(db, sql)
            setattr(m, f"{kind}_plan", plan_summary(as_json, log_indexes))
            plan_name = m.case if kind == "page" else f"{m.case}.count"
            (plan_dir / f"{plan_name}.txt").write_text(
                f"-- case {m.case}: q = {q}\n-- GET {m.path}\n{sql};\n\n{text}\n"
            )
        measured.append(m)
        log(
            f"{m.case:26s} page {ms(p50(m.page_ms) if m.page_ms else None):>6} ms  "
            f"count {ms(p50(m.count_ms) if m.count_ms else None):>6} ms  "
            f"same count {m.same_count} rows {m.same_rows}"
        )
    return measured


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
            f"SELECT id FROM {LOG_TABLE} WHERE {filters_sql} "
            f"ORDER BY connect_time DESC, id DESC OFFSET {PAGE_500_OFFSET - 1} LIMIT 1"
        ).fetchone()
        if last_of_499 is None:  # a small data set: this filter has no page 500
            log(f"paging {name}: fewer than {PAGE_500_OFFSET + 1:,} rows, no page 500; skipped")
            continue
        variants = [
            ("page 1", api_path(q, 100)),
            ("page 500 offset", api_path(q, 100, offset=PAGE_500_OFFSET)),
            ("page 500 after_id", api_path(q, 100, after_id=str(last_of_499[0]))),
        ]
        result = {"case": name, "q": q, "variants": []}
        first_ids = None
        for label, path in variants:
            captured = capture(path, tokens["owner"])
            page_ms = run_timed(db, captured["page_statement"], args.warmup, runs)
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
            samples = run_timed(anchor_db, case.page_sql().as_string(anchor_db), args.warmup, runs)
            result["variants"].append({"label": label, "page_ms": samples, "api_ms": []})
        rows.append(result)
    return rows


def measure_purge(db: psycopg.Connection, batches: int = 5, size: int = 5000) -> dict:
    """What one retention batch costs: the SQL of ``retention.purge`` (the oldest ids past
    the cutoff, then DELETE them), each batch rolled back so the data stays as loaded."""
    past = db.execute(
        f"SELECT connect_time FROM {LOG_TABLE} ORDER BY connect_time, id OFFSET 100000 LIMIT 1"
    ).fetchone()
    if past is None:  # a small data set: every row is past the cutoff
        past = db.execute(
            f"SELECT max(connect_time) + interval '1 microsecond' FROM {LOG_TABLE}"
        ).fetchone()
    samples = []
    for _ in range(batches):
        with db.transaction(force_rollback=True):
            t0 = time.perf_counter()
            ids = [
                r[0]
                for r in db.execute(
                    f"SELECT id FROM {LOG_TABLE} WHERE connect_time < %s "
                    "ORDER BY connect_time, id LIMIT %s",
                    [past[0], size],
                )
            ]
            deleted = db.execute(f"DELETE FROM {LOG_TABLE} WHERE id = ANY(%s)", [ids]).rowcount
            samples.append((time.perf_counter() - t0) * 1000)
    result = {
        "batch_size": size,
        "deleted_per_batch": deleted,
        "batch_ms": samples,
        "rows_per_s": size / (p50(samples) / 1000),
    }
    log(f"purge: {ms(p50(samples))} ms per batch of {size} = {result['rows_per_s']:,.0f} rows/s")
    return result
