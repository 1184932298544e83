"""The read contract's entries of log rows read as plain tuples: the one encoder of every door
that reads many rows (the exports, the change feed, outbound streams).

``connection_log_entry`` (``api.serializers``) writes the shape; this module feeds it from
tuples of the log table's own columns (``COLUMNS``) instead of model instances, because
building a model, its organization, owner and user for every row was most of the cost of a
feed read (about 0.5 ms a row). The few organizations and users the rows name are fetched in
bulk the first time a batch names them and shaped once each (``Encoder``), as the list API's
``connection_log_json`` shapes them from the joined models: the same keys, in the same order,
with the same values.

Data protection mode: a row of an organization the ``Identities`` conceal shows its owner,
web user and address as pseudonyms (each made once per encoder); a protected row shown in
clear is noted as a reveal, once per organization.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

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

# The log columns an entry is made of, in the order ``Encoder.entries`` unpacks them; a
# reader may read more columns after these (the feed's seq and action).
COLUMNS = (
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
ID, CONNECT_TIME, ORGANIZATION_ID = 0, 1, 2
_WIDTH = len(COLUMNS)
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


class RowReader:
    """Reads a query's rows as plain tuples of ``COLUMNS`` (and ``extra`` columns after them).

    On PostgreSQL the query Django compiles is run on a cursor whose loaders are psycopg's C
    ones (``pgtypes.c_loaders``; UUIDs as text, which is what the entry shows): the loading
    was a third of the export's time. Elsewhere ``values_list`` (SQLite needs Django's
    converters: its UUIDs and times are text). A read from the replica that fails is read
    again from the primary (``replication.fallback_for``).
    """

    def __init__(self, alias: str, extra: tuple[str, ...] = ()):
        self.alias = alias
        self.columns = COLUMNS + extra
        postgresql = connections[alias].vendor == "postgresql"
        self.loaders = pgtypes.c_loaders(uuid_as_text=True) if postgresql else None
        # Ids come back as text on PostgreSQL, as UUIDs elsewhere.
        self.key = str if self.loaders else _same

    def __call__(self, queryset: QuerySet) -> list[tuple]:
        try:
            return self._read(queryset)
        except (OperationalError, InterfaceError) as error:
            # A batch is a query of its own: when the replica goes away mid-read, the
            # next batches (this one again first) are read from the primary.
            fallback = replication.fallback_for(self.alias, error)
            if fallback is None:
                raise
            self.alias = fallback
            return self._read(queryset)

    def _read(self, queryset: QuerySet) -> list[tuple]:
        columns = queryset.values_list(*self.columns)
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


class Encoder:
    """Makes the entries of rows read by ``read`` (a ``RowReader``) as ``viewer`` sees them
    (the user objects' ``organization_ids``), with pseudonyms as ``identities`` shows them.

    The organizations and users the rows name are shaped once each per encoder, filled per
    batch for the ids not seen before: one query per table, read from the
    database the rows come from (a replica's rows name the replica's users), and one for the
    memberships of the new web users (``organization_ids_by_user``, as the read API asks it
    once per page). Keyed like the rows' ids (``key``: text on PostgreSQL, UUIDs elsewhere).

    ``concealed`` holds the organizations whose rows ``identities`` shows with pseudonyms
    (data protection mode); their owners, users and addresses are shaped once each too.
    ``rows`` counts the entries made so far.
    """

    def __init__(self, read: RowReader, viewer: User, identities: Identities):
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
        """Fetch and shape the organizations and users of ``rows`` not seen before."""
        organization_ids = {row[2] for row in rows}.difference(self.organizations)
        # Owners show only a username; web users show a user object (once per encoder).
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

    def entries(self, rows: Iterable[tuple]) -> Iterator[dict]:
        """The read-contract entry of each of ``rows`` (tuples read by this encoder's reader:
        ``COLUMNS``, then extra columns, ignored), in their order; a concealed row's owner,
        user and address are pseudonyms. ``learn`` the rows first."""
        organizations, usernames, users, concealed = (
            self.organizations,
            self.usernames,
            self.users,
            self.concealed,
        )
        entry = connection_log_entry
        for row in rows:
            (
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
            ) = row[:_WIDTH] if len(row) > _WIDTH else row
            self.rows += 1
            if organization_id in concealed:
                owner_id, owner_name = self.owner(owner_id)
                user = self.user(user_id) if user_id is not None else None
                ip = self.ip(ip) if ip else ip
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
