"""The connection log's primary key: a UUID field that knows its row's time.

``LogIdField`` gives a new row a version-7 id made from its ``connect_time``
(``storage.ids``), and teaches the ORM's ``=``, ``IN`` and ``any`` (``LogIdAny``) on it to
add the time the ids
name: on PostgreSQL, where the table is partitioned by month on ``connect_time``,
``WHERE id = X`` alone would probe the id index of every partition; ``WHERE id = X AND
connect_time >= T AND connect_time < T + 1 ms`` is pruned to the one partition that holds
the row when the query is planned. Every door gets this without asking: the detail page, the
admin, ``after_id``, the exports' keyset. Ids that carry no time (v4, written before) and
values that are expressions or subqueries are left as they are. Other databases (SQLite keeps
one table) get the plain comparison.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import Exact, In, Lookup

from connlogs.storage import ids


class LogIdField(models.UUIDField):
    """A primary key of version-7 ids made from the row's ``time_field`` (an aware datetime).

    A row saved without an id gets ``ids.new_id(row.<time_field>)``; one given an id keeps it.
    """

    def __init__(self, *args, time_field: str = "connect_time", **kwargs):
        self.time_field = time_field
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.time_field != "connect_time":
            kwargs["time_field"] = self.time_field
        return name, path, args, kwargs

    def get_pk_value_on_save(self, instance) -> uuid.UUID | None:
        moment = getattr(instance, self.time_field, None)
        if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
            return ids.new_id(moment)
        return super().get_pk_value_on_save(instance)


def _time_condition(lookup, compiler, connection, values_) -> tuple[str, list]:
    """SQL bounding the lookup's row time by the times ``values_`` (ids) name: ``("", [])``
    when any of them names none, or the left side is not the log's own id column."""
    lhs = lookup.lhs
    if not isinstance(lhs, Col) or not isinstance(lhs.target, LogIdField) or not values_:
        return "", []
    lower, upper = ids.span(values_)
    time_field = lhs.target.model._meta.get_field(lhs.target.time_field)
    column, _ = compiler.compile(Col(lhs.alias, time_field))
    parts, params = [], []
    if lower is not None:
        parts.append(f"{column} >= %s")
        params.append(lower)
    if upper is not None:
        parts.append(f"{column} < %s")
        params.append(upper)
    return " AND ".join(parts), params


@LogIdField.register_lookup
class LogIdExact(Exact):
    """``id = X``, and on PostgreSQL the millisecond X names."""

    def as_postgresql(self, compiler, connection):
        sql, params = self.as_sql(compiler, connection)
        rhs = self.rhs if isinstance(self.rhs, uuid.UUID) else None
        extra, extra_params = _time_condition(self, compiler, connection, [rhs] if rhs else [])
        if not extra:
            return sql, params
        return f"({sql} AND {extra})", [*params, *extra_params]


@LogIdField.register_lookup
class LogIdIn(In):
    """``id IN (...)`` of values, and on PostgreSQL the span of times they name."""

    def as_postgresql(self, compiler, connection):
        sql, params = self.as_sql(compiler, connection)
        values_ = list(self.rhs) if isinstance(self.rhs, list | set | tuple) else []
        extra, extra_params = _time_condition(self, compiler, connection, values_)
        if not extra:
            return sql, params
        return f"({sql} AND {extra})", [*params, *extra_params]


class IdList:
    """Many log ids for ``id__any``: a plain holder, so that the ORM does not walk (and
    resolve) every value of a list of thousands when the filter is built."""

    def __init__(self, values):
        self.values = list(values)

    def __bool__(self) -> bool:
        return bool(self.values)


@LogIdField.register_lookup
class LogIdAny(Lookup):
    """``id__any=IdList([...])``: rows among many ids (a feed chunk's thousands), bound as one
    array literal (``id = ANY(%s::uuid[])``) instead of a placeholder each, and on PostgreSQL
    with the span of times they name, as ``IN`` has. Elsewhere ``id IN (...)``."""

    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if not self.rhs:
            raise EmptyResultSet
        prep = self.lhs.output_field.get_db_prep_value
        values = [prep(value, connection) for value in self.rhs.values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*params, *values]

    def as_postgresql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if not self.rhs:
            raise EmptyResultSet
        values = self.rhs.values
        # The array's text form: one string to bind, parsed by PostgreSQL.
        sql, params = f"{lhs} = ANY(%s::uuid[])", [*params, "{" + ",".join(map(str, values)) + "}"]
        extra, extra_params = _time_condition(self, compiler, connection, values)
        if not extra:
            return sql, params
        return f"({sql} AND {extra})", [*params, *extra_params]
