"""``manage.py purge_access_log [--dry-run]``: delete access-log entries past retention.

``CONNLOGS_ACCESS_LOG_RETENTION`` (default: the connection log's retention plus 365 days);
the purge leaves a retention entry in the chain so that ``verify_access_log`` can tell it
from a deletion (``connlogs.accesslog.retention``).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from connlogs.accesslog import retention


class Command(BaseCommand):
    help = "Delete access-log entries older than CONNLOGS_ACCESS_LOG_RETENTION."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Only report what would be deleted."
        )

    def handle(self, *args, dry_run: bool, **options) -> None:
        try:
            found = retention.purge(dry_run=dry_run)
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        if found.cutoff is None:
            self.stdout.write("the access log is kept forever: nothing to delete")
            return
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {found.entries:,} entries recorded before {found.cutoff.isoformat()}"
            + (f" (up to chain position {found.through})" if found.through else "")
        )
