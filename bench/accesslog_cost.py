"""What the access log costs a read: the API list's answer time with and without its entry.

    bench/run.sh --rows N --load-only        # a loaded cluster (BENCH_KEEP_RUNNING=1)
    .venv/bin/python bench/accesslog_cost.py --n N --dsn "host=127.0.0.1 port=PORT user=postgres"

1. In this process (Django's test client against connlogs_N): the queries the API list sends
   before its response is finished, with the access log and with recording switched off;
   the difference must be exactly one INSERT into the access log, which is then run under
   ``EXPLAIN (ANALYZE, BUFFERS)`` (rolled back). Counted with the entry written on the
   request's connection, where the capture sees it (the writer thread sends the same
   INSERT on its own). What runs after the response (chaining the entry) is listed apart.
2. Over HTTP: gunicorn servers on the same database, one as shipped, one with recording
   switched off in its workers (a bench-only ``post_worker_init`` hook: the application has
   no such switch), and each case's ``GET /api/v2/connectionlog`` timed on each in
   interleaved rounds (the order alternating), as a site owner. Prints p50/p95 of each and
   the difference; writes ``out/accesslog-cost-N.md``. ``--inline`` adds a server whose
   entry is written on the request's connection before the body is made (the previous
   design: ``connlogs.accesslog.writer`` switched off).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from common import (
    HERE,
    Http,
    Server,
    app_env,
    auth,
    bench_tokens,
    logger,
    ms,
    p50,
    p95,
    setup_django,
)

log = logger("accesslog")
CASES = (
    ("no q", {}),
    ("type:ssh", {"q": "type:ssh"}),
    ("status:ongoing", {"q": "status:ongoing"}),
    ("connected_after:-24h", {"q": "connected_after:-24h"}),
)
# A gunicorn config (given with GUNICORN_CMD_ARGS): each worker, once the app is loaded,
# records nothing. Bench-only: the application always records.
NO_RECORD_HOOK = """
def post_worker_init(worker):
    from connlogs.accesslog import writer
    writer.append = lambda entry: None
"""
# ``--inline``: a server whose entry is written at once on the request's connection.
INLINE_HOOK = """
def post_worker_init(worker):
    from connlogs.accesslog import writer
    writer.overlaps = lambda: False
