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
  per export (``_Directory``), not joined and shaped again for every row.

Memory stays constant whatever the number of rows (a batch, and the organizations and users
seen), and there is no row cap. An export is not one snapshot: a row recorded while it runs
appears if it sorts after the batch being read, and a disconnect filled in meanwhile shows
in rows not yet read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, NamedTuple

from django.core.exceptions import EmptyResultSet
from django.db import InterfaceError, OperationalError, connections
from django.db.models import QuerySet

from connlogs import pgtypes, replication
from connlogs.api.serializers import (
    connection_log_entry,
    organization_ids_by_user,
    organization_json,
    user_json,
)
from connlogs.models import Organization, User
from connlogs.privacy.identities import Identities

# Rows read per keyset batch (one query each).
CHUNK_SIZE = 2000

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
_ORGANIZATION_FIELDS = ("id", "name", "display_name", "icon", "data_protection")
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
        try:
            return self._read(queryset)
        except (OperationalError, InterfaceError) as error:
            # A batch is a query of its own: when the replica goes away mid-export, the
            # next batches (this one again first) are read from the primary.
            fallback = replication.fallback_for(self.alias, error)
            if fallback is None:
                raise
            self.alias = fallback
            return self._read(queryset)

    def _read(self, queryset: QuerySet) -> list[tuple]:
        columns = queryset.values_list(*_COLUMNS)
        if self.loaders is None:
            return list(columns.using(self.alias))
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

    ``concealed`` holds the organizations whose rows ``identities`` shows with pseudonyms
    (data protection mode); their owners, users and addresses are shaped once each too.
    ``rows`` counts the entries made so far.
    """

    def __init__(self, read: _Rows, viewer: User, identities: Identities):
        self.read, self.key, self.viewer = read, read.key, viewer
        self.identities = identities
        self.organizations: dict[Any, dict] = {}
        self.usernames: dict[Any, str] = {}
        self.users: dict[Any, dict] = {}
        self.concealed: set = set()
        self.rows = 0
        # Pseudonyms, made on first use: (id text, username) of owners, user objects, addresses.
        self._owners: dict[Any, tuple[str, str]] = {}
        self._users: dict[Any, dict] = {}
        self._ips: dict[str, str] = {}

    def learn(self, rows: list[tuple]) -> None:
        organization_ids = {row[2] for row in rows}.difference(self.organizations)
        # Owners show only a username; web users show a user object (once per export).
        web_user_ids = {row[10] for row in rows if row[10] is not None}
        web_user_ids.difference_update(self.users)
        user_ids = {row[3] for row in rows}.difference(self.usernames) | web_user_ids
        key, identities = self.key, self.identities
        if organization_ids:
            found = Organization.objects.using(self.read.alias).filter(id__in=organization_ids)
            for organization in found.only(*_ORGANIZATION_FIELDS):
                self.organizations[key(organization.id)] = organization_json(organization)
                if identities.conceals(identities.protects(organization)):
                    self.concealed.add(key(organization.id))
        if not user_ids:
            return
        found_users = User.objects.using(self.read.alias).filter(id__in=user_ids)
        users = list(found_users.only(*_USER_FIELDS))
        shown = {user.id for user in users if key(user.id) in web_user_ids}
        memberships = organization_ids_by_user(shown, self.viewer)
        for user in users:
            self.usernames[key(user.id)] = user.username
            if user.id in shown:
                self.users[key(user.id)] = user_json(user, memberships.get(user.id, []))

    def owner(self, owner_id: Any) -> tuple[str, str]:
        """The pseudonymous id and username of a concealed row's owner."""
        found = self._owners.get(owner_id)
        if found is None:
            pseudonym = self.identities.user(owner_id)
            found = self._owners[owner_id] = (str(pseudonym.id), pseudonym.username)
        return found

    def user(self, user_id: Any) -> dict:
        """The pseudonymous user object of a concealed row's web user."""
        found = self._users.get(user_id)
        if found is None:
            real = self.users[user_id]
            stand_in = self.identities.stand_in(user_id, real["status"], real["login_type"])
            found = self._users[user_id] = user_json(stand_in, [])
        return found

    def ip(self, address: str) -> str:
        found = self._ips.get(address)
        if found is None:
            found = self._ips[address] = self.identities.ip(address)
        return found


def _entries(directory: _Directory, queryset: QuerySet) -> Iterator[dict]:
    """The read-contract entry of every row of ``queryset`` as ``directory``'s viewer sees
    it, newest first; a concealed row's owner, user and address are pseudonyms."""
    organizations, usernames, users, concealed = (
        directory.organizations,
        directory.usernames,
        directory.users,
        directory.concealed,
    )
    entry = connection_log_entry
    for rows in _batches(queryset, directory.read):
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
            directory.rows += 1
            if organization_id in concealed:
                owner_id, owner_name = directory.owner(owner_id)
                user = directory.user(user_id) if user_id is not None else None
                ip = directory.ip(ip) if ip else ip
            else:
                owner_name = usernames[owner_id]
                user = users[user_id] if user_id is not None else None
            yield entry(
                log_id,
                connect_time,
                organizations[organization_id],
                owner_id,
                owner_name,
                workspace_id,
                workspace_name,
                agent_name,
                ip,
                kind,
                user_agent,
                user,
                slug_or_port,
                code,
                connection_id,
                disconnect_time,
                disconnect_reason,
            )


class ExportRows:
    """The entries of an export, newest first, and what they showed so far: ``rows`` (a
    count), ``organizations`` (ids) and ``identities`` (the pseudonyms shown, reveals)."""

    def __init__(self, queryset: QuerySet, viewer: User, identities: Identities):
        self.identities = identities
        self._directory = _Directory(_Rows(queryset.db), viewer, identities)
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
