"""Where an API list request's time goes, in this process (no HTTP), part by part.

    .venv/bin/python bench/request_parts.py --n N --dsn "host=127.0.0.1 port=PORT user=postgres"
        [--runs 200] [--q "type:ssh"] [--limit 100]

Against ``connlogs_N`` as the bench's site owner, medians in ms of: the whole request
(``GET /api/v2/connectionlog`` through Django's test client and every middleware, the access
log's entry included); the search (``LogSearch``: ``q`` parsed, bound to the FilterSet,
validated and compiled to SQL, no query sent); the page's rows fetched with everything shown
(the database's time included); those rows shaped into the contract's entries; the body
rendered to JSON. What the database alone takes is ``measure.py``'s (its "cl page" and "cl
count" columns); the rest of the request is Python.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from common import bench_tokens, setup_django


def median_ms(run: Callable[[], object], runs: int, warmup: int = 10) -> float:
    """The median wall time of ``run()`` in ms, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--dsn", required=True, help="libpq host/port/user, no dbname")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--q", default="")
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    params = dict(part.split("=", 1) for part in args.dsn.split())
    setup_django(
        f"postgres://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/connlogs_{args.n}"
    )
    from django.test import Client, RequestFactory
    from rest_framework.renderers import JSONRenderer

    from connlogs.api.serializers import connection_log_entries
    from connlogs.models import User
    from connlogs.search.request import LogSearch

    token = bench_tokens([])["owner"]
    owner = User.objects.get(username="bench-owner")
    client, factory = Client(), RequestFactory()
    path = f"/api/v2/connectionlog?limit={args.limit}&q={args.q}"

    def search() -> LogSearch:
        request = factory.get("/")
        request.user = owner
        found = LogSearch(request, args.q)
        assert found.is_valid, found.validations
        str(found.matching.page(0, args.limit).query)
        return found

    found = search()
    rows = list(found.matching.page(0, args.limit))
    entries = connection_log_entries(rows, owner, found.identities)
    parts = {
        "whole request (test client)": lambda: client.get(path, HTTP_CODER_SESSION_TOKEN=token),
        "search: parse, bind, validate, compile": search,
        "rows fetched (database included)": lambda: list(found.matching.page(0, args.limit)),
        "rows shaped into entries": lambda: connection_log_entries(rows, owner, found.identities),
        "body rendered to JSON": lambda: JSONRenderer().render({"connection_logs": entries}),
    }
    print(f"connlogs_{args.n}, q={args.q!r}, limit {args.limit}, {args.runs} runs, median ms")
    for name, run in parts.items():
        print(f"  {name:40s} {median_ms(run, args.runs):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
