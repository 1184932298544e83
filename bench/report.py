"""The bench's report: the table printed at the end of a run and ``out/results-N.md``, with
the targets each measurement is held to (met or missed, and by how much)."""

from __future__ import annotations

from common import ms, p50, p95, ratio

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


class Report:
    """Lines of the printed table, lines of the markdown, and the targets, filled in order."""

    def __init__(self):
        self.lines: list[str] = []
        self.md: list[str] = []
        self.targets: list[dict] = []

    def target(self, name: str, met: bool, detail: str) -> None:
        self.targets.append({"target": name, "met": met, "detail": detail})


def build_report(n, anchor, load_meta, measured, extra, server_facts) -> dict:
    """``{"table": printed text, "markdown": results-N.md, "targets": [...]}``."""
    r = Report()
    _header(r, n, anchor, load_meta, bool(measured), extra["env"], server_facts)
    if measured:  # not with --only parts that leave the anchor's cases out
        _cases(r, measured)
        _case_targets(r, measured)
        _plans(r, n, measured)
    if extra.get("paging"):
        _paging(r, extra["paging"])
    if extra.get("ingest"):
        _ingest(r, extra["ingest"])
    if extra.get("purge"):
        _purge(r, extra["purge"])
    if extra.get("export"):
        _export(r, extra["export"])
    r.lines.append("")
    r.md.append("\n## Targets\n")
    for t in r.targets:
        mark = "MET " if t["met"] else "MISSED"
        r.lines.append(f"[{mark}] {t['target']}: {t['detail']}")
        r.md.append(f"- **{'met' if t['met'] else 'MISSED'}** — {t['target']}: {t['detail']}")
    return {"table": "\n".join(r.lines), "markdown": "\n".join(r.md) + "\n", "targets": r.targets}


def _where(env) -> str:
    """Where the anchor ran (the same cluster, or its own: ``--anchor-dsn``) and how the
    cases' SQL was timed (``--timing``)."""
    blocks = "; each statement's runs back to back" if env.get("timing") == "blocks" else ""
    if env.get("anchor_apart"):
        return f"same run as the anchor, which ran on its own cluster (same settings){blocks}"
    if env.get("only"):
        return f"on the anchor's cluster{blocks}"
    return f"same cluster and run as the anchor{blocks}"


def _header(r: Report, n, anchor, load_meta, with_cases: bool, env, server_facts) -> None:
    if with_cases:
        head = (
            f"{'case':26s} {'matches':>10s} | {'anchor page':>11s} {'anchor count':>12s} | "
            f"{'cl page':>8s} {'cl count':>8s} | {'page ×':>7s} {'count ×':>8s} "
            f"{'request ×':>9s} | {'API p50':>8s} {'API p95':>8s} | same"
        )
        r.lines += [head, "-" * len(head)]
    r.md.append(f"# connlogs vs the anchor (Coder's design), N = {n:,}\n")
    only = f" --only {env['only']}" if env.get("only") else ""
    r.md.append(
        f"Measured {env['started']} by `bench/run.sh --rows {n}{only}`, "
        + _where(env)
        + f". PostgreSQL {server_facts['server_version'].split()[0]}; "
        + ", ".join(f"{k}={v}" for k, v in server_facts.items() if k != "server_version")
        + f"; the app's connections run with jit={env['app_jit']}. Load average before/after: "
        f"{env['load_before']} / {env.get('load_after', '?')} (2 cores, shared).\n"
    )
    t = load_meta["timings_s"]
    r.md.append(
        f"**connlogs load:** COPY {t['copy_s']:.0f} s, indexes+FKs {t['index_fk_s']:.0f} s, "
        f"VACUUM ANALYZE {t['vacuum_analyze_s']:.0f} s. **Size:** heap "
        f"{load_meta['heap_bytes'] / 2**20:,.0f} MiB, indexes "
        f"{load_meta['indexes_bytes'] / 2**20:,.0f} MiB ("
        + ", ".join(f"{k} {v / 2**20:,.0f}" for k, v in load_meta["index_bytes"].items())
        + "). Anchor: heap "
        f"{anchor['meta']['heap_bytes'] / 2**20:,.0f} MiB, indexes "
        f"{anchor['meta']['indexes_bytes'] / 2**20:,.0f} MiB.\n"
    )
    if not with_cases:
        r.md.append(
            "Only these parts were measured (`--only`); the anchor's cases are in the full "
            "run's report.\n"
        )


