"""``manage.py verify_access_log [--seal]``: check the access log's hash chain.

Exits 1 when an entry was changed or deleted (naming each), 0 when the chain is whole.
Entries not chained yet cannot be checked; ``--seal`` chains them first.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from connlogs.accesslog import chain


class Command(BaseCommand):
    help = "Check the access log's hash chain: exit 1 if an entry was changed or deleted."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--seal", action="store_true", help="Chain the pending entries before checking."
        )

    def handle(self, *args, seal: bool, **options) -> None:
        if seal:
            chain.seal_all()
        verdict = chain.verify()
        start = f"from entry {verdict.first_seq}" if verdict.first_seq else "no entries"
        if verdict.purged_through:
            start += f" (entries up to {verdict.purged_through} purged by retention)"
        self.stdout.write(f"checked {verdict.checked:,} chained entries, {start}")
        if verdict.head_seq:
            self.stdout.write(f"head: entry {verdict.head_seq}, hash {verdict.head_hash}")
        if verdict.unsealed:
            self.stdout.write(f"{verdict.unsealed:,} entries not chained yet (--seal chains them)")
        for problem in verdict.problems:
            self.stdout.write(f"PROBLEM: {problem}")
        if verdict.ok:
            self.stdout.write("OK: the chain is whole")
            return
        self.stdout.write(f"FAILED: {len(verdict.problems)} problem(s)")
        sys.exit(1)
