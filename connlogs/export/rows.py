"""Reading every row of a search for an export, fast and in constant memory.

Both formats are built from ``connection_log_entry``, the one function that shapes a log row
(the read API reaches it through ``connection_log_json``), so an export says exactly what the
read API says. How rows are read, for the time to first byte and the rate:

* in keyset batches of ``CHUNK_SIZE`` rows, newest first: each batch is the rows after the
  previous batch's last one (``querysets.after``, the index walk of ``after_id`` paging), so
  the first bytes leave after one short query, and nothing is held open between batches: no
  server-side cursor (which in autocommit is a ``WITH HOLD`` cursor that PostgreSQL
  materialises whole before the first row), no long transaction, no temporary file;
* as plain tuples of the log table's own columns, without joins: the few organizations and
  users the rows name are fetched in bulk the first time a batch names them and shaped once
  per export (``api.row_entries``, the encoder the change feed and streams share), not
  joined and shaped again for every row.

Memory stays constant whatever the number of rows (a batch, and the organizations and users
seen), and there is no row cap. An export is not one snapshot: a row recorded while it runs
appears if it sorts after the batch being read, and a disconnect filled in meanwhile shows
in rows not yet read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, NamedTuple

from django.db.models import QuerySet

from connlogs.api.row_entries import Encoder, RowReader
from connlogs.models import User
from connlogs.privacy.identities import Identities

# Rows read per keyset batch (one query each).
CHUNK_SIZE = 2000


class _Key(NamedTuple):
    """The sort key of the last row of a batch, as ``querysets.after`` reads it."""

    id: Any
    connect_time: dt.datetime


def _batches(queryset: QuerySet, read: RowReader) -> Iterator[list[tuple]]:
    """The rows of ``queryset`` newest first, as ``COLUMNS`` tuples, in keyset batches."""
    ordered = queryset.newest_first()
    size = CHUNK_SIZE
    batch = read(ordered[:size])
    while batch:
        yield batch
        if len(batch) < size:
            return  # a short batch is the last: no query to learn that nothing follows
        last = batch[-1]
        batch = read(ordered.after(_Key(last[0], last[1]))[:size])


def _entries(encoder: Encoder, queryset: QuerySet) -> Iterator[dict]:
    """The read-contract entry of every row of ``queryset`` as ``encoder``'s viewer sees
    it, newest first."""
    for rows in _batches(queryset, encoder.read):
        encoder.learn(rows)
        yield from encoder.entries(rows)


class ExportRows:
    """The entries of an export, newest first, and what they showed so far: ``rows`` (a
    count), ``organizations`` (ids) and ``identities`` (the pseudonyms shown, reveals)."""

    def __init__(self, queryset: QuerySet, viewer: User, identities: Identities):
        self.identities = identities
        self._directory = Encoder(RowReader(queryset.db), viewer, identities)
        self._entries = _entries(self._directory, queryset)

    def __iter__(self) -> Iterator[dict]:
        return self._entries

    @property
    def rows(self) -> int:
        return self._directory.rows

    @property
    def organizations(self) -> list:
        return list(self._directory.organizations)


def stream_rows(
    queryset: QuerySet, viewer: User, identities: Identities | None = None
) -> ExportRows:
    """The entries of ``queryset``'s rows as ``viewer`` sees them (the user objects'
    ``organization_ids``; pseudonyms as ``identities`` shows them, by default as the
    viewer's), newest first, read in keyset batches."""
    return ExportRows(queryset, viewer, identities or Identities.for_viewer(viewer))
