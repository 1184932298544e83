# Indexes for the search language's own keys (docs/search.md; plans and sizes in
# bench/README.md, "The search language").
#
# Portable (in ConnectionLog.Meta.indexes, also built on SQLite):
# * (cl_ip_time_idx, migration 0006: ip:<address> walks it in order; ip:<CIDR> is a range.)
# * cl_ws_name_time_idx     workspace:<name> and workspace:<owner>/<name>.
# * cl_failed_time_idx      result:failed, exit_code:.
# * cl_web_failed_time_idx  status_code: of 400 and above (web failures are ~2% of rows).
#
# PostgreSQL only (plain SQL, no model state):
# * cl_long_session_idx     duration:>… : agent sessions that lasted an hour or more, and the
#                           open ones, newest first.
# * cl_session_end_idx      active_after: the sessions of an hour or more that ended after a
#                           time (shorter ones are found by connect time).
# * pg_trgm, cl_text_trgm_idx  free text: a trigram index on the row's own text (the same
#                           expression as connlogs.search.lookups.RowText).
# * cl_type_disconnect_stats  extended statistics: open sessions are ~0.3% of rows, but the
#                           planner multiplied "disconnect_time IS NULL" (~22%, web rows have
#                           none) by the agent types' share and expected ~17%, so the capped
#                           count of an active_after window read the table from its start.
# * cl_owner_workspace_stats  extended statistics: an owner's rows are mostly of a few of their
#                           workspaces; without them the planner expected a busy
#                           workspace:<owner>/<name> to have 40 rows (3,000 at 1M) and sorted
#                           them all instead of walking the owner's rows in order.
#
# On PostgreSQL the indexes are built CONCURRENTLY (no write lock). pg_trgm is a trusted
# extension (PostgreSQL 13+): the database's owner may create it.

from django.db import migrations, models
from django.db.models import Q

from connlogs.schema_ops import AddIndexConcurrentlyOnPostgres, RunSQLOnPostgres

AGENT_TYPES = "('jetbrains', 'reconnecting_pty', 'ssh', 'vscode')"
ROW_TEXT = (
    "(\"workspace_name\" || ' ' || \"agent_name\" || ' ' || \"slug_or_port\" || ' ' || "
    "COALESCE(HOST(\"ip\"), ''))"
)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("connlogs", "0006_cl_ip_time_idx"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="connectionlog",
            index=models.Index(
                fields=["workspace_name", "-connect_time", "-id", "workspace_owner"],
                name="cl_ws_name_time_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="connectionlog",
            index=models.Index(
                condition=Q(
                    Q(("code__gte", 400), ("type__in", ["port_forwarding", "tunnel", "workspace_app"])),
                    Q(
                        ("type__in", ["jetbrains", "reconnecting_pty", "ssh", "vscode"]),
                        Q(("code__lt", 0), ("code__gt", 0), _connector="OR"),
                    ),
                    _connector="OR",
                ),
                fields=["-connect_time", "-id", "code", "type"],
                name="cl_failed_time_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="connectionlog",
            index=models.Index(
                condition=Q(
                    ("code__gte", 400), ("type__in", ["port_forwarding", "tunnel", "workspace_app"])
                ),
                fields=["-connect_time", "-id", "code"],
                name="cl_web_failed_time_idx",
            ),
        ),
        RunSQLOnPostgres(
            sql=(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS cl_long_session_idx "
                "ON connlogs_connectionlog (connect_time DESC, id DESC, disconnect_time) "
                f"WHERE type IN {AGENT_TYPES} AND (disconnect_time IS NULL "
                "OR disconnect_time - connect_time >= interval '1 hour')"
            ),
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS cl_long_session_idx",
        ),
        RunSQLOnPostgres(
            sql=(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS cl_session_end_idx "
                "ON connlogs_connectionlog (disconnect_time) "
                "WHERE disconnect_time - connect_time >= interval '1 hour'"
            ),
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS cl_session_end_idx",
        ),
        RunSQLOnPostgres(
            sql="CREATE EXTENSION IF NOT EXISTS pg_trgm",
            # Left in place: other objects may use it.
            reverse_sql=migrations.RunSQL.noop,
        ),
        RunSQLOnPostgres(
            sql=(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS cl_text_trgm_idx "
                f"ON connlogs_connectionlog USING gin ({ROW_TEXT} gin_trgm_ops)"
            ),
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS cl_text_trgm_idx",
        ),
        RunSQLOnPostgres(
            sql=[
                "CREATE STATISTICS IF NOT EXISTS cl_type_disconnect_stats (mcv) "
                "ON type, disconnect_time FROM connlogs_connectionlog",
                # A sample big enough that each agent type's open sessions are in the list.
                "ALTER STATISTICS cl_type_disconnect_stats SET STATISTICS 1000",
                "CREATE STATISTICS IF NOT EXISTS cl_owner_workspace_stats (mcv) "
                "ON workspace_owner_id, workspace_name FROM connlogs_connectionlog",
                "ANALYZE connlogs_connectionlog",
            ],
            reverse_sql=[
                "DROP STATISTICS IF EXISTS cl_type_disconnect_stats",
                "DROP STATISTICS IF EXISTS cl_owner_workspace_stats",
            ],
        ),
    ]
