"""Streaming exports of connection logs as CSV or NDJSON (shared/spec/export.md).

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
  per export (``_Directory``), not joined and shaped again for every row.

Memory stays constant whatever the number of rows (a batch, and the organizations and users
seen), and there is no row cap. An export is not one snapshot: a row recorded while it runs
appears if it sorts after the batch being read, and a disconnect filled in meanwhile shows
in rows not yet read.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from connlogs import pgtypes
from connlogs.api.serializers import (
    connection_log_entry,
    organization_ids_by_user,
    organization_json,
    user_json,
)
from connlogs.models import Organization, User

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "connect_time",
    "disconnect_time",
    "type",
    "organization",
    "workspace_owner",
    "workspace_name",
    "agent_name",
    "ip",
    "username",
    "user_email",
    "user_agent",
    "slug_or_port",
    "status_code",
    "exit_code",
    "disconnect_reason",
    "connection_id",
    "workspace_id",
)

CSV = "csv"
NDJSON = "ndjson"
CONTENT_TYPES: dict[str, str] = {
    CSV: "text/csv; charset=utf-8",
    NDJSON: "application/x-ndjson",
}
FORMATS: tuple[str, ...] = tuple(CONTENT_TYPES)

# Rows read per keyset batch (one query each).
CHUNK_SIZE = 2000
# Bytes gathered before a piece of the body is handed to the server: one write per row
# would make a million-row export a million tiny socket writes.
FLUSH_AT = 64 * 1024

# Spreadsheets run a cell that starts with one of these as a formula ...
_FORMULA_STARTS = ("=", "+", "-", "@")
# ... unless it is a plain number (a negative exit code stays a number).
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def neutralise(text: str) -> str:
    """A CSV cell a spreadsheet shows instead of running (``'=cmd`` instead of ``=cmd``)."""
    if text.startswith(_FORMULA_STARTS) and not _NUMBER.match(text):
        return "'" + text
    return text


def _cell(value) -> str:
    return "" if value is None else str(value)


def csv_cells(entry: dict) -> list[str]:
    """One CSV row, in ``CSV_COLUMNS`` order, from a row's read-contract entry."""
    web = entry.get("web_info") or {}
    ssh = entry.get("ssh_info") or {}
    user = web.get("user") or {}
    cells = [
        entry["id"],
        entry["connect_time"],
        ssh.get("disconnect_time"),
        entry["type"],
        entry["organization"]["name"],
        entry["workspace_owner_username"],
        entry["workspace_name"],
        entry["agent_name"],
        entry.get("ip"),
        user.get("username"),
        user.get("email"),
        web.get("user_agent"),
        web.get("slug_or_port"),
        web.get("status_code"),
        ssh.get("exit_code"),
        ssh.get("disconnect_reason"),
        ssh.get("connection_id"),
        entry["workspace_id"],
    ]
    return [neutralise(_cell(value)) for value in cells]


class _Line:
    """A file-like object whose ``write`` hands back what ``csv.writer`` wrote."""

    def write(self, text: str) -> str:
        return text


def _batched(pieces: Iterable[str]) -> Iterator[str]:
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= FLUSH_AT:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


# The log columns an entry is made of, in the order ``_entries`` unpacks them.
_COLUMNS = (
    "id",
    "connect_time",
    "organization_id",
    "workspace_owner_id",
    "workspace_id",
    "workspace_name",
    "agent_name",
    "ip",
    "type",
    "user_agent",
    "user_id",
    "slug_or_port",
    "code",
    "connection_id",
    "disconnect_time",
    "disconnect_reason",
)
_ORGANIZATION_FIELDS = ("id", "name", "display_name", "icon")
# What ``user_json`` shows (the owner's username among it); no password hash.
_USER_FIELDS = (
    "id",
    "username",
    "name",
    "email",
    "avatar_url",
    "created_at",
    "updated_at",
    "last_seen_at",
    "status",
    "login_type",
    "site_roles",
)
# ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` without building an encoder
# for every row; no cycle check (an entry is a tree).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class _Key(NamedTuple):
    """The sort key of the last row of a batch, as ``querysets.after`` reads it."""

    id: Any
    connect_time: dt.datetime


class _Rows:
    """Reads one batch query's rows as plain tuples in ``_COLUMNS`` order.

    On PostgreSQL the query Django compiles is run on a cursor whose loaders are psycopg's C
    ones (``pgtypes.c_loaders``; UUIDs as text, which is what the entry shows): the loading
    was a third of the export's time. Elsewhere ``values_list`` (SQLite needs Django's
    converters: its UUIDs and times are text).
    """

    def __init__(self, alias: str):
        self.alias = alias
        postgresql = connections[alias].vendor == "postgresql"
        self.loaders = pgtypes.c_loaders(uuid_as_text=True) if postgresql else None
        # Ids come back as text on PostgreSQL, as UUIDs elsewhere.
        self.key = str if self.loaders else _same

    def __call__(self, queryset: QuerySet) -> list[tuple]:
        columns = queryset.values_list(*_COLUMNS)
        if self.loaders is None:
            return list(columns)
        try:
            sql, params = columns.query.get_compiler(using=self.alias).as_sql()
        except EmptyResultSet:  # e.g. a caller who may read no organization: ``none()``
            return []
        with connections[self.alias].cursor() as cursor:
            pgtypes.use_loaders(cursor, self.loaders)
            cursor.execute(sql, params)
            return cursor.fetchall()


def _same(value: Any) -> Any:
    return value


def _batches(queryset: QuerySet, read: _Rows) -> Iterator[list[tuple]]:
    """The rows of ``queryset`` newest first, as ``_COLUMNS`` tuples, in keyset batches."""
    ordered = queryset.newest_first()
    size = CHUNK_SIZE
    batch = read(ordered[:size])
    while batch:
        yield batch
        if len(batch) < size:
            return  # a short batch is the last: no query to learn that nothing follows
        last = batch[-1]
        batch = read(ordered.after(_Key(last[0], last[1]))[:size])


class _Directory:
    """The organizations and users one export names, shaped once each, as ``viewer`` sees
    them.

    Filled per batch for the ids not seen before: one query per table, read from the
    database the rows come from (a replica's rows name the replica's users), and one for the
    memberships of the new web users (``organization_ids_by_user``, as the read API asks it
    once per page). Keyed like the rows' ids (``key``: text on PostgreSQL, UUIDs elsewhere).
    """

    def __init__(self, alias: str, key: Callable[[uuid.UUID], Any], viewer: User):
        self.alias, self.key, self.viewer = alias, key, viewer
        self.organizations: dict[Any, dict] = {}
        self.usernames: dict[Any, str] = {}
        self.users: dict[Any, dict] = {}

    def learn(self, rows: list[tuple]) -> None:
        organization_ids = {row[2] for row in rows}.difference(self.organizations)
        # Owners show only a username; web users show a user object (once per export).
        web_user_ids = {row[10] for row in rows if row[10] is not None}
        web_user_ids.difference_update(self.users)
        user_ids = {row[3] for row in rows}.difference(self.usernames) | web_user_ids
        key = self.key
        if organization_ids:
            found = Organization.objects.using(self.alias).filter(id__in=organization_ids)
            for organization in found.only(*_ORGANIZATION_FIELDS):
                self.organizations[key(organization.id)] = organization_json(organization)
        if not user_ids:
            return
        found = User.objects.using(self.alias).filter(id__in=user_ids).only(*_USER_FIELDS)
        users = list(found)
        shown = {user.id for user in users if key(user.id) in web_user_ids}
        memberships = organization_ids_by_user(shown, self.viewer)
        for user in users:
            self.usernames[key(user.id)] = user.username
            if user.id in shown:
                self.users[key(user.id)] = user_json(user, memberships.get(user.id, []))


def _entries(queryset: QuerySet, viewer: User) -> Iterator[dict]:
    """The read-contract entry of every row of ``queryset`` as ``viewer`` sees it, newest
    first."""
    read = _Rows(queryset.db)
    directory = _Directory(queryset.db, read.key, viewer)
    organizations, usernames, users = (
        directory.organizations,
        directory.usernames,
        directory.users,
    )
    entry = connection_log_entry
    for rows in _batches(queryset, read):
        directory.learn(rows)
        for (
            log_id,
            connect_time,
            organization_id,
            owner_id,
            workspace_id,
            workspace_name,
            agent_name,
            ip,
            kind,
            user_agent,
            user_id,
            slug_or_port,
            code,
            connection_id,
            disconnect_time,
            disconnect_reason,
        ) in rows:
            yield entry(
                log_id,
                connect_time,
                organizations[organization_id],
                owner_id,
                usernames[owner_id],
                workspace_id,
                workspace_name,
                agent_name,
                ip,
                kind,
                user_agent,
                users[user_id] if user_id is not None else None,
                slug_or_port,
                code,
                connection_id,
                disconnect_time,
                disconnect_reason,
            )


def csv_lines(entries: Iterable[dict]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries:
        yield writer.writerow(csv_cells(entry))


def ndjson_lines(entries: Iterable[dict]) -> Iterator[str]:
    for entry in entries:
        yield _encode(entry) + "\n"


def stream_rows(queryset: QuerySet, viewer: User) -> Iterator[dict]:
    """The entries of ``queryset``'s rows as ``viewer`` sees them (the user objects'
    ``organization_ids``), newest first, read in keyset batches."""
    return _entries(queryset, viewer)


def filename(fmt: str, now: dt.datetime | None = None) -> str:
    stamp = (now or timezone.now()).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"connection-log-{stamp}.{fmt}"


def export_response(queryset: QuerySet, fmt: str, viewer: User) -> StreamingHttpResponse:
    """A download of every row of ``queryset`` (already scoped and filtered) in ``fmt``, as
    ``viewer`` (the caller) sees it.

    Nothing is read from the database until the server starts sending the body.
    """
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown export format {fmt!r}")
    lines = csv_lines if fmt == CSV else ndjson_lines
    # A generator: the first query runs when the first piece of the body is asked for.
    body = _batched(lines(stream_rows(queryset, viewer)))
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename(fmt)}"'
    response["Cache-Control"] = "no-store"
    return response
