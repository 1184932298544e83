#!/usr/bin/env python
"""Server time of the connection-log list page: page 1, numbered page 500, and "next" deep in.

Runs the real view in-process (Django's test client, no network) against the database of
``DATABASE_URL`` as its first site owner, so the figures are the server's own time to answer
(queries, chart and template). Usage::

    DATABASE_URL=postgres://… SECRET_KEY=x .venv/bin/python bench/pages.py [--runs 15]
"""

from __future__ import annotations

import argparse
import time

from common import p50, setup_django

setup_django()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from connlogs.models import ConnectionLog, User  # noqa: E402

SSH_DONE = "/connectionlog?q=type:ssh+status:completed"


def timed(client: Client, url: str, runs: int, warmup: int = 2) -> tuple[float, float]:
    samples = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, (url, response.status_code)
        if i >= warmup:
            samples.append(elapsed)
    return p50(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    owner = next(u for u in User.objects.all() if "owner" in (u.site_roles or []))
    client = Client()
    client.force_login(owner)
    rows = ConnectionLog.objects.count()
    print(
        f"{rows:,} connection logs on {settings.DATABASES['default']['ENGINE']}; "
        f"p50 / max of {args.runs} runs, ms"
    )
    # The cursor of page 500: the last row of page 499 in newest-first order.
    cursor = ConnectionLog.objects.newest_first().values_list("id", flat=True)[499 * 25 - 1]
    cases = [
        ("list page 1", "/connectionlog"),
        ("numbered page 500", "/connectionlog?page=500"),
        ("next from page 499 (keyset)", f"/connectionlog?page=500&after={cursor}"),
        ("type:ssh status:completed page 1", "/connectionlog?q=type:ssh+status:completed"),
        (
            "type:ssh status:completed page 500",
            "/connectionlog?q=type:ssh+status:completed&page=500",
        ),
        ("API page of 100", "/api/v2/connectionlog"),
        ("API offset 12,475", "/api/v2/connectionlog?offset=12475&limit=25"),
    ]
    for label, url in cases:
        p50, worst = timed(client, url, args.runs)
        print(f"  {label:<38} {p50:8.1f} {worst:8.1f}")


if __name__ == "__main__":
    main()
