#!/usr/bin/env python3
"""The search language's own keys and forms, timed on the bench database (``run.sh`` part
``search``).

For every case below (values picked from the loaded data, so they exist at any N): the SQL
connlogs' view really sends for ``GET /api/v2/connectionlog?q=…&limit=100`` (captured through
Django, as ``measure.py`` does for the anchor's cases), the page query and the capped count
each timed with psycopg (2 warm-ups, 15 runs, p50/p95, the app's ``jit`` setting), and their
``EXPLAIN (ANALYZE, BUFFERS)`` written to ``out/plans/<N>/search_<case>[.count].txt``. Prints
one table and writes ``out/search-<N>.md`` / ``.json``. The target: page and capped count
each <= 20 ms p50 DB time.

    bench/search_cases.py --n 1000000 --dsn "host=127.0.0.1 port=55434 user=postgres"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from urllib.parse import urlencode

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import bench_tokens, ms, p50, p95, setup_django  # noqa: E402  (the bench's own)
from sql_timing import (  # noqa: E402
    capture,
    connect_as_app,
    explain,
    log,
    plan_summary,
    run_interleaved,
)

TARGET_MS = 20.0
LOG = "connlogs_connectionlog"


def one(db: psycopg.Connection, sql: str, *params):
    row = db.execute(sql, params).fetchone()
    return row[0] if row and len(row) == 1 else row


def pick_values(db: psycopg.Connection, n: int) -> dict:
    """Values that exist in the loaded data, chosen the same way at every N."""
    recent = f"(SELECT * FROM {LOG} ORDER BY connect_time DESC, id DESC LIMIT 100000) AS recent"
    newest = one(db, f"SELECT max(connect_time) FROM {LOG}")
    # The last weekday two days or more before the newest row: a whole, busy day.
    day = (newest - dt.timedelta(days=2)).date()
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    owner, name = one(
        db,
        f"SELECT u.username, recent.workspace_name FROM {recent} "
        "JOIN connlogs_user u ON u.id = recent.workspace_owner_id "
        "GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1",
    )
    # A workspace name shared by several workspaces, on ~0.3% of the rows.
    shared_name = one(
        db,
        f"SELECT workspace_name FROM {recent} GROUP BY 1 ORDER BY abs(count(*) - 300), 1 LIMIT 1",
    )
    # Users who own ~0.005% of the rows each (50 at 1M, 500 at 10M) and whose username is in
    # no other username: one selective word. The first, without the last condition, may
    # also name look-alikes (dana-tanaka2, …): a word of a few thousand rows at 10M.
    sample = max(n // 200_000, 1)
    owners = (
        f"SELECT u.username FROM {LOG} AS s TABLESAMPLE SYSTEM (10) REPEATABLE (42) "
        "JOIN connlogs_user u ON u.id = s.workspace_owner_id {where} GROUP BY 1 "
        f"ORDER BY abs(count(*) - {sample}), 1 LIMIT 2"
    )
    alone = (
        "WHERE NOT EXISTS (SELECT 1 FROM connlogs_user o WHERE o.id <> u.id "
        "AND strpos(o.username, u.username) > 0)"
    )
    person, other = (r[0] for r in db.execute(owners.format(where=alone)).fetchall())
    family = db.execute(owners.format(where="")).fetchone()[0]
    address = one(
        db,
        f"SELECT host(ip) FROM {LOG} WHERE type = 'workspace_app' AND family(ip) = 4 "
        "ORDER BY connect_time DESC, id DESC LIMIT 1",
    )
    return {
        "day": day.isoformat(),
        "owner": owner,
        "workspace": name,
        "shared_name": shared_name,
        "person": person,
        "other": other,
        "family": family,
        "address": address,
        "block24": address.rsplit(".", 1)[0] + ".0/24",
    }


def cases(v: dict) -> list[tuple[str, str]]:
    day = v["day"]
    return [
        ("ip_exact", f"ip:{v['address']}"),
        ("ip_cidr_24", f"ip:{v['block24']}"),
        ("ip_cidr_8_dense", "ip:10.0.0.0/8"),
        ("workspace_owner_name", f"workspace:{v['owner']}/{v['workspace']}"),
        ("workspace_name", f"workspace:{v['shared_name']}"),
        ("agent", "agent:gpu"),
        ("result_failed", "result:failed"),
        ("status_code_5xx", "status_code:5xx"),
        ("status_code_or_list", "status_code:502,503"),
        ("exit_code_137", "exit_code:137"),
        ("active_one_day", f'active_after:"{day}T00:00:00Z" active_before:"{day}T23:59:59Z"'),
        ("active_one_day_dates", f"active_after:{day} active_before:{day}"),
        ("active_one_minute", f'active_after:"{day}T03:00:00Z" active_before:"{day}T03:01:00Z"'),
        ("duration_over_8h", "duration:>8h"),
        ("duration_under_1m", "duration:<1m"),
        ("status_stale", "status:stale"),
        ("negation_type", "-type:workspace_app"),
        ("negation_ip", "-ip:10.0.0.0/8"),
        ("or_list_type", "type:ssh,vscode"),
        ("or_list_owners", f"workspace_owner:{v['person']},{v['other']}"),
        ("free_text_user", v["person"]),
        ("free_text_user_family", v["family"]),
        ("free_text_slug", "grafana"),
        ("relative_30d", "connected_after:-30d type:jetbrains"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--dsn", required=True, help="libpq DSN of the bench cluster (no dbname)")
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--anchor-results", help="the anchor's results-N.json (its auditor orgs)")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--cases", help="comma-separated subset")
    args = ap.parse_args()
    out = Path(args.out)
    plan_dir = out / "plans" / str(args.n)
    plan_dir.mkdir(parents=True, exist_ok=True)
    kv = dict(part.split("=", 1) for part in args.dsn.split())
    setup_django(
        f"postgres://{kv.get('user', 'postgres')}@{kv.get('host', '127.0.0.1')}:"
        f"{kv.get('port', '5432')}/connlogs_{args.n}"
    )
    from django.db import connection

    auth_orgs = []
    if args.anchor_results and Path(args.anchor_results).exists():
        anchor = json.loads(Path(args.anchor_results).read_text())
        auth_orgs = [org[0] for org in anchor["values"]["org_auth_pair"]]
    token = bench_tokens(auth_orgs)["owner"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        app_jit = cursor.fetchone()[0]
    db = connect_as_app(f"{args.dsn} dbname=connlogs_{args.n}")
    db.execute(f"SET jit = {app_jit}")
    log_indexes = {
        r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (LOG,))
    }
    picked = pick_values(db, args.n)
    wanted = set(args.cases.split(",")) if args.cases else None
    results = []
    for name, q in cases(picked):
        if wanted and name not in wanted:
            continue
        path = "/api/v2/connectionlog?" + urlencode({"q": q, "limit": 100})
        captured = capture(path, token)
        if captured["status"] != 200:
            raise RuntimeError(f"{name}: {captured['error']}")
        timed = {
            "page": (db, captured["page_statement"]),
            "count": (db, captured["count_statement"]),
        }
        samples = run_interleaved(timed, args.warmup, max(args.runs, 15))
        plans = {}
        for kind in ("page", "count"):
            sql = captured[f"{kind}_sql"]
            if not sql:
                continue
            text, as_json = explain(db, sql)
            plans[kind] = plan_summary(as_json, log_indexes)
            suffix = "" if kind == "page" else ".count"
            (plan_dir / f"search_{name}{suffix}.txt").write_text(
                f"-- search case {name}: q = {q}\n-- GET {path}\n{sql};\n\n{text}\n"
            )
        result = {
            "case": name,
            "q": q,
            "matches": captured["count"],
            "page_ms": samples.get("page", []),
            "count_ms": samples.get("count", []),
            "plans": plans,
        }
        results.append(result)
        log(
            f"{name:22s} matches {captured['count']:>6,}  page {ms(p50(result['page_ms'])):>6} "
            f"ms  count {ms(p50(result['count_ms'])) if result['count_ms'] else '-':>6} ms"
        )
    table, markdown = report(args.n, results, picked, app_jit)
    print(table)
    (out / f"search-{args.n}.md").write_text(markdown)
    (out / f"search-{args.n}.json").write_text(
        json.dumps({"n": args.n, "values": picked, "cases": results}, indent=1, default=str)
    )
    log(f"wrote {out / f'search-{args.n}.md'}")
    return 0


def report(n: int, results: list[dict], picked: dict, app_jit: str) -> tuple[str, str]:
    head = (
        f"{'case':22s} {'matches':>8s} | {'page p50':>8s} {'p95':>6s} | {'count p50':>9s} "
        f"{'p95':>6s} | plan (page; count)"
    )
    lines = [head, "-" * len(head)]
    md = [
        f"# The search language at N = {n:,}\n",
        f"`bench/run.sh --rows {n} --only search`, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC;"
        f" DB time of the SQL the API sends (limit=100), p50/p95 ms over 15 runs, jit={app_jit}."
        f" Values picked from the data: {json.dumps(picked)}.\n",
        "| case | q | matches | page p50 | page p95 | count p50 | count p95 | page plan "
        "| count plan |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    missed = []
    for r in results:
        page, count = r["page_ms"], r["count_ms"]
        page50, count50 = p50(page), p50(count) if count else 0.0
        if page50 > TARGET_MS or count50 > TARGET_MS:
            missed.append(f"{r['case']} (page {ms(page50)}, count {ms(count50)} ms)")
        lines.append(
            f"{r['case']:22s} {r['matches']:>8,} | {ms(page50):>8s} {ms(p95(page)):>6s} | "
            f"{ms(count50) if count else '-':>9s} {ms(p95(count)) if count else '-':>6s} | "
            f"{r['plans'].get('page', '')[:60]}; {r['plans'].get('count', '')[:60]}"
        )
        md.append(
            f"| {r['case']} | `{r['q']}` | {r['matches']:,} | {ms(page50)} | {ms(p95(page))} | "
            f"{ms(count50) if count else '-'} | {ms(p95(count)) if count else '-'} | "
            f"{r['plans'].get('page', '')} | {r['plans'].get('count', '')} |"
        )
    verdict = (
        f"[MET ] page and capped count <= {TARGET_MS:.0f} ms p50, every search case"
        if not missed
        else f"[MISSED] page and capped count <= {TARGET_MS:.0f} ms p50: {'; '.join(missed)}"
    )
    lines += ["", verdict]
    md += ["", verdict, ""]
    return "\n".join(lines), "\n".join(md)


if __name__ == "__main__":
    sys.exit(main())
