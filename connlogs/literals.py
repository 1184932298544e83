"""Which values a search writes into its SQL instead of binding them (PostgreSQL only).

The app's PostgreSQL connections bind parameters on the server and prepare a statement that
runs again, so PostgreSQL may run one generic plan for every value of a search
(project/settings.py; docs/scaling.md, "Prepared searches"). A generic plan is made without
the values, so it cannot prove that a partial index applies when the index's predicate
compares a bound value: ``type IN ($1, $2, $3, $4)`` does not imply ``cl_ongoing_cover_idx``'s
``type IN ('jetbrains', …)``, and ``status:ongoing``'s capped count at 30M rows read 110 ms
instead of 0.3 ms.

So the values that the partial indexes' predicates compare are written as SQL literals:
a connection's ``type``, its ``code`` (HTTP status or exit code) and a session's length
(``disconnect_time - connect_time``). They are a closed vocabulary (seven types) or typed
numbers, never free text, and a literal is written only for an ``int``, an aware
``datetime``, a ``timedelta``, a ``UUID`` or a lower-case word (``[a-z_]``); anything else
stays a parameter. Owners, workspaces, users, times and text stay bound, so a search for one
owner reuses the plan made for another. Three exceptions:

* ``active_after:``'s times: it ORs three index paths whose best mix depends on the instant,
  and its generic plan guessed a third of the log and went parallel (its capped count at
  30M: 19 ms against 7 planned for the value).
* organization ids (``organization:`` and every reader's scope, ``visible_to``):
  organizations differ in size by 30× and more, so PostgreSQL kept planning each search for
  its organization (the generic plan's estimate was the costlier), 2 ms of a 4 ms page at
  30M. Written, each organization's search is its own statement, prepared and planned once
  on a connection (the ids sorted, so the same organizations are the same SQL). There are
  as many statements as organizations searched in the shapes searched; psycopg keeps at
  most 100 a connection and drops the least used (which are then planned again).
* the month an unfiltered list reads first (``querysets._month_of``): one statement a
  month, pruned to that month's partitions when it is planned.
* an ``ip:`` network (``lookups.IPWithin``): ``<<=`` becomes an index range only for a
  constant.

SQLite has no plan cache: its SQL is unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from django.db.models import Value, lookups
from django.db.models.fields import related_lookups

_WORD = re.compile(r"[a-z_]{1,32}")


def literal(value) -> str | None:
    """``value`` as PostgreSQL literal text, or None when it must stay a bound parameter:
    an ``int``, an aware ``datetime``, a ``timedelta``, a ``UUID`` or a word of ``[a-z_]``
    (1-32)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, dt.datetime) and value.utcoffset() is not None:
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, dt.timedelta):
        return (
            f"'{value.days} days {value.seconds} seconds "
            f"{value.microseconds} microseconds'::interval"
        )
    if isinstance(value, str) and _WORD.fullmatch(value):
        return f"'{value}'"
    return None


def _written(sql: str, params) -> tuple[str, tuple]:
    """``(sql, params)`` with every parameter written into ``sql`` when all of them can be
    (``literal``), else unchanged."""
    written = [literal(value) for value in params]
    if not params or None in written or "%%" in sql:
        return sql, params
    return sql % tuple(written), ()


class WrittenValues:
    """A lookup mixin: on PostgreSQL, its values written into its SQL (``_written``)."""

    def as_postgresql(self, compiler, connection):
        return _written(*self.as_sql(compiler, connection))


class Written(Value):
    """A value compared in a lookup (``Q(connect_time__gte=Written(start))``) and written
    into the SQL on PostgreSQL when ``literal`` can write it; bound elsewhere."""

    def as_postgresql(self, compiler, connection):
        return _written(*self.as_sql(compiler, connection))


class Exact(WrittenValues, lookups.Exact):
    pass


class In(WrittenValues, lookups.In):
    pass


class GreaterThan(WrittenValues, lookups.GreaterThan):
    pass


class GreaterThanOrEqual(WrittenValues, lookups.GreaterThanOrEqual):
    pass


class LessThan(WrittenValues, lookups.LessThan):
    pass


class LessThanOrEqual(WrittenValues, lookups.LessThanOrEqual):
    pass


class RelatedExact(WrittenValues, related_lookups.RelatedExact):
    pass


class RelatedIn(WrittenValues, related_lookups.RelatedIn):
    pass


COMPARISONS = (Exact, In, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual)
# A foreign key's lookups also take model instances (``organization=org``).
RELATED_COMPARISONS = (RelatedExact, RelatedIn)


def write_values_of(*fields) -> None:
    """Make ``fields`` (model field instances) write their compared values as literals: their
    ``exact``, ``in``, ``gt``, ``gte``, ``lt`` and ``lte`` lookups, a foreign key's ``exact``
    and ``in`` (Django's instance lookups, so the model's state and migrations do not
    change)."""
    for field in fields:
        for lookup in RELATED_COMPARISONS if field.is_relation else COMPARISONS:
            field.register_lookup(lookup)
