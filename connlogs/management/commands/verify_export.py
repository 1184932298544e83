"""``manage.py verify_export FILE [SIDECAR]``: is FILE exactly an export connlogs produced?

An NDJSON export carries its provenance in its last line; a CSV export has a checksum file
(``<file>.sha256``, from "My downloads" or the API), read when given. Either way the file's
SHA-256 must be that of an export in the access log. Exits 0 and says when, by whom, with
which search and how many rows; exits 1 and says why not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from connlogs.accesslog.provenance import check_export


class Command(BaseCommand):
    help = "Check that an exported file is exactly what connlogs produced, and say when."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="The exported CSV or NDJSON file.")
        parser.add_argument("sidecar", nargs="?", help="A CSV export's .sha256 file.")

    def handle(self, *args, file: str, sidecar: str | None, **options) -> None:
        try:
            data = Path(file).read_bytes()
            sidecar_text = Path(sidecar).read_text("utf-8") if sidecar else None
        except OSError as error:
            raise CommandError(str(error)) from None
        check = check_export(data, sidecar_text)
        self.stdout.write(f"{file}: SHA-256 {check.sha256}")
        entry = check.entry
        if entry is not None:
            token = f" (token {json.dumps(entry.token_name)})" if entry.token_name else ""
            chained = f"chained as #{entry.seq}" if entry.seq else "not chained yet"
            self.stdout.write(
                f"export {entry.export_name}: {entry.get_export_status_display()}, "
                f"{entry.rows:,} rows of q {json.dumps(entry.q, ensure_ascii=False)}, "
                f"made for {entry.username or 'nobody'}{token} through {entry.door}, "
                f"recorded {entry.time.isoformat()} as access-log entry {entry.pk} ({chained})"
            )
        for problem in check.problems:
            self.stdout.write(f"PROBLEM: {problem}")
        if check.ok and entry.export_status == entry.ExportStatus.COMPLETE:
            self.stdout.write("OK: this is exactly the file connlogs produced")
            return
        if check.ok:
            self.stdout.write("INCOMPLETE: what connlogs produced before the export stopped")
        else:
            self.stdout.write("FAILED: not exactly a file connlogs produced")
        sys.exit(1)