def _cases(r: Report, measured) -> None:
    r.md.append(
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
    r.md.append(
        "| case | q | matches | anchor page | anchor count | cl page | cl count | page × "
        "| count × | request × | API p50 | API p95 | same |"
    )
    r.md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
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
        request = ratio(a_page + a_count, c_page + c_count)
        r.lines.append(
            f"{m.case:26s} {m.matches:>10,} | {ms(a_page):>11s} {ms(a_count):>12s} | "
            f"{ms(c_page):>8s} {ms(c_count):>8s} | {ratio(a_page, c_page):>7s} "
            f"{ratio(a_count, c_count):>8s} {request:>9s} | "
            f"{ms(api50):>8s} {ms(api95):>8s} | {same}"
        )
        if m.q:
            q = f"`{m.q}`"
        elif m.user == "auditor":
            q = "(auditor of 2 orgs)"
        else:
            q = "(limit=25&offset=10000)" if "offset" in m.path else "(none)"
        r.md.append(
            f"| {m.case} | {q} | {m.matches:,} | {ms(a_page)} | {ms(a_count)} | "
            f"{ms(c_page)} | {ms(c_count)} | {ratio(a_page, c_page)} | "
            f"{ratio(a_count, c_count)} | {request} | {ms(api50)} | {ms(api95)} | {same} |"
        )


def _case_targets(r: Report, measured) -> None:
    slower = []
    for m in measured:
        for kind, ours, theirs in (
            ("page", m.page_ms, m.anchor_page_ms),
            ("count", m.count_ms, m.anchor_count_ms),
        ):
            if ours and theirs and p50(ours) > p50(theirs):
                slower.append(f"{m.case} {kind} {ms(p50(ours))} vs {ms(p50(theirs))} ms")
    r.target(
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
    r.target(
        "anchor's weak cases >= 10x faster (page + count)",
        all(w[1] >= 10 for w in weak),
        "; ".join(f"{c} {x:.0f}× ({ms(a)} → {ms(cc)} ms)" for c, x, a, cc in weak),
    )
    api = [(m.case, p50(m.api_ms)) for m in measured if m.api_ms]
    worst = max(api, key=lambda x: x[1]) if api else ("-", 0)
    over = [f"{c} {ms(v)}" for c, v in api if v >= 30]
    r.target(
        "API page < 30 ms p50 end to end, every case",
        not over,
        f"slowest {worst[0]} {ms(worst[1])} ms" + ("; over: " + ", ".join(over) if over else ""),
    )
    counts = [(m.case, p50(m.count_ms)) for m in measured if m.count_ms]
    worst_c = max(counts, key=lambda x: x[1]) if counts else ("-", 0)
    r.target(
        "capped count < 20 ms p50, every case",
        all(x[1] < 20 for x in counts),
        f"slowest {worst_c[0]} {ms(worst_c[1])} ms",
    )


def _plans(r: Report, n, measured) -> None:
    r.md.append("\n## Plans (connlogs)\n")
    r.md.append(
        f"`EXPLAIN (ANALYZE, BUFFERS)` of the captured SQL, full text in `bench/out/plans/{n}/`.\n"
    )
    r.md.append("| case | page plan | count plan |")
    r.md.append("|---|---|---|")
    for m in measured:
        r.md.append(f"| {m.case} | {m.page_plan} | {m.count_plan} |")


def _paging(r: Report, paging) -> None:
    r.lines.append("")
    r.lines.append("Page 1 vs page 500 (100 rows a page; page 500 = offset 49,900)")
    r.md.append("\n## Page 1 vs page 500\n")
    r.md.append(
        "100 rows a page; page 500 skips 49,900 rows. *keyset* = `after_id` of the "
        "last row of page 499 (same rows as the offset page).\n"
    )
    r.md.append("| filter | variant | API p50 | API p95 | DB p50 | plan |")
    r.md.append("|---|---|---:|---:|---:|---|")
    for p in paging:
        v = {x["label"]: x for x in p["variants"]}
        for x in p["variants"]:
            api50 = p50(x["api_ms"]) if x["api_ms"] else None
            api95 = p95(x["api_ms"]) if x["api_ms"] else None
            r.lines.append(
                f"  {p['case']:18s} {x['label']:24s} API {ms(api50):>6s} "
                f"DB {ms(p50(x['page_ms'])):>6s}"
            )
            r.md.append(
                f"| {p['case']} | {x['label']} | {ms(api50)} | {ms(api95)} | "
                f"{ms(p50(x['page_ms']))} | {x.get('plan', '')} |"
            )
        one = p50(v["page 1"]["api_ms"])
        for label in ("page 500 after_id", "page 500 offset"):
            deep = p50(v[label]["api_ms"])
            r.target(
                f"{p['case']}: {label} within 2x of page 1 (API p50)",
                deep <= 2 * one,
                f"{ms(deep)} vs {ms(one)} ms ({deep / one:.2f}×); DB "
                f"{ms(p50(v[label]['page_ms']))} vs {ms(p50(v['page 1']['page_ms']))} ms; "
                f"anchor offset page 500 {ms(p50(v['anchor page 500 offset']['page_ms']))} ms",
            )


def _ingest(r: Report, ingest) -> None:
    r.lines.append("")
    r.md.append("\n## Ingest\n")
    r.md.append(
        f"`POST /api/v2/connectionlog/events`, batches of {ingest['batch_size']} "
        "(≈44% agent connects, 44% disconnects of the previous batch's sessions, 12% "
        f"web events), {ingest['batches']} batches per run; fsync on. The rows were "
        "deleted again afterwards.\n"
    )
    if ingest.get("warmup_events_per_s"):
        r.md.append(
            f"Before them, {ingest['warmup_batches']} warm-up batches from one client "
            f"(right after the cluster start): {ingest['warmup_events_per_s']:,.0f} "
            f"events/s, {ingest['warmup_wal_mib_per_batch']:.1f} MiB of WAL a batch (full-"
            "page images of every index page touched for the first time since the "
            "checkpoint).\n"
        )
        r.lines.append(
            f"Ingest warm-up x1 ({ingest['warmup_batches']} batches after the cluster "
            f"start): {ingest['warmup_events_per_s']:,.0f} events/s"
        )
    r.md.append("| client streams | events | seconds | events/s | batch p50 | batch p95 | result |")
    r.md.append("|---:|---:|---:|---:|---:|---:|---|")
    for run in ingest["runs"]:
        r.lines.append(
            f"Ingest x{run['concurrency']}: {run['events_per_s']:,.0f} events/s "
            f"(batch p50 {ms(run['batch_p50_ms'])} ms)"
        )
        r.md.append(
            f"| {run['concurrency']} | {run['events']:,} | {run['seconds']:.1f} | "
            f"{run['events_per_s']:,.0f} | {ms(run['batch_p50_ms'])} | "
            f"{ms(run['batch_p95_ms'])} | {run['result']} |"
        )
    best = max(run["events_per_s"] for run in ingest["runs"])
    one = ingest["runs"][0]["events_per_s"]
    r.target(
        ">= 20,000 events/s ingest, batches of 1000",
        best >= 20_000,
        f"{one:,.0f}/s one client, {best:,.0f}/s best",
    )


def _purge(r: Report, purge) -> None:
    r.lines.append(
        f"Retention purge: {ms(p50(purge['batch_ms']))} ms per batch of "
        f"{purge['batch_size']} = {purge['rows_per_s']:,.0f} rows/s"
    )
    r.md.append("\n## Retention purge\n")
    r.md.append(
        f"One batch of `purge_connection_logs` (select the {purge['batch_size']:,} "
        "oldest ids past the cutoff, DELETE them), rolled back: p50 "
        f"{ms(p50(purge['batch_ms']))} ms = **{purge['rows_per_s']:,.0f} rows/s**.\n"
    )


def _export(r: Report, export) -> None:
    at = export["rss_at_progress_kib"]
    baseline, peak = export["rss_baseline_kib"], export["rss_peak_kib"]
    first_byte = f"first byte after {export['first_byte_s'] * 1000:.0f} ms"
    r.lines.append(
        f"Export: {export['rows']:,} rows in {export['seconds']:.1f}s = "
        f"{export['rows_per_s']:,.0f} rows/s ({first_byte}); worker RSS "
        f"{baseline / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB"
    )
    r.md.append("\n## Export\n")
    r.md.append(
        f"`GET {export['path']}` on a freshly started server; rows counted by the client.\n"
    )
    r.md.append(
        f"- {export['rows']:,} rows, {export['bytes'] / 2**20:,.0f} MiB in "
        f"{export['seconds']:.1f} s = **{export['rows_per_s']:,.0f} rows/s** ({first_byte})"
    )
    r.md.append(
        f"- worker RSS before {baseline / 1024:.0f} MiB; at "
        + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in at.items() if v)
        + f"; peak (VmHWM) {peak / 1024:.0f} MiB"
    )
    growth = peak - baseline
    late = [v for k, v in at.items() if v and k in ("25%", "100%")]
    flat = growth < 64 * 1024 and (len(late) < 2 or abs(late[1] - late[0]) < 16 * 1024)
    r.target(
        ">= 50,000 rows/s export with flat server memory",
        export["rows_per_s"] >= 50_000 and flat,
        f"{export['rows_per_s']:,.0f} rows/s; RSS +{growth / 1024:.0f} MiB over the export"
        + ("" if flat else " (not flat)"),
    )
