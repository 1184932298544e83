"""Where an API list request's time goes, in this process (no HTTP), part by part.

    .venv/bin/python bench/request_parts.py --n N --dsn "host=127.0.0.1 port=PORT user=postgres"
        [--runs 200] [--q "type:ssh"] [--limit 100] [--offset K]

Against ``connlogs_N`` as the bench's site owner, medians in ms, the parts timed in turns
(round-robin, so a busy moment falls on all alike): the whole request (``GET
/api/v2/connectionlog`` through Django's test client and every middleware, the access log's
entry included); the search (``LogSearch``: ``q`` parsed, bound to the FilterSet, validated
and compiled to SQL, no query sent); the capped count; the page's rows fetched with
everything shown, as shipped (``LogSearch.reading`` chose from the count), as one query over
the whole log and newest month first (``querysets.first_rows``); the rows shaped into the
contract's entries; the body rendered to JSON.
On PostgreSQL the app's connection prepares a statement at its third run and PostgreSQL may
then reuse a generic plan (docs/scaling.md, "Prepared searches"): after the warm-up rounds
these are the times of prepared statements, as the bench's SQL timings are.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

from common import bench_tokens, setup_django


def medians_ms(parts: dict[str, Callable[[], object]], runs: int, warmup: int = 10) -> dict:
    """The median wall time in ms of each part, timed in turns ``runs`` times after
    ``warmup`` untimed rounds."""
    samples: dict[str, list[float]] = {name: [] for name in parts}
    for round_ in range(warmup + runs):
        for name, run in parts.items():
            start = time.perf_counter()
            run()
            if round_ >= warmup:
                samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--dsn", required=True, help="libpq host/port/user, no dbname")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--q", default="")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--offset", type=int, default=0, help="read at K, K+1, … (a new SQL each)")
    args = ap.parse_args()
    params = dict(part.split("=", 1) for part in args.dsn.split())
    setup_django(
        f"postgres://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/connlogs_{args.n}"
    )
    from django.conf import settings
    from django.test import Client, RequestFactory
    from rest_framework.renderers import JSONRenderer

    from connlogs.api.serializers import connection_log_entries
    from connlogs.models import User
    from connlogs.querysets import WALK, Reading
    from connlogs.search.request import LogSearch

    token = bench_tokens([])["owner"]
    owner = User.objects.get(username="bench-owner")
    client, factory = Client(), RequestFactory()
    offsets = itertools.count(args.offset)

    def path() -> str:
        offset = f"&offset={next(offsets)}" if args.offset else ""
        return f"/api/v2/connectionlog?limit={args.limit}&q={args.q}{offset}"

    def search() -> LogSearch:
        request = factory.get("/")
        request.user = owner
        found = LogSearch(request, args.q)
        assert found.is_valid, found.validations
        str(found.matching.newest_first().with_related()[: args.limit].query)
        return found

    found = search()
    rows = found.matching.page(0, args.limit)
    entries = connection_log_entries(rows, owner, found.identities)
    matching = found.matching
    cap = settings.CONNLOGS_COUNT_CAP
    reading = found.reading(matching.capped_count(cap), cap)
    by_month = Reading(by_month=True)

    def rows_read(how: Reading) -> Callable[[], object]:
        if args.offset:
            return lambda: matching.page(next(offsets), args.limit, how)
        return lambda: matching.first_rows(args.limit, reading=how)

    parts = {
        "whole request (test client)": lambda: client.get(path(), HTTP_CODER_SESSION_TOKEN=token),
        "search: parse, bind, validate, compile": search,
        "capped count": lambda: matching.capped_count(cap),
        f"rows as shipped ({reading})": rows_read(reading),
        "rows: one query": rows_read(WALK),
        "rows: newest month first": rows_read(by_month),
        "rows shaped into entries": lambda: connection_log_entries(rows, owner, found.identities),
        "body rendered to JSON": lambda: JSONRenderer().render({"connection_logs": entries}),
    }
    print(
        f"connlogs_{args.n}, q={args.q!r}, limit {args.limit}, offset {args.offset}, "
        f"{args.runs} rounds, median ms"
    )
    for name, value in medians_ms(parts, args.runs).items():
        print(f"  {name:40s} {value:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
