"""``manage.py seal_access_log``: chain the access-log entries not chained yet.

Workers chain new entries a few seconds after the reads they record; run this from cron
(every minute) so that entries recorded just before a worker went quiet are chained too.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from connlogs.accesslog import chain


class Command(BaseCommand):
    help = "Chain (seal) the access-log entries recorded since the last seal."

    def handle(self, *args, **options) -> None:
        sealed = chain.seal_all()
        self.stdout.write(f"sealed {sealed:,} access-log entr{'y' if sealed == 1 else 'ies'}")
