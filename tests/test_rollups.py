"""The hourly rollups: kept exact by every write, and the chart's counts from them equal to a
count of the rows for every search they answer; other searches are counted from the rows."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connlogs.connection_types import AGENT_TYPE_VALUES, TYPE_VALUES
from connlogs.ingest import record_events
from connlogs.models import ConnectionLog, ConnectionRollup
from connlogs.search.request import LogSearch
from connlogs.storage import rollups
from connlogs.storage.cells import COLUMNS, cell_of
from connlogs.web import charts
from connlogs.web.chart_rollups import RollupSearch
from tests.factories import ConnectionLogFactory, OrganizationFactory, UserFactory, WorkspaceFactory

NOW = dt.datetime(2026, 7, 10, 12, 30, tzinfo=dt.UTC)


def rollup_totals() -> dict[tuple, int]:
    """(hour, organization, column) -> count, stripes summed, zeros left out."""
    found: dict[tuple, int] = {}
    for row in ConnectionRollup.objects.values("hour", "organization_id", *COLUMNS):
        for column in COLUMNS:
            key = (row["hour"], row["organization_id"], column)
            found[key] = found.get(key, 0) + row[column]
    return {key: count for key, count in found.items() if count}


def row_totals() -> dict[tuple, int]:
    found: dict[tuple, int] = {}
    for row in ConnectionLog.objects.all():
        hour = row.connect_time.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        column = cell_of(row.type, row.code, row.disconnect_time is not None).column
        key = (hour, row.organization_id, column)
        found[key] = found.get(key, 0) + 1
    return found


def agent(ws, action, time, cid, **extra):
    return {
        "action": action,
        "time": time.isoformat().replace("+00:00", "Z"),
        "type": "ssh",
        "workspace_id": str(ws.id),
        "agent_name": "main",
        "connection_id": str(cid),
        **extra,
    }


@pytest.mark.django_db
def test_a_disconnect_moves_its_session_from_the_open_cell_to_a_closed_one():
    ws = WorkspaceFactory()
    cid = uuid.uuid4()
    record_events([agent(ws, "connect", NOW - dt.timedelta(hours=3), cid)])
    assert list(rollup_totals().values()) == [1]
    assert next(iter(rollup_totals()))[2] == "ssh_open_none"
    record_events([agent(ws, "disconnect", NOW, cid, exit_code=1)])
    assert [(key[2], count) for key, count in rollup_totals().items()] == [("ssh_closed_failed", 1)]
    assert rollup_totals() == row_totals()
    ConnectionLog.objects.all().delete()
    assert rollup_totals() == {}


@pytest.mark.django_db
def test_every_writer_keeps_the_rollup_and_rebuild_recounts_it():
    ws = WorkspaceFactory()
    ConnectionLogFactory.create_batch(3, workspace=ws, type="workspace_app", code=503)
    ConnectionLogFactory(workspace=ws, type="vscode", code=0, disconnect_time=NOW)
    ConnectionLog.objects.filter(type="vscode").update(code=2)
    assert rollup_totals() == row_totals()
    ConnectionRollup.objects.all().delete()
    rollups.rebuild()
    assert rollup_totals() == row_totals()


# --- the chart: rollup = rows, property test ---------------------------------------------

rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 1),  # organization
        st.sampled_from(TYPE_VALUES),
        st.sampled_from([None, 0, 1, 200, 404, 503]),  # code
        st.booleans(),  # disconnected
        st.integers(0, 4 * 24 * 60 - 1),  # minutes before NOW
    ),
    max_size=25,
)
q_strategy = st.fixed_dictionaries(
    {},
    optional={
        "organization": st.sampled_from(["org-a", "org-b"]),
        "type": st.sampled_from(TYPE_VALUES),
        "status": st.sampled_from(["ongoing", "completed"]),
        "connected_after": st.integers(1, 4 * 24 * 60).map(
            lambda m: (NOW - dt.timedelta(minutes=m)).isoformat().replace("+00:00", "Z")
        ),
    },
)


class FakeRequest:
    def __init__(self, user):
        self.user = user
        self.GET = {}


@pytest.fixture
def world(db):
    orgs = [OrganizationFactory(name="org-a"), OrganizationFactory(name="org-b")]
    workspaces = [WorkspaceFactory(organization=org) for org in orgs]
    owner = UserFactory(username="chart-owner", site_roles=["owner"])
    return workspaces, owner


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=rows_strategy,
    terms=q_strategy,
    zone=st.sampled_from(["UTC", "Asia/Tokyo", "Asia/Kolkata", "America/New_York"]),
)
def test_the_rollup_chart_equals_a_count_of_the_rows_for_every_answerable_q(
    world, rows, terms, zone
):
    from django.core.cache import cache
    from django.utils import timezone

    workspaces, owner = world
    ConnectionLog.objects.all().delete()
    cache.clear()
    for org, kind, code, disconnected, minutes in rows:
        connect = NOW - dt.timedelta(minutes=minutes, seconds=17)
        ConnectionLogFactory(
            workspace=workspaces[org],
            type=kind,
            code=code,
            connect_time=connect,
            disconnect_time=connect + dt.timedelta(minutes=1) if disconnected else None,
        )
    q = " ".join(f'{key}:"{value}"' for key, value in terms.items())
    found = LogSearch(FakeRequest(owner), q)
    assert found.is_valid, found.validations
    rollup = RollupSearch.for_search(found)
    assert rollup is not None  # every key of these searches is one the rollup holds
    with timezone.override(zone):
        start, end, _ = charts.chart_window(found.window.after, None, NOW)
        unit = charts.unit_for(end - start)
        from_rollup = totals(charts.count_by_bucket(found.matching, start, end, unit, rollup))
        cache.clear()
        from_rows = totals(charts.count_by_bucket(found.matching, start, end, unit))
    assert from_rollup == from_rows


def totals(triples) -> dict:
    found: dict = {}
    for bucket, kind, count in triples:
        found[(bucket, kind)] = found.get((bucket, kind), 0) + count
    return {key: count for key, count in found.items() if count}


@pytest.mark.django_db
def test_the_chart_reads_the_rollup_for_a_search_it_answers_and_the_rows_otherwise(world):
    workspaces, owner = world
    ConnectionLogFactory(workspace=workspaces[0], connect_time=NOW - dt.timedelta(days=2))
    start, end, _ = charts.chart_window(None, None, NOW)

    def tables_read(q: str) -> tuple[bool, bool]:
        found = LogSearch(FakeRequest(owner), q)
        rollup = RollupSearch.for_search(found)
        from django.core.cache import cache

        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            counted = charts.count_by_bucket(found.matching, start, end, charts.DAY, rollup)
        assert sum(count for _, _, count in counted) == 1
        sql = " ".join(query["sql"] for query in captured.captured_queries)
        return rollups.ROLLUP_TABLE in sql, rollup is not None

    assert tables_read("type:ssh organization:org-a") == (True, True)
    # A workspace is not in the rollup: counted from the rows, the rollup not read.
    assert tables_read(f"workspace_id:{workspaces[0].id}") == (False, False)


@pytest.mark.parametrize("status, open_", [("ongoing", True), ("completed", False)])
def test_status_selects_agent_cells_open_or_closed(status, open_):
    cells = rollups.cells_matching(None, None, open_)
    assert {cell.type for cell in cells} == set(AGENT_TYPE_VALUES)
    assert all(cell.open is open_ for cell in cells)
