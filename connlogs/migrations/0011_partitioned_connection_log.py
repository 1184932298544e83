# The connection log past one table (docs/scaling.md, "Storage"):
#
# * the key table (one row per agent connection) and the hourly rollups, both kept by
#   database triggers in the writer's transaction;
# * on PostgreSQL, the log partitioned by month on connect_time (connlogs.storage.ddl):
#   converted in place while the table is small (CONNLOGS_PARTITION_IN_PLACE_MAX_ROWS, one
#   transaction holding its lock); a bigger table must first be converted online with
#   `manage.py partition_connection_log` (this migration then finds it done);
# * on SQLite, one plain table as before, with row triggers for the rollups.

import django.db.models as models

import connlogs.storage.fields
from django.conf import settings
from django.db import migrations
from django.utils import timezone

from connlogs.storage import conversion, ddl, rollups
from connlogs.storage.cells import COLUMNS

TOO_BIG = (
    "The connection log has more than {limit:,} rows: converting it in place would lock it "
    "for a long time. Convert it online first (`manage.py partition_connection_log all` while "
    "the app runs; docs/scaling.md), then migrate again. Or raise "
    "CONNLOGS_PARTITION_IN_PLACE_MAX_ROWS to convert it here, under its lock."
)


def create_tables(apps, schema_editor):
    """The key and rollup tables, as this code defines them, unless an online conversion
    made them already (so they are created outside the migration state of this step)."""
    conversion.create_derived_tables(schema_editor.connection)


def layout(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            for statement in rollups.sqlite_triggers():
                cursor.execute(statement)
            rollups.rebuild(connection=connection)
            return
        found = conversion.state(cursor)
        if found == "partitioned":
            ddl.install_triggers(cursor)
            return
        if found == "prepared":
            raise RuntimeError(
                "An online conversion of the connection log is under way: finish it with "
                "`manage.py partition_connection_log all`, then migrate."
            )
        limit = settings.CONNLOGS_PARTITION_IN_PLACE_MAX_ROWS
        if conversion.row_estimate(cursor, cap=limit) > limit:
            raise RuntimeError(TOO_BIG.format(limit=limit))
        conversion.convert_in_place(cursor, timezone.now())


def plain_layout(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        raise migrations.exceptions.IrreversibleError(
            "The partitioned connection log is not converted back."
        )
    with schema_editor.connection.cursor() as cursor:
        for name in rollups.SQLITE_TRIGGER_NAMES:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("connlogs", "0010_streams"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ConnectionKey",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "connection_id",
                                "workspace_id",
                                "agent_name",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("connection_id", models.UUIDField()),
                        ("workspace_id", models.UUIDField()),
                        ("agent_name", models.CharField(max_length=64)),
                        ("log_id", models.UUIDField()),
                        ("connect_time", models.DateTimeField()),
                    ],
                    options={
                        "indexes": [
                            models.Index(fields=["connect_time"], name="connection_key_time_idx")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ConnectionRollup",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "hour",
                                "organization_id",
                                "stripe",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("hour", models.DateTimeField()),
                        ("organization_id", models.UUIDField()),
                        ("stripe", models.SmallIntegerField(default=0)),
                        *[(column, models.IntegerField(default=0)) for column in COLUMNS],
                    ],
                ),
            ],
            database_operations=[migrations.RunPython(create_tables, migrations.RunPython.noop)],
        ),
        # New ids are made from connect_time by the field (no database default changes).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="connectionlog",
                    name="id",
                    field=connlogs.storage.fields.LogIdField(
                        editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
        ),
        migrations.RunPython(layout, plain_layout),
    ]
