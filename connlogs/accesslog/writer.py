"""Writing a read's access-log entry while its response is being built.

A read's entry must be committed before the response leaves (a read whose entry cannot be
written fails instead of going unrecorded), but the response need not wait for it at the
point the door records it: the INSERT and its commit (a WAL flush: 1-2 ms after an idle
moment on a virtual disk, most of the entry's cost) can run in PostgreSQL while the door
counts, serializes and renders in Python. So, on PostgreSQL and when the request's
connection is in autocommit, ``append`` sends the entry's INSERT on a connection of the
request thread's own without waiting for it (libpq's asynchronous command processing,
``PQsendQueryParams``), and ``AccessLogWriteMiddleware`` collects its result
(``PQgetResult``) before the response goes out. No thread is involved: the request's
thread sends and collects, PostgreSQL works meanwhile. An entry that failed fails the
request: a database outage becomes the 503 every door answers (``handler500``), anything
else a 500.

Elsewhere the entry is saved at once on the request's connection: on SQLite, inside a
transaction (a test's, or a door's own: the entry commits or rolls back with it) and
outside a request under the middleware (a download's last line, a stream worker).
"""

from __future__ import annotations

import functools
import itertools
import re
import select
import threading

from django.core.signals import request_finished
from django.db import connection
from django.db.models.sql import InsertQuery
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.conninfo import make_conninfo
from psycopg.errors import OperationalError, error_from_result

from connlogs.models import AccessLogEntry

_thread = threading.local()


def insert(entry: AccessLogEntry) -> None:
    """Write unsaved ``entry`` now on the current connection: one INSERT, which commits by
    itself in autocommit (or with the transaction it is in)."""
    entry.save(force_insert=True)


@functools.cache
def _insert_sql() -> tuple[bytes, tuple]:
    """The INSERT of one entry with libpq's ``$n`` placeholders, as the ORM writes it, and
    the fields whose values fill them (the id is the database's: no caller needs it)."""
    meta = AccessLogEntry._meta
    fields = tuple(field for field in meta.local_concrete_fields if field is not meta.auto_field)
    query = InsertQuery(AccessLogEntry)
    query.insert_values(fields, [AccessLogEntry()])
    [(sql, _)] = query.get_compiler(connection=connection).as_sql()
    number = itertools.count(1)
    return re.sub("%s", lambda _: f"${next(number)}", sql).encode(), fields


def _insert_statement(entry: AccessLogEntry) -> tuple[bytes, list]:
    """``(sql, params)`` of ``entry``'s INSERT; the values prepared as the ORM prepares
    them for a save."""
    sql, fields = _insert_sql()
    return sql, [
        field.get_db_prep_save(field.pre_save(entry, True), connection) for field in fields
    ]


