# Covering connection-log indexes (bench/README.md has the EXPLAIN evidence).
#
# * cl_org_time_cover_idx replaces cl_org_time_idx: the same order plus type and
#   disconnect_time, so capped counts of "organization (or an auditor's scope) + type/status"
#   are index-only scans.
# * cl_ongoing_cover_idx replaces cl_ongoing_time_idx: the open-session index also carries
#   type and organization ("status:ongoing type:ssh" counts without visiting the table).
#
# On PostgreSQL the indexes are built CONCURRENTLY (no write lock while a big table is
# indexed: ~1 min at 10M rows) and each new index exists before the one it replaces is
# dropped, so reads never lose their index. Other databases use the plain operations.
#
# Later migrations use these operations too. Once the log is partitioned (0007), PostgreSQL
# refuses CREATE/DROP INDEX CONCURRENTLY on it: an index is then built concurrently on each
# partition and attached (connlogs.storage.ddl.add_index_to_partitions), and dropped with a
# plain DROP INDEX (a catalog change).

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex, RemoveIndex


def _partitioned(schema_editor, model_name, state) -> bool:
    if schema_editor.connection.vendor != "postgresql":
        return False
    from connlogs.storage.ddl import is_partitioned

    model = state.apps.get_model("connlogs", model_name)
    with schema_editor.connection.cursor() as cursor:
        return is_partitioned(cursor, model._meta.db_table)


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _partitioned(schema_editor, self.model_name, to_state):
            from connlogs.storage.ddl import add_index_to_partitions

            model = to_state.apps.get_model(app_label, self.model_name)
            return add_index_to_partitions(schema_editor, model, self.index)
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrentlyOnPostgres(RemoveIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _partitioned(schema_editor, self.model_name, from_state):
            return RemoveIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("connlogs", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="connectionlog",
            index=models.Index(
                fields=["organization", "-connect_time", "-id", "type", "disconnect_time"],
                name="cl_org_time_cover_idx",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(
            model_name="connectionlog",
            name="cl_org_time_idx",
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="connectionlog",
            index=models.Index(
                condition=models.Q(
                    ("disconnect_time__isnull", True),
                    ("type__in", ["jetbrains", "reconnecting_pty", "ssh", "vscode"]),
                ),
                fields=["-connect_time", "-id", "type", "organization"],
                name="cl_ongoing_cover_idx",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(
            model_name="connectionlog",
            name="cl_ongoing_time_idx",
        ),
    ]
