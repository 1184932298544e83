"""``manage.py connection_log_partitions``: the log's monthly partitions, made ahead.

Run it from cron or the worker (hourly or daily; README "Retention", docs/scaling.md): it
makes the partitions of this month and the next ``--ahead`` months that are missing (moving
rows that reached the DEFAULT partition into their month), folds the rollup stripes of past
hours, and lists the layout. It does nothing where the log is not partitioned (SQLite).
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from connlogs.storage import ddl, partitions, rollups
from connlogs.values import format_time, parse_rfc3339

# Rollup hours older than this are folded into one stripe.
COMPACT_AFTER = dt.timedelta(hours=2)


class Command(BaseCommand):
    help = "Make the connection log's monthly partitions ahead of time (PostgreSQL)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--ahead",
            type=int,
            default=partitions.AHEAD_MONTHS,
            help="Months after this one to make (default %(default)s).",
        )
        parser.add_argument(
            "--since",
            metavar="TIME",
            help="Also make the months from this RFC 3339 time on (e.g. before a bulk load).",
        )

    def handle(self, *args, ahead: int, since: str | None, **options) -> None:
        if ahead < 0:
            raise CommandError("--ahead must be 0 or more.")
        try:
            first = parse_rfc3339(since) if since else None
        except ValueError as error:
            raise CommandError(f"--since: {error}") from None
        if connection.vendor != "postgresql":
            self.stdout.write("The connection log is one table here (not PostgreSQL).")
            return
        with connection.cursor() as cursor:
            if not ddl.is_partitioned(cursor):
                raise CommandError(
                    "The connection log is not partitioned yet: run `manage.py migrate` "
                    "(or `manage.py partition_connection_log all` for a big one)."
                )
        now = timezone.now()
        for name in partitions.ensure(now, ahead=ahead, since=first):
            self.stdout.write(f"Made partition {name}.")
        with transaction.atomic():
            folded = rollups.compact(now - COMPACT_AFTER)
        if folded:
            self.stdout.write(f"Folded {folded} rollup rows into their hour's first stripe.")
        with connection.cursor() as cursor:
            for partition in partitions.partitions(cursor):
                if partition.is_default:
                    self.stdout.write(f"  {partition.name}: DEFAULT (any other time)")
                else:
                    self.stdout.write(
                        f"  {partition.name}: {format_time(partition.lower)} to before "
                        f"{format_time(partition.upper)}"
                    )
