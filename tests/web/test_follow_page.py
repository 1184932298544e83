"""The list page's follow mode on the server: ``/connectionlog/changes`` answers the change
feed as the list's own rows, in the reader's scope, for the page's search, escaped."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import pytest
from django.utils import timezone

from connlogs import feed
from connlogs.feed.models import FeedEntry
from connlogs.feed.reading import latest_seq
from tests.feed.conftest import connect, disconnect, record, web
from tests.feed.conftest import world as feed_world  # noqa: F401  (the feed's fixture)
from tests.web.conftest import signed_in

CHANGES = "/connectionlog/changes"
HOSTILE = '<img src=x onerror="alert(1)">'
OLD = timezone.now() - dt.timedelta(days=100)


@pytest.fixture
def world(feed_world):  # noqa: F811
    return feed_world


def read(user, **params):
    response = signed_in(user).get(CHANGES, params)
    return response.status_code, response.json()


def test_the_page_starts_following_at_the_end_of_the_feed(world):
    record(connect(world.acme_ws))
    response = signed_in(world.owner).get("/connectionlog")
    assert f'data-next="{latest_seq()}"' in response.content.decode()
    assert latest_seq() > 0


def test_new_and_closed_rows_come_as_the_lists_rows(world, settings):
    # The feed's events are of 2025: not stale for this test (stale rows: test_incident_pages).
    settings.CONNLOGS_STALE_AFTER = dt.timedelta(days=36500)
    start = latest_seq()
    session = "8a7c2f6e-5d4b-4c3a-9b1e-0f2d3c4b5a69"
    record(connect(world.acme_ws, session))
    status, first = read(world.acme_auditor, after=start)
    assert status == 200
    [row] = first["rows"]
    assert row["action"] == "created"
    assert re.match(r'<tr class="log is-ongoing" data-id="[0-9a-f-]{36}"', row["html"])
    assert "data-since=" in row["html"]  # the duration ticks in the browser
    record(disconnect(world.acme_ws, session))
    status, second = read(world.acme_auditor, after=first["next"])
    [closed] = second["rows"]
    assert (closed["action"], closed["id"]) == ("updated", row["id"])
    assert "is-ongoing" not in closed["html"]
    assert second["next"] > first["next"]


def test_changes_are_scoped_as_the_list(world):
    start = latest_seq()
    record(connect(world.acme_ws), connect(world.globex_ws))
    _, owner = read(world.owner, after=start)
    _, auditor = read(world.acme_auditor, after=start)
    assert len(owner["rows"]) == 2
    assert len(auditor["rows"]) == 1
    assert "dev" in auditor["rows"][0]["html"] and "api" not in auditor["rows"][0]["html"]
    # Someone who may not read logs gets the page's refusal, not rows.
    assert signed_in(world.plain).get(CHANGES, {"after": start}).status_code == 403


def test_changes_follow_the_pages_search(world):
    start = latest_seq()
    record(connect(world.acme_ws), web(world.acme_ws))
    _, found = read(world.owner, after=start, q="type:workspace_app")
    assert [row["action"] for row in found["rows"]] == ["created"]
    assert "Workspace app" in found["rows"][0]["html"] or "App" in found["rows"][0]["html"]
    status, bad = read(world.owner, after=start, q="type:nope")
    assert status == 400
    assert bad["validations"][0]["field"] == "type"


def test_what_agents_sent_is_escaped(world):
    start = latest_seq()
    record(connect(world.acme_ws, agent_name=HOSTILE))
    _, found = read(world.owner, after=start)
    text = found["rows"][0]["html"]
    assert "<img" not in text
    assert html.escape(HOSTILE, quote=False).split(" ")[0] in text


def test_bad_positions_are_400s_and_retention_a_410(world):
    assert read(world.owner, after="soon")[0] == 400
    assert read(world.owner, after=latest_seq() + 5)[0] == 400
    for _ in range(3):
        record(connect(world.acme_ws))
    first = list(FeedEntry.objects.order_by("seq").values_list("seq", flat=True))
    FeedEntry.objects.filter(seq__in=first[:2]).update(recorded_at=OLD)
    feed.trim(before=timezone.now() - dt.timedelta(days=90))
    status, gone = read(world.owner, after=first[0])
    # The page reloads on a 410: the rows it would have missed are the reloaded page's.
    assert status == 410 and gone["oldest_seq"] == first[2]


def test_signed_out_readers_are_sent_to_sign_in(world):
    response = signed_in(None).get(CHANGES, {"after": 0})
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_session_shown_as_ongoing_that_ends_comes_back_closed(world, settings):
    """``status:ongoing`` no longer matches a session once it closes, so the change does not
    come; the page names the sessions it shows as ongoing (``open``) and gets those that
    ended as ``closed`` rows (``left``: the search no longer brings them), in its scope."""
    settings.CONNLOGS_STALE_AFTER = dt.timedelta(days=36500)
    session, other = "8a7c2f6e-5d4b-4c3a-9b1e-0f2d3c4b5a69", "1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0"
    start = latest_seq()
    record(connect(world.acme_ws, session), connect(world.globex_ws, other))
    _, opened = read(world.owner, after=start, q="status:ongoing")
    ids = {row["id"] for row in opened["rows"]}
    assert len(ids) == 2 and all(row["time"] for row in opened["rows"])
    record(disconnect(world.acme_ws, session), disconnect(world.globex_ws, other))

    _, later = read(world.owner, after=opened["next"], q="status:ongoing", open=",".join(ids))
    assert {(row["action"], row["left"]) for row in later["rows"]} == {("closed", True)}
    assert {row["id"] for row in later["rows"]} == ids
    assert all("is-ongoing" not in row["html"] for row in later["rows"])
    # The plain search brings the close as a change: it is not answered twice.
    _, plain = read(world.owner, after=opened["next"], open=",".join(ids))
    assert sorted(row["action"] for row in plain["rows"]) == ["updated", "updated"]
    # Another organization's session, named by id, is not this reader's to see.
    _, scoped = read(
        world.acme_auditor, after=opened["next"], q="status:ongoing", open=",".join(ids)
    )
    assert len(scoped["rows"]) == 1 and "api" not in scoped["rows"][0]["html"]


@pytest.mark.parametrize("value", ["not-a-uuid", ",".join([str(uuid.uuid4()) for _ in range(101)])])
def test_bad_open_sessions_are_a_400(world, value):
    status, body = read(world.owner, after=latest_seq(), open=value)
    assert status == 400 and body["validations"][0]["field"] == "open"
