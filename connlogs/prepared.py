"""Prepared statements outliving a schema change (PostgreSQL).

The app's connections prepare a statement at its third run (project/settings.py; docs/
scaling.md, "Prepared searches"). If a migration then changes the type of a column such a
statement returns, PostgreSQL refuses to run it again ("cached plan must not change result
type", SQLSTATE 0A000): it re-plans for added indexes, attached or dropped months and renamed
tables, but never changes a prepared statement's result type. psycopg forgets its prepared
statements only when its own connection runs DDL, so every old connection would fail that
query until ``CONN_MAX_AGE`` closes it.

``replan_after_schema_change`` (an execute wrapper on every PostgreSQL connection) answers
that error by deallocating the connection's prepared statements (``DEALLOCATE ALL``, which
psycopg sees and empties its cache for) and running the statement once more, outside a
transaction. Inside one, the transaction is already failed: the error is raised as before and
the connection is closed at the end of the request, so the next one starts clean.
"""

from __future__ import annotations

from django.db import NotSupportedError

RESULT_TYPE_CHANGED = "cached plan must not change result type"


def replan_after_schema_change(execute, sql, params, many, context):
    """Django execute wrapper (``connection.execute_wrapper``'s signature): runs the
    statement; on ``RESULT_TYPE_CHANGED`` deallocates the connection's prepared statements and
    retries once in autocommit, else marks the connection to be closed and re-raises."""
    try:
        return execute(sql, params, many, context)
    except NotSupportedError as error:
        if RESULT_TYPE_CHANGED not in str(error):
            raise
        connection = context["connection"]
        if connection.in_atomic_block or not connection.get_autocommit():
            connection.close_at = 0  # closed by close_if_unusable_or_obsolete after the request
            raise
        context["cursor"].cursor.execute("DEALLOCATE ALL")
        return execute(sql, params, many, context)


def install(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: the wrapper on each new PostgreSQL connection (once:
    Django keeps one wrapper object per thread across reconnects)."""
    if connection.vendor != "postgresql":
        return
    if replan_after_schema_change not in connection.execute_wrappers:
        connection.execute_wrappers.append(replan_after_schema_change)
