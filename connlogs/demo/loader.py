"""Writing demo rows: through the single writer (``record_events``) or in bulk (COPY)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from connlogs.demo.generator import DEFAULT_DAYS, DemoRow, RowGenerator
from connlogs.demo.people import Cast
from connlogs.ingest import CONNECT, record_events
from connlogs.models import CONNECTION_LOG_COLUMNS, ConnectionLog
from connlogs.storage import ids, partitions

DEFAULT_ROWS = 3000
# Above this many rows the loader writes rows directly instead of through record_events.
DEFAULT_FAST_OVER = 20_000
EVENT_BATCH = 1000


@dataclass
class LoadReport:
    """What a load wrote: rows, by type, ongoing sessions, failed web requests (status
    400 and up), rows by address family, and the method (``record_events``, ``COPY`` or
    ``bulk_create``)."""

    rows: int = 0
    by_type: Counter = field(default_factory=Counter)
    ongoing: int = 0
    web_failures: int = 0
    ipv6: int = 0
    ipv4: int = 0
    method: str = ""

    def count(self, row: DemoRow) -> None:
        """Add one row to the counts."""
        self.rows += 1
        self.by_type[row.type] += 1
        if row.is_ongoing:
            self.ongoing += 1
        if row.is_web and row.code >= 400:
            self.web_failures += 1
        if row.ip is not None:
            if ":" in row.ip:
                self.ipv6 += 1
            else:
                self.ipv4 += 1


def _counted(rows: Iterable[DemoRow], report: LoadReport) -> Iterator[DemoRow]:
    for row in rows:
        report.count(row)
        yield row


def write_through_events(rows: Iterable[DemoRow], report: LoadReport) -> None:
    """Send the rows as events, oldest first, through the single writer."""
    sent = []
    for row in _counted(rows, report):
        sent.extend(row.events())
    # Reporters stream events as they happen; a connect always precedes its disconnect.
    sent.sort(key=lambda event: (event["time"], event["action"] != CONNECT))
    for start in range(0, len(sent), EVENT_BATCH):
        record_events(sent[start : start + EVENT_BATCH], max_events=EVENT_BATCH)
    report.method = "record_events"


COPY_COLUMNS = CONNECTION_LOG_COLUMNS
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_CHUNK = 20_000


class _CopyText:
    """Rows in PostgreSQL's COPY text format (tab separated, ``\\N`` for NULL)."""

    def __init__(self) -> None:
        self._escaped: dict[str, str] = {}
        self._workspace: dict = {}

    def text(self, value: str) -> str:
        found = self._escaped.get(value)
        if found is None:
            found = self._escaped[value] = value.translate(_COPY_ESCAPES)
        return found

    def line(self, row: DemoRow, row_id: uuid.UUID) -> str:
        ws = row.workspace
        where = self._workspace.get((ws.id, row.agent_name))
        if where is None:
            where = self._workspace[(ws.id, row.agent_name)] = "\t".join(
                [
                    str(ws.organization_id),
                    str(ws.owner_id),
                    str(ws.id),
                    self.text(ws.name),
                    self.text(row.agent_name),
                ]
            )
        null = "\\N"
        return "\t".join(
            [
                str(row_id),
                row.connect_time.isoformat(),
                where,
                row.ip or null,
                row.type,
                null if row.code is None else str(row.code),
                self.text(row.user_agent),
                null if row.user_id is None else str(row.user_id),
                self.text(row.slug_or_port),
                null if row.connection_id is None else str(row.connection_id),
                null if row.disconnect_time is None else row.disconnect_time.isoformat(),
                self.text(row.reason),
            ]
        )


def _model(row: DemoRow, row_id: uuid.UUID) -> ConnectionLog:
    ws = row.workspace
    return ConnectionLog(
        id=row_id,
        connect_time=row.connect_time,
        organization_id=ws.organization_id,
        workspace_owner_id=ws.owner_id,
        workspace_id=ws.id,
        workspace_name=ws.name,
        agent_name=row.agent_name,
        ip=row.ip,
        type=row.type,
        code=row.code,
        user_agent=row.user_agent,
        user_id=row.user_id,
        slug_or_port=row.slug_or_port,
        connection_id=row.connection_id,
        disconnect_time=row.disconnect_time,
        disconnect_reason=row.reason,
    )


def write_bulk(
    rows: Iterable[DemoRow],
    report: LoadReport,
    new_id: Callable[[dt.datetime], uuid.UUID] = ids.new_id,
) -> None:
    """Write rows straight into the table, in one transaction: COPY on PostgreSQL. Each
    row's id is ``new_id(connect_time)`` (a version-7 id of that time, as ingest's)."""
    rows = _counted(rows, report)
    table = ConnectionLog._meta.db_table
    # VACUUM cannot run inside a transaction (the tests run in one): ANALYZE alone then.
    outer_transaction = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            fmt = _CopyText()
            columns = ", ".join(COPY_COLUMNS)
            with connection.cursor() as cursor:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    chunk = []
                    for row in rows:
                        chunk.append(fmt.line(row, new_id(row.connect_time)))
                        if len(chunk) >= COPY_CHUNK:
                            copy.write("\n".join(chunk) + "\n")
                            chunk = []
                    if chunk:
                        copy.write("\n".join(chunk) + "\n")
                if outer_transaction:
                    cursor.execute(f"ANALYZE {table}")
            report.method = "COPY"
        else:
            batch = []
            for row in rows:
                batch.append(_model(row, new_id(row.connect_time)))
                if len(batch) >= 2000:
                    ConnectionLog.objects.bulk_create(batch)
                    batch = []
            if batch:
                ConnectionLog.objects.bulk_create(batch)
            report.method = "bulk_create"
    if connection.vendor == "postgresql" and not outer_transaction:
        # Fresh statistics so the planner knows the table is big now, and a visibility map
        # so counts and id lookups can be index-only scans from the first request.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def load(
    cast: Cast,
    count: int,
    *,
    seed: int,
    days: int = DEFAULT_DAYS,
    fast_over: int = DEFAULT_FAST_OVER,
    now: dt.datetime | None = None,
) -> LoadReport:
    """Add ``count`` rows: through record_events, or directly above ``fast_over`` rows."""
    now = now or timezone.now()
    # The months the rows fall in (PostgreSQL; rows outside them would sit in the DEFAULT
    # partition).
    partitions.ensure(now, since=now - dt.timedelta(days=days))
    generator = RowGenerator(cast, seed=seed, now=now, days=days)
    report = LoadReport()
    rows = generator.rows(count)
    if count > fast_over:
        write_bulk(rows, report)
    else:
        write_through_events(rows, report)
    return report
