# The key table's insert trigger waits for a writer taking the same key over before it
# takes a key over itself (connlogs.storage.ddl, _INSERTED): replaces the trigger
# functions wherever migration 0011 (or an online conversion) installed them.

from django.db import migrations

from connlogs.storage import ddl


def replace_functions(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_proc WHERE proname = 'connlogs_log_rows_inserted'")
        if cursor.fetchone():
            ddl.install_functions(cursor)


class Migration(migrations.Migration):
    dependencies = [
        ("connlogs", "0016_savedview_description"),
    ]

    operations = [
        migrations.RunPython(replace_functions, migrations.RunPython.noop),
    ]
