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

from django.db import migrations, models

from connlogs.schema_ops import (
    AddIndexConcurrentlyOnPostgres,
    RemoveIndexConcurrentlyOnPostgres,
)


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
