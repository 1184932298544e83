"""The change feed (and the streams reading it) shape rows with the exports' tuple encoder
(``api.row_entries``): its JSON must be byte for byte what the list API's serializer makes of
the same rows as the same viewer sees them, for every field's edge."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from connlogs import roles
from connlogs.api.serializers import connection_log_entries
from connlogs.feed.models import FeedAction, FeedEntry
from connlogs.feed.reading import EntryReader
from connlogs.models import ConnectionLog
from connlogs.privacy.identities import Identities
from connlogs.search.request import LogSearch
from tests.factories import ConnectionLogFactory, UserFactory, WorkspaceFactory, member
from tests.privacy.conftest import fresh_key  # noqa: F401 - autouse, shared

UTC = dt.UTC
YEAR_ONE = dt.datetime(1, 1, 1, tzinfo=UTC)
YEAR_9999 = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.fixture
def edges(world):
    """Rows with every field at an edge, each with a feed entry (created, then updated)."""
    ws, alice = world.acme_ws, world.alice
    named = UserFactory(username="named", name="Zoë Ünïcode", avatar_url="https://a.example/z")
    member(world.acme, username="other-member")
    world.acme.memberships.create(user=named, roles=[])
    world.globex.memberships.create(user=named, roles=[])
    wide = WorkspaceFactory(organization=world.acme, owner=named, name="w" * 64)
    now = dt.datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    rows = [
        # ongoing ssh, IPv4, no code
        ConnectionLogFactory(workspace=ws, type="ssh", connect_time=now, ip="10.1.2.3"),
        # completed ssh, IPv6, exit code, reason, microseconds
        ConnectionLogFactory(
            workspace=ws,
            type="vscode",
            connect_time=now - dt.timedelta(hours=1),
            disconnect_time=now - dt.timedelta(microseconds=1),
            disconnect_reason='client closed «ünicode» "quoted"\n',
            code=-1,
            ip="2001:db8::1:0:0:1",
        ),
        # no address at all, completed with exit code 0 and no reason
        ConnectionLogFactory(workspace=ws, type="jetbrains", ip=None, disconnect_time=now, code=0),
        # the ends of time
        ConnectionLogFactory(workspace=ws, type="reconnecting_pty", connect_time=YEAR_ONE),
        ConnectionLogFactory(
            workspace=ws,
            type="ssh",
            connect_time=YEAR_9999 - dt.timedelta(hours=1),
            disconnect_time=YEAR_9999,
        ),
        # web rows: a user with memberships the viewer sees, no user, a missing status code;
        # truncated free text (stored at its limit, the row says so)
        ConnectionLogFactory(
            workspace=wide,
            type="workspace_app",
            user=named,
            code=502,
            user_agent="Mozilla/5.0 " + "x" * 4000,
            slug_or_port="s" * 256,
            truncated_fields="user_agent,slug_or_port",
            ip="::ffff:192.0.2.1",
            agent_name="a" * 64,
        ),
        ConnectionLogFactory(workspace=ws, type="port_forwarding", slug_or_port="8080"),
        ConnectionLogFactory(workspace=ws, type="tunnel", user=alice, code=None, user_agent=""),
    ]
    for row in rows:
        FeedEntry.objects.create(log=row, action=FeedAction.CREATED, recorded_at=now)
    FeedEntry.objects.create(log=rows[1], action=FeedAction.UPDATED, recorded_at=now)
    return rows


def _serializer_bytes(viewer, rows) -> list[bytes]:
    loaded = {
        r.pk: r for r in ConnectionLog.objects.filter(pk__in=[r.pk for r in rows]).with_related()
    }
    ordered = [loaded[r.pk] for r in rows]
    entries = connection_log_entries(ordered, viewer, Identities.for_viewer(viewer))
    return [json.dumps(entry).encode() for entry in entries]


def _feed_bytes(viewer) -> tuple[list[bytes], list[str]]:
    page = EntryReader(LogSearch.for_user(viewer, ""), viewer).page(after=0, limit=1000)
    logs = [json.dumps(change["connection_log"]).encode() for change in page.entries]
    return logs, [change["action"] for change in page.entries]


@pytest.mark.parametrize("mode", ["off", "on"])
@pytest.mark.parametrize("who", ["owner", "acme_auditor"])
def test_the_feed_says_exactly_what_the_serializer_says(world, edges, settings, mode, who):
    settings.CONNLOGS_DATA_PROTECTION = mode
    viewer = getattr(world, who)
    expected = _serializer_bytes(viewer, [*edges, edges[1]])

    found, actions = _feed_bytes(viewer)

    assert found == expected
    assert actions == ["created"] * len(edges) + ["updated"]
    if mode == "on" and not roles.may_reveal_identities(viewer):
        assert b"alice" not in b"".join(found)  # concealed, identically on both paths


def test_the_api_feed_answers_the_serializers_entries(world, edges):
    from tests.conftest import as_user

    answer = as_user(world.owner).get("/api/v2/connectionlog/changes", {"after": 0})

    assert answer.status_code == 200
    shown = [json.dumps(c["connection_log"]).encode() for c in answer.json()["changes"]]
    assert shown == _serializer_bytes(world.owner, [*edges, edges[1]])
