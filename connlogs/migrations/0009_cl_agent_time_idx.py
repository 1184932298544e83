# agent:<name> walks the agent's rows in time order (bench/search_cases.py, case "agent": at
# 10M rows the trigram index of free text collected and sorted all ~44,000 rows of a common
# agent name for a page of 100, 1.1 s). PostgreSQL only: on SQLite the search folds case
# with a Python function no index can hold. The name itself is included so that a capped
# count is an index-only scan (PostgreSQL reads an expression index alone only when the
# expression's columns are in it).

from django.db import migrations

from connlogs.schema_ops import RunSQLOnPostgres


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("connlogs", "0008_change_feed_and_saved_views"),
    ]

    operations = [
        RunSQLOnPostgres(
            sql=(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS cl_agent_time_idx "
                "ON connlogs_connectionlog (LOWER(agent_name), connect_time DESC, id DESC) "
                "INCLUDE (agent_name)"
            ),
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS cl_agent_time_idx",
        ),
    ]
