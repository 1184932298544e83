"""``manage.py purge_connection_logs [--dry-run]``: delete connection logs past retention.

Run it periodically (README: "Retention"); it deletes the rows whose ``connect_time`` is
older than ``CONNLOGS_RETENTION``: on PostgreSQL the months wholly older are dropped as whole
partitions, the rest is deleted in batches of ``--batch-size`` rows, each batch its own short
transaction, so it can run while agents report events and people search. ``--dry-run`` says
which partitions and how many rows.

With ``CONNLOGS_RETENTION_GRANULARITY=partition`` (or ``--granularity partition``) only whole
calendar months go: the rows of the month the cutoff falls in stay, readable, until that
month is wholly past the window (``retention.deletion_cutoff``); the dry run says which and
until when. Keys of dropped months are cleared last, timed apart (``storage.keys``).
"""

from __future__ import annotations

import math
import time

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from connlogs import retention
from connlogs.storage.partitions import Partition
from connlogs.values import format_time


def _describe(partition: Partition) -> str:
    left = "" if partition.attached else ", detached by a purge that stopped"
    return (
        f"{partition.name} (connected from {format_time(partition.lower)} "
        f"to before {format_time(partition.upper)}{left})"
    )


class Command(BaseCommand):
    help = "Delete connection logs older than CONNLOGS_RETENTION (in short batches)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only report how many rows would be deleted, and from when to when.",
        )
        parser.add_argument(
            "--older-than",
            metavar="DURATION",
            help='Use this retention instead of CONNLOGS_RETENTION for this run, e.g. "90d".',
        )
        parser.add_argument(
            "--granularity",
            choices=retention.GRANULARITIES,
            help="Use this instead of CONNLOGS_RETENTION_GRANULARITY for this run.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.DEFAULT_BATCH_SIZE,
            help="Rows deleted per transaction (default %(default)s).",
        )
        parser.add_argument(
            "--pause",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Sleep between batches to leave I/O to the live workload (default 0).",
        )

    def handle(
        self,
        *args,
        dry_run: bool,
        older_than: str | None,
        granularity: str | None,
        batch_size: int,
        pause: float,
        **options,
    ) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        # Checked before any row goes: a bad pause once failed after the first batch.
        if not math.isfinite(pause) or pause < 0:
            raise CommandError(f"--pause must be a number of seconds, 0 or more (got {pause}).")
        try:
            if older_than is not None:
                period = retention.parse_retention(older_than)
                label = retention.describe(older_than)
            else:
                period = retention.retention_period()
                label = retention.describe(self._setting())
            how = granularity or retention.granularity()
        except (ValueError, ImproperlyConfigured) as error:
            raise CommandError(str(error)) from None
        if period is None:
            self.stdout.write(
                "Retention is not set (CONNLOGS_RETENTION): connection logs are kept forever; "
                "nothing to delete."
            )
            return

        window = retention.cutoff(period)
        before = retention.deletion_cutoff(window, how)
        if dry_run:
            if before != window:
                self._kept_past_window(before, window, period, label)
            self._dry_run(before, label, batch_size)
            return

        verbosity = options.get("verbosity", 1)

        def progress(batches: int, deleted: int) -> None:
            if verbosity >= 2:
                self.stdout.write(f"  batch {batches}: {deleted} deleted so far")
            if pause:
                time.sleep(pause)

        started = time.monotonic()
        result = retention.purge(before, batch_size=batch_size, on_batch=progress, clear_keys=False)
        for partition in result.dropped:
            self.stdout.write(f"Dropped partition {_describe(partition)}.")
        dropped = (
            f" and {len(result.dropped)} whole months (about {result.dropped_rows} rows)"
            if result.dropped
            else ""
        )
        self.stdout.write(
            f"Deleted {result.deleted} connection logs older than {label} "
            f"(before {format_time(before)}) in {result.batches} batches{dropped}, "
            f"{time.monotonic() - started:.1f} s."
        )
        if before != window:
            self.stdout.write(
                f"Kept the rows from {format_time(before)} to before {format_time(window)} "
                f"(granularity partition): they go with their month, "
                f"{format_time(retention.kept_until(window, period))}."
            )
        started = time.monotonic()
        cleared = retention.clear_stale_keys(before, batch_size=batch_size)
        if cleared:
            self.stdout.write(
                f"Cleared {cleared} connection keys of rows no longer kept, "
                f"{time.monotonic() - started:.1f} s."
            )

    def _kept_past_window(self, before, window, period, label: str) -> None:
        """What ``"partition"`` keeps past the window, readable, and until when."""
        kept = retention.expired(window).filter(connect_time__gte=before).count()
        self.stdout.write(
            f"Dry run: granularity partition: whole calendar months (UTC) are deleted. "
            f"{kept} connection logs connected from {format_time(before)} to before "
            f"{format_time(window)} are older than {label} but are kept, and stay readable "
            f"in the list, the API and exports, until their month goes at "
            f"{format_time(retention.kept_until(window, period))}."
        )

    def _dry_run(self, before, label: str, batch_size: int) -> None:
        """Which partitions would be dropped, and how many rows deleted one by one."""
        expired = retention.expired(before)
        dropped = retention.expired_partitions(before)
        for partition, rows in dropped:
            self.stdout.write(
                f"Dry run: would drop partition {_describe(partition)}, about {rows} rows."
            )
            expired = expired.exclude(
                connect_time__gte=partition.lower, connect_time__lt=partition.upper
            )
        count = expired.count()
        if not count:
            self.stdout.write(
                f"Dry run: no {'other ' if dropped else ''}connection logs older than {label} "
                f"(before {format_time(before)})."
            )
            return
        times = expired.order_by("connect_time").values_list("connect_time", flat=True)
        oldest, newest = times.first(), times.reverse().first()
        self.stdout.write(
            f"Dry run: would delete {count} connection logs older than {label} "
            f"(before {format_time(before)}), connected from {format_time(oldest)} to "
            f"{format_time(newest)}, in batches of {batch_size}."
        )

    @staticmethod
    def _setting() -> str:
        from django.conf import settings

        return settings.CONNLOGS_RETENTION
