"""``manage.py demo``: a realistic installation to look at, through the single writer."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from connlogs import demo
from connlogs.models import ConnectionLog


class Command(BaseCommand):
    help = (
        "Create demo data: organizations acme, globex and labs; users with every role (the "
        f"site owner '{demo.DEMO_OWNER}' / '{demo.DEMO_PASSWORD}', an auditor, a "
        "connection reporter, organization admins and auditors, plain members); workspaces "
        "with one or two agents; and a month of connections of every type, sent as events "
        "through the same writer as the API. "
        "Run again, it never duplicates people or places (existing accounts are left as they "
        "are). Without --rows it adds connections only when the database has none, so it is "
        "safe to run twice; with --rows N it always adds N more rows. "
        "Large loads (more than --fast-over rows) are written directly with PostgreSQL COPY "
        "(bulk inserts on SQLite), as rows the merging rules would have made."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rows",
            type=int,
            default=None,
            help=f"Add exactly this many connection-log rows (default: {demo.DEFAULT_ROWS} "
            "when the database has none, else none).",
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--days",
            type=int,
            default=demo.DEFAULT_DAYS,
            help=f"Spread connections over this many days (default {demo.DEFAULT_DAYS}).",
        )
        parser.add_argument(
            "--fast-over",
            type=int,
            default=demo.DEFAULT_FAST_OVER,
            help="Above this many rows, write rows directly instead of through record_events "
            f"(default {demo.DEFAULT_FAST_OVER:,}).",
        )

    def handle(self, *args, rows, seed, days, fast_over, **options):
        if rows is not None and rows < 0:
            raise CommandError("--rows must be 0 or more.")
        if days < 1:
            raise CommandError("--days must be 1 or more.")

        cast = demo.ensure_cast()
        self._print_cast(cast)

        if rows is None:
            if ConnectionLog.objects.exists():
                self.stdout.write(
                    "Connection logs: the database already has some; none added "
                    "(use --rows N to add more)."
                )
                self._print_login()
                return
            rows = demo.DEFAULT_ROWS

        started = time.monotonic()
        report = demo.load(cast, rows, seed=seed, days=days, fast_over=fast_over)
        elapsed = time.monotonic() - started
        self._print_load(report, elapsed)
        self._print_login()

    def _print_cast(self, cast: demo.Cast) -> None:
        created = cast.created
        self.stdout.write(
            f"Organizations: {', '.join(cast.organizations)} ({created['organizations']} new)"
        )
        self.stdout.write(
            f"Users: {len(cast.users)} ({created['users']} new); memberships: "
            f"{created['memberships']} new; workspaces: {len(cast.workspaces)} "
            f"({created['workspaces']} new, one of them deleted)"
        )

    def _print_load(self, report: demo.LoadReport, elapsed: float) -> None:
        rate = report.rows / elapsed if elapsed > 0 else 0
        self.stdout.write(
            f"Connection logs: added {report.rows:,} rows via {report.method or '-'} on "
            f"{connection.vendor} in {elapsed:.1f}s ({rate:,.0f} rows/s)"
        )
        if report.rows:
            mix = ", ".join(f"{kind} {n:,}" for kind, n in report.by_type.most_common())
            self.stdout.write(f"  types: {mix}")
            self.stdout.write(
                f"  ongoing: {report.ongoing:,}; failed web requests (4xx/5xx): "
                f"{report.web_failures:,}; IPv4: {report.ipv4:,}; IPv6: {report.ipv6:,}"
            )

    def _print_login(self) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                f"Sign in as {demo.DEMO_OWNER} ({demo.DEMO_OWNER_EMAIL}) with password "
                f"{demo.DEMO_PASSWORD!r} (site owner; /admin/ too)."
            )
        )
        others = ", ".join(
            f"{person.username} ({self._role_text(person)})"
            for person in demo.PEOPLE
            if person.username != demo.DEMO_OWNER
        )
        self.stdout.write(f"Other demo accounts, same password: {others}")

    @staticmethod
    def _role_text(person: demo.Person) -> str:
        parts = list(person.site_roles)
        for org, org_roles in person.memberships.items():
            parts.append(f"{'+'.join(org_roles) or 'member'} of {org}")
        if person.status != "active":
            parts.append(person.status)
        return "; ".join(parts)