class _SideConnection:
    """The request thread's own PostgreSQL connection (autocommit), for entries only.

    Opened from Django's settings for ``default`` on first use, closed with Django's own
    connection of the thread (``request_finished``), and after any failure.
    """

    def __init__(self) -> None:
        self.pgconn: pq.PGconn | None = None
        self.sent = False
        self.dumper = Transformer()  # psycopg's adaptation of Python values, types cached

    def _open(self) -> pq.PGconn:
        if self.pgconn is not None and self._broken():
            self.close()
        if self.pgconn is None:
            known = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
            params = connection.get_connection_params()
            conninfo = make_conninfo(**{k: v for k, v in params.items() if k in known})
            pgconn = pq.PGconn.connect(conninfo.encode())
            if pgconn.status != pq.ConnStatus.OK:
                message = pgconn.error_message.decode(errors="replace")
                pgconn.finish()
                raise OperationalError(f"the access log's connection failed: {message}")
            self.pgconn = pgconn
        return self.pgconn

    def _broken(self) -> bool:
        """Whether the idle connection is gone, without a round trip: a server that ended it
        (a restart, a pooler's, ``pg_terminate_backend``) leaves its socket readable, and
        an idle connection that never listens is sent nothing else worth keeping it for.
        Django checks its own connection once per request (``CONN_HEALTH_CHECKS``); this
        is the side connection's check, so a server back after an outage fails no read."""
        if self.pgconn.status != pq.ConnStatus.OK:
            return True
        readable, _, _ = select.select([self.pgconn.socket], [], [], 0)
        return bool(readable)

    def send(self, entry: AccessLogEntry) -> None:
        """Send ``entry``'s INSERT; its result is collected by ``collect``."""
        if self.sent:
            self.collect()  # one command at a time on a connection
        sql, params = _insert_statement(entry)
        dumper = self.dumper
        values = dumper.dump_sequence(params, [PyFormat.AUTO] * len(params))
        try:
            self._open().send_query_params(
                sql, values, param_types=dumper.types, param_formats=dumper.formats
            )
        except BaseException:
            self.close()
            raise
        self.sent = True

    def collect(self) -> None:
        """Wait for the INSERT sent last; raise what PostgreSQL answered if it failed."""
        if not self.sent:
            return
        self.sent = False
        failure = None
        try:
            while (result := self.pgconn.get_result()) is not None:
                if result.status != pq.ExecStatus.COMMAND_OK and failure is None:
                    failure = error_from_result(result)
        except BaseException:
            self.close()
            raise
        if failure is None:
            return
        if self.pgconn.status == pq.ConnStatus.OK:
            raise failure
        self.close()
        if isinstance(failure, OperationalError):
            raise failure
        # libpq's own report of a connection lost without a word from the server (a pooler
        # restarting, a network cut) has no SQLSTATE, so psycopg would class it as a bare
        # DatabaseError and the read a 500; psycopg's connections raise OperationalError
        # for it, the outage that is a 503 at every door.
        raise OperationalError(str(failure)) from failure

    def close(self) -> None:
        if self.pgconn is not None:
            self.pgconn.finish()
        self.pgconn, self.sent = None, False


def _side() -> _SideConnection:
    side = getattr(_thread, "side", None)
    if side is None:
        side = _thread.side = _SideConnection()
    return side


def overlaps() -> bool:
    """Whether an entry appended now is written beside the response (see the module)."""
    return (
        getattr(_thread, "answering", False)
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


def append(entry: AccessLogEntry) -> None:
    """Write ``entry`` (unsaved) before the current response leaves: beside it when
    ``overlaps()``, else now. Raises what the INSERT raised when written now (Django's
    exception classes either way)."""
    if not overlaps():
        insert(entry)
        return
    with connection.wrap_database_errors:
        _side().send(entry)


def _collect() -> None:
    """Collect the INSERT this thread sent, if any (``_SideConnection.collect``)."""
    side = getattr(_thread, "side", None)
    if side is not None:
        with connection.wrap_database_errors:
            side.collect()


class AccessLogWriteMiddleware:
    """Holds each response until the access-log entry its request appended is committed;
    raises the entry's failure instead of answering (``handler500``: 503 for an outage).
    Placed inside the middlewares that add headers to every answer, so a failed entry's
    503 carries them too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        _thread.answering = True
        try:
            response = self.get_response(request)
        except BaseException:
            _settle()
            raise
        finally:
            _thread.answering = False
        _collect()
        return response


def _settle() -> None:
    """Collect the entry of a request that failed anyway: its own error is the one raised."""
    try:
        _collect()
    except Exception:  # noqa: BLE001 - the request's own failure is raised instead
        pass


def close() -> None:
    """Close this thread's side connection (the next entry opens a new one)."""
    side = getattr(_thread, "side", None)
    if side is not None:
        side.close()


def _close_with_django(**kwargs) -> None:
    # Django closed this thread's connection at the end of the request (CONN_MAX_AGE, an
    # error): the side connection follows, so it never outlives the rules for the first.
    if connection.connection is None:
        close()


def connect() -> None:
    """Hook the side connection's lifetime to Django's (``ConnlogsConfig.ready``); after
    Django's own ``close_old_connections``, which is connected first."""
    request_finished.connect(_close_with_django, dispatch_uid="connlogs.accesslog.writer")
