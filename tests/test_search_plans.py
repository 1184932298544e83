"""PostgreSQL can use the index each search key was given (migration 0007).

The partial indexes only serve a query whose WHERE clause implies their predicate, so a
change to how a key is written (``connlogs.search.conditions``) can silently leave its index
unused: these tests read the plan of the page and of the capped count of each key on a table
where the key is selective. The speed itself is measured in bench/ (bench/search_cases.py).
"""

import datetime as dt
import re
import uuid

import pytest
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from connlogs.models import ConnectionLog
from connlogs.search.request import LogSearch
from tests.conftest import requires_postgres
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = requires_postgres


@pytest.fixture
def haystack(db, owner):
    """3,000 ordinary rows and one needle of each kind, then ANALYZE."""
    now = timezone.now()
    common = [WorkspaceFactory(name=f"ws-{i}") for i in range(20)]
    needle_workspace = WorkspaceFactory(name="needle", owner=UserFactory(username="rare"))
    rows = []

    def row(workspace, minutes_ago, **fields):
        start = now - dt.timedelta(minutes=minutes_ago)
        kind = fields.setdefault("type", "ssh")
        web = kind in ("workspace_app", "port_forwarding", "tunnel")
        fields.setdefault("disconnect_time", None if web else start + dt.timedelta(minutes=5))
        fields.setdefault("code", 200 if web else 0)
        rows.append(
            ConnectionLog(
                workspace=workspace,
                organization_id=workspace.organization_id,
                workspace_owner_id=workspace.owner_id,
                workspace_name=workspace.name,
                agent_name="main",
                connect_time=start,
                connection_id=None if web else uuid.uuid4(),
                **fields,
            )
        )

    for i in range(3000):
        kind = "workspace_app" if i % 4 == 0 else "ssh"
        row(common[i % 20], i, type=kind, ip=f"10.{i % 200}.{i % 7}.{i % 250}", slug_or_port="app")
    row(needle_workspace, 3001, ip="192.0.2.77")
    row(common[0], 3002, type="workspace_app", code=503, ip="10.0.0.1")
    row(common[0], 3003, code=137, ip="10.0.0.1")
    # A 9-hour session that ended an hour ago.
    row(common[0], 600, disconnect_time=now - dt.timedelta(minutes=60))
    row(common[0], 60 * 24 * 40, disconnect_time=None)
    row(common[0], 3006, type="workspace_app", slug_or_port="zebra-unique")
    ConnectionLog.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE connlogs_connectionlog")
    request = RequestFactory().get("/")
    request.user = owner
    return request, now


def plans(request, q: str, *, generic: bool = False) -> str:
    """The plans of the page and the capped count of ``q``: made for its values, or
    (``generic``) the generic plan PostgreSQL may reuse for any values once the app's
    connection has prepared the statement (project/settings.py)."""
    search = LogSearch(request, q)
    assert search.is_valid, search.validations
    page = search.matching.order_by("-connect_time", "-id")[:100]
    count = search.matching.order_by().values("pk")[:2001]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    if not generic:
        return page.explain() + "\n" + count.explain()
    return "\n".join(_generic_plan(query, f"generic_{i}") for i, query in enumerate((page, count)))


def _generic_plan(queryset, name: str) -> str:
    sql, params = queryset.query.sql_with_params()
    numbers = iter(range(1, len(params) + 1))
    prepared = re.sub(r"%s", lambda _: f"${next(numbers)}", sql).replace("%%", "%")
    arguments = ", ".join(["%s"] * len(params))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE {name} AS {prepared}")
        execute = f"EXPLAIN EXECUTE {name}" + (f"({arguments})" if params else "")
        cursor.execute(connection.ops.compose_sql(execute, params))
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(f"DEALLOCATE {name}")
    return plan


@pytest.mark.parametrize(
    ("q", "index"),
    [
        ("ip:192.0.2.77", "cl_ip_time_idx"),
        ("ip:192.0.2.0/24", "cl_ip_time_idx"),
        ("workspace:needle", "cl_ws_name_time_idx"),
        ("workspace:rare/needle", "cl_ws_name_time_idx"),
        ("result:failed", "cl_failed_time_idx"),
        ("exit_code:137", "cl_failed_time_idx"),
        ("status_code:5xx", "cl_web_failed_time_idx"),
        ("status_code:502,503", "cl_web_failed_time_idx"),
        ("duration:>8h", "cl_long_session_idx"),
        # Three partial indexes hold every open agent session (the long-session one keeps
        # open sessions too: migration 0007); on 3,000 rows which is cheapest is a near tie
        # (CI's generic plan has taken each), and any serves.
        ("status:stale", ("cl_ongoing_cover_idx", "cl_session_end_idx", "cl_long_session_idx")),
        ("zebra-unique", "cl_text_trgm_idx"),
        ("agent:zebra-unique", "cl_agent_time_idx"),
    ],
)
@pytest.mark.parametrize("generic", [False, True], ids=["planned for its values", "generic"])
def test_each_key_can_use_its_index(haystack, q, index, generic):
    plan = plans(*haystack[:1], q, generic=generic)
    indexes = (index,) if isinstance(index, str) else index
    assert any(name in plan for name in indexes), plan


def test_an_active_window_finds_long_sessions_by_their_end(haystack):
    """Two hours ago, for five minutes: the 9-hour session is found through its end (the
    window is not near its start), the open ones through an index that holds them."""
    request, now = haystack
    start, end = now - dt.timedelta(minutes=120), now - dt.timedelta(minutes=115)
    window = f'active_after:"{start:%Y-%m-%dT%H:%M:%SZ}" active_before:"{end:%Y-%m-%dT%H:%M:%SZ}"'
    plan = plans(request, window, generic=True)
    assert "cl_session_end_idx" in plan
    assert "cl_ongoing_cover_idx" in plan or "cl_long_session_idx" in plan
