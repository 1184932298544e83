"""Migration operations that build indexes without locking a big log table on PostgreSQL.

On PostgreSQL an index is built ``CONCURRENTLY`` (no write lock while millions of rows are
indexed; the migration must be ``atomic = False``); other databases use the plain operation.
``RunSQLOnPostgres`` runs SQL that only PostgreSQL has (trigram indexes, extended statistics)
and does nothing elsewhere.

Once the log is partitioned (migration 0011, or ``manage.py partition_connection_log``),
PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY on it: an index is then built concurrently
on each partition and attached (``connlogs.storage.partitions.add_index_to_partitions``), and
dropped with a plain DROP INDEX (a catalog change).
"""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex, RunSQL


def _on_postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def _partitioned(schema_editor, model_name, state) -> bool:
    if not _on_postgres(schema_editor):
        return False
    from connlogs.storage.ddl import is_partitioned

    model = state.apps.get_model("connlogs", model_name)
    with schema_editor.connection.cursor() as cursor:
        return is_partitioned(cursor, model._meta.db_table)


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _partitioned(schema_editor, self.model_name, to_state):
            from connlogs.storage.partitions import add_index_to_partitions

            model = to_state.apps.get_model(app_label, self.model_name)
            return add_index_to_partitions(schema_editor, model, self.index)
        if _on_postgres(schema_editor):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgres(schema_editor):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrentlyOnPostgres(RemoveIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _partitioned(schema_editor, self.model_name, from_state):
            return RemoveIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )
        if _on_postgres(schema_editor):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgres(schema_editor):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RunSQLOnPostgres(RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