"""


def _switched(name: str, value):
    """Set ``connlogs.accesslog.writer.<name>`` to ``value``; returns the undo."""
    from connlogs.accesslog import writer

    kept = getattr(writer, name)
    setattr(writer, name, value)
    return lambda: setattr(writer, name, kept)


def _queries_of_one_read(path: str, token: str) -> tuple[list[str], list[str]]:
    """``(before, after)``: the SQL of one API read until its response is finished, and what
    the deferred tasks ran after it."""
    from django.core.signals import request_finished
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from connlogs.privacy import deferred

    marks: list[int] = []
    uid = "connlogs.privacy.deferred.finished"
    request_finished.disconnect(dispatch_uid=uid)

    def finished(**kwargs):
        marks.append(len(capture.captured_queries))
        deferred._finished(**kwargs)

    request_finished.connect(finished, dispatch_uid="bench.accesslog.finished")
    try:
        with CaptureQueriesContext(connection) as capture:
            response = Client().get(path, HTTP_CODER_SESSION_TOKEN=token)
            assert response.status_code == 200, response.content[:300]
    finally:
        request_finished.disconnect(dispatch_uid="bench.accesslog.finished")
        request_finished.connect(deferred._finished, dispatch_uid=uid)
    sql = [query["sql"] for query in capture.captured_queries]
    return sql[: marks[0]], sql[marks[0] :]


def read_path(token: str) -> dict:
    """The read path's queries with and without the entry, and the INSERT's plan."""
    from django.db import connection, transaction

    path = "/api/v2/connectionlog?" + urlencode({"q": "type:ssh"})
    restore = _switched("overlaps", lambda: False)
    try:
        _queries_of_one_read(path, token)  # warm: the key, the token, the caches
        with_entry, after = _queries_of_one_read(path, token)
    finally:
        restore()
    restore = _switched("append", lambda entry: None)
    try:
        without, _ = _queries_of_one_read(path, token)
    finally:
        restore()
    added = [sql for sql in with_entry if sql not in without]
    plan = []
    if len(added) == 1:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + added[0])
                plan = [row[0] for row in cursor.fetchall()]
            transaction.set_rollback(True)
    return {
        "with": len(with_entry),
        "without": len(without),
        "added": added,
        "after": after,
        "plan": plan,
    }


def timed_pair(clients: dict[str, Http], path: str, token: str, warmup: int, runs: int):
    samples: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for i in range(warmup + runs):
        for name in names if i % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            response, body = clients[name].request("GET", path, headers=auth(token))
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status != 200:
                raise RuntimeError(f"{name} GET {path}: {response.status} {body[:300]!r}")
            if i >= warmup:
                samples[name].append(elapsed)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--dsn", required=True, help="libpq host/port/user, no dbname")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "out"))
    parser.add_argument("--inline", action="store_true", help="a third server (above)")
    args = parser.parse_args()
    fields = dict(part.split("=", 1) for part in args.dsn.split())
    user, host, port = fields.get("user", "postgres"), fields["host"], fields["port"]
    url = f"postgres://{user}@{host}:{port}/connlogs_{args.n}"
    setup_django(url)
    from connlogs.models import AccessLogEntry, ConnectionLog, Organization

    rows = ConnectionLog.objects.count()
    entries_before = AccessLogEntry.objects.count()
    tokens = bench_tokens([str(pk) for pk in Organization.objects.values_list("pk", flat=True)[:2]])
    token = tokens["owner"]
    found = read_path(token)
    log(f"read path: {found['with']} queries with the entry, {found['without']} without")
    for sql in found["added"]:
        log(f"added: {sql[:160]}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    hooks = {"without": NO_RECORD_HOOK}
    if args.inline:
        hooks["inline"] = INLINE_HOOK
    servers = {"with entry": Server(app_env(url, CONN_MAX_AGE="600"), out / "accesslog-with.log")}
    files = []
    for name, text in hooks.items():
        with tempfile.NamedTemporaryFile("w", suffix=".py", dir=out, delete=False) as hook:
            hook.write(text)
        files.append(Path(hook.name))
        env = app_env(url, CONN_MAX_AGE="600", GUNICORN_CMD_ARGS=f"--config {hook.name}")
        servers[name] = Server(env, out / f"accesslog-{name.replace(' ', '-')}.log")
    results = []
    try:
        for server in servers.values():
            server.start()
        clients = {name: Http(server.port, timeout=120) for name, server in servers.items()}
        for case, params in CASES:
            path = "/api/v2/connectionlog" + ("?" + urlencode(params) if params else "")
            samples = timed_pair(clients, path, token, args.warmup, args.runs)
            with_ms, without_ms = samples["with entry"], samples["without"]
            inline_ms = samples.get("inline")
            results.append(
                (case, p50(with_ms), p50(without_ms), p95(with_ms), p95(without_ms))
                + ((p50(inline_ms),) if inline_ms else ())
            )
            log(
                f"{case:22s} p50 with {ms(p50(with_ms))} ms, without {ms(p50(without_ms))} ms, "
                f"added {ms(p50(with_ms) - p50(without_ms))} ms"
                + (f"; inline {ms(p50(inline_ms))} ms" if inline_ms else "")
            )
    finally:
        for server in servers.values():
            server.stop()
        for file in files:
            file.unlink(missing_ok=True)
    written = AccessLogEntry.objects.count() - entries_before

    lines = [
        f"# The access log's cost on the API list: {rows:,} rows",
        "",
        f"{len(servers)} gunicorn servers (2 sync workers each) on connlogs_{args.n}, "
        "as a site owner; "
        f"{args.runs} interleaved requests per case and server after {args.warmup} warm-ups; "
        f"{written:,} entries written by the run.",
        "",
        "| case | p50 with entry | p50 without | added p50 | p95 with | p95 without |"
        + (" p50 inline |" if args.inline else ""),
        "|---|---|---|---|---|---|" + ("---|" if args.inline else ""),
        *(
            f"| {case} | {ms(a)} | {ms(b)} | {ms(a - b)} | {ms(c)} | {ms(d)} |"
            + "".join(f" {ms(x)} |" for x in rest)
            for case, a, b, c, d, *rest in results
        ),
        "",
        f"Read path (`GET /api/v2/connectionlog?q=type:ssh`): {found['with']} queries before the "
        f"response with the entry, {found['without']} without; added:",
        "",
        *(f"    {sql}" for sql in found["added"]),
        "",
        "After the response (not waited for):",
        "",
        *(f"    {sql[:200]}" for sql in found["after"]),
        "",
        "EXPLAIN (ANALYZE, BUFFERS) of the added INSERT:",
        "",
        *(f"    {line}" for line in found["plan"]),
    ]
    report = out / f"accesslog-cost-{args.n}.md"
    report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    log(f"wrote {report}")


if __name__ == "__main__":
    main()
