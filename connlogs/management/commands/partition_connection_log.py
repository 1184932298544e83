"""``manage.py partition_connection_log STEP``: the plain PostgreSQL log partitioned online.

For a log too big to convert in place under its lock (migration 0011 refuses above
``CONNLOGS_PARTITION_IN_PLACE_MAX_ROWS`` rows), while the app keeps serving
(``connlogs.storage.conversion``; docs/scaling.md, "Moving an existing installation"):

  prepare    create the partitioned copy and mirror every change of the live table into it
  backfill   copy the rows that were there before, oldest first, in batches (resumable)
  verify     count both tables in one snapshot
  swap       put the copy in the live table's place (one short transaction)
  all        prepare (unless prepared), backfill, verify, swap
  drop-flat  drop the old table left by the swap
  reindex    rebuild the partitioned log's indexes one by one, writes going on (after a
             swap: the backfill built them row by row, about 45% larger than need be)
  status     say where the conversion is

Then run ``manage.py migrate``.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from connlogs.storage import conversion

STEPS = ("prepare", "backfill", "verify", "swap", "all", "drop-flat", "reindex", "status")


class Command(BaseCommand):
    help = "Convert the plain connection log to monthly partitions while the app runs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("step", choices=STEPS)
        parser.add_argument(
            "--batch-size",
            type=int,
            default=conversion.BACKFILL_BATCH,
            help="Rows copied per transaction (default %(default)s).",
        )

    def handle(self, *args, step: str, batch_size: int, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Only a PostgreSQL connection log is partitioned.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        with connection.cursor() as cursor:
            found = conversion.state(cursor)
        if step == "status":
            self.stdout.write(f"The connection log is {found}.")
            return
        if step == "drop-flat":
            conversion.drop_flat(connection)
            self.stdout.write(f"Dropped {conversion.FLAT_TABLE} (if it was there).")
            return
        if step == "reindex":
            self._reindex(found)
            return
        if found == "partitioned":
            raise CommandError("The connection log is partitioned already.")
        if step in ("prepare", "all") and found == "plain":
            started = time.monotonic()
            with transaction.atomic(), connection.cursor() as cursor:
                conversion.prepare(cursor, timezone.now())
            self.stdout.write(f"Prepared {conversion.NEXT_TABLE} in {_since(started)}.")
        elif step == "prepare":
            raise CommandError("A conversion is prepared already: run backfill.")
        elif found == "plain":
            raise CommandError("Nothing is prepared: run prepare first.")
        if step in ("backfill", "all"):
            self._backfill(batch_size)
        if step in ("verify", "all"):
            self._verify()
        if step in ("swap", "all"):
            started = time.monotonic()
            with transaction.atomic(), connection.cursor() as cursor:
                conversion.swap(cursor)
            self.stdout.write(
                f"Swapped in {_since(started)}: the connection log is partitioned; the old "
                f"table is {conversion.FLAT_TABLE}. Run `manage.py migrate` now."
            )

    def _backfill(self, batch_size: int) -> None:
        started = time.monotonic()
        verbosity = self.verbosity

        def progress(total: int) -> None:
            if verbosity >= 2:
                self.stdout.write(f"  {total} rows copied")

        total = conversion.backfill(size=batch_size, on_batch=progress)
        self.stdout.write(f"Backfilled {total} rows in {_since(started)}.")

    def _reindex(self, found: str) -> None:
        if found != "partitioned":
            raise CommandError("Only a partitioned connection log is reindexed: swap first.")
        started = time.monotonic()

        def rebuilt(name: str, before: int, after: int) -> None:
            self.stdout.write(f"  {name}: {_size(before)} -> {_size(after)}")

        with connection.cursor() as cursor:
            before, after = conversion.reindex(cursor, on_index=rebuilt)
        self.stdout.write(
            f"Reindexed in {_since(started)}: {_size(before)} -> {_size(after)} of indexes."
        )

    def _verify(self) -> None:
        with connection.cursor() as cursor:
            live, copied = conversion.counts(cursor)
        if live != copied:
            raise CommandError(f"The copy has {copied} rows, the live table {live}: not swapped.")
        self.stdout.write(f"Verified: {live} rows in both.")

    def execute(self, *args, **options):
        self.verbosity = options.get("verbosity", 1)
        return super().execute(*args, **options)


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"


def _size(count: int) -> str:
    return f"{count / 2**20:,.1f} MiB"
