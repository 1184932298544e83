"""The change feed: what gets an entry, its order, its paging, its scope and its ``q``."""

from __future__ import annotations

import uuid

import pytest

from connlogs.feed import reading
from connlogs.feed.models import FeedEntry
from connlogs.ingest import EventValidationError
from connlogs.models import ConnectionLog
from tests.conftest import as_user
from tests.feed.conftest import (
    CHANGES,
    connect,
    disconnect,
    follow,
    follow_all,
    record,
    web,
)


def summary(changes: list[dict]) -> list[tuple[str, str]]:
    return [(change["action"], change["connection_log"]["id"]) for change in changes]


def test_every_created_or_changed_row_gets_one_entry_in_order(world, owner_client):
    cid = uuid.uuid4()
    record(connect(world.acme_ws, cid))
    record(web(world.acme_ws))
    record(disconnect(world.acme_ws, cid))
    ssh = ConnectionLog.objects.get(connection_id=cid)
    app = ConnectionLog.objects.get(type="workspace_app")

    changes = follow_all(owner_client)

    assert summary(changes) == [
        ("created", str(ssh.id)),
        ("created", str(app.id)),
        ("updated", str(ssh.id)),
    ]
    seqs = [change["seq"] for change in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_an_entry_shows_the_row_as_it_is_now(world, owner_client):
    cid = uuid.uuid4()
    record(connect(world.acme_ws, cid))
    record(disconnect(world.acme_ws, cid, exit_code=3))

    created, updated = follow_all(owner_client)

    # The "created" entry, read after the disconnect, shows the closed session too: a
    # follower reads rows, not the events that changed them (docs/api.md).
    for change in (created, updated):
        assert change["connection_log"]["ssh_info"]["exit_code"] == 3
        assert change["connection_log"]["ssh_info"]["disconnect_reason"] == "bye"


def test_the_row_json_is_the_lists(world, owner_client):
    record(web(world.acme_ws, user_id=str(world.alice.id), status_code=502))
    [change] = follow_all(owner_client)
    listed = owner_client.get("/api/v2/connectionlog").json()["connection_logs"]
    assert change["connection_log"] == listed[0]


def test_merges_that_change_nothing_add_no_entry(world, owner_client):
    cid = uuid.uuid4()
    record(connect(world.acme_ws, cid))
    before = FeedEntry.objects.count()
    assert record(connect(world.acme_ws, cid)).unchanged == 1  # a repeated connect
    record(disconnect(world.acme_ws, cid))
    after_close = FeedEntry.objects.count()
    assert record(disconnect(world.acme_ws, cid)).unchanged == 1  # a repeated disconnect
    assert (before, after_close, FeedEntry.objects.count()) == (1, 2, 2)


def test_a_connect_and_its_disconnect_in_one_batch_are_one_created_entry(world, owner_client):
    cid = uuid.uuid4()
    result = record(connect(world.acme_ws, cid), disconnect(world.acme_ws, cid))
    assert (result.created, result.updated) == (1, 1)  # events, as the write API counts them
    [change] = follow_all(owner_client)
    assert change["action"] == "created"
    assert "disconnect_time" in change["connection_log"]["ssh_info"]


def test_a_refused_batch_adds_no_entry(world, owner_client):
    with pytest.raises(EventValidationError):
        record(connect(world.acme_ws), {**connect(world.acme_ws), "type": "telnet"})
    assert FeedEntry.objects.count() == 0


def test_without_after_a_follower_starts_at_the_end(world, owner_client):
    record(connect(world.acme_ws), connect(world.acme_ws))
    page = follow(owner_client)
    assert page == {"changes": [], "next": FeedEntry.objects.latest("seq").seq}

    record(web(world.acme_ws))
    [change] = follow(owner_client, page["next"])["changes"]
    assert change["connection_log"]["type"] == "workspace_app"


def test_after_zero_replays_from_the_oldest_entry(world, owner_client):
    record(connect(world.acme_ws), connect(world.acme_ws))
    assert len(follow(owner_client, 0)["changes"]) == 2


def test_pages_follow_next_without_gaps_or_repeats(world, owner_client):
    for _ in range(7):
        record(connect(world.acme_ws))
    first = follow(owner_client, 0, limit=3)
    second = follow(owner_client, first["next"], limit=3)
    third = follow(owner_client, second["next"], limit=3)
    seqs = [c["seq"] for page in (first, second, third) for c in page["changes"]]
    assert seqs == sorted(FeedEntry.objects.values_list("seq", flat=True))
    assert first["next"] == first["changes"][-1]["seq"]  # a full page ends at its last change
    assert third["next"] == seqs[-1] and len(third["changes"]) == 1
    assert follow(owner_client, third["next"]) == {"changes": [], "next": third["next"]}


def test_q_filters_the_feed_as_it_filters_the_list(world, owner_client):
    record(connect(world.acme_ws), web(world.acme_ws), connect(world.acme_ws, kind="vscode"))
    changes = follow_all(owner_client, q="type:ssh")
    assert [c["connection_log"]["type"] for c in changes] == ["ssh"]


def test_a_bad_q_is_the_lists_400(world, owner_client):
    feed = owner_client.get(CHANGES, {"q": "type:telnet", "after": 0})
    listed = owner_client.get("/api/v2/connectionlog", {"q": "type:telnet"})
    assert feed.status_code == listed.status_code == 400
    assert feed.json() == listed.json()


def test_a_rare_q_moves_next_on_over_a_long_feed(world, owner_client, monkeypatch):
    monkeypatch.setattr(reading, "SCAN_WINDOW", 4)
    for _ in range(9):
        record(connect(world.acme_ws))
    record(web(world.acme_ws))
    first_seq = FeedEntry.objects.earliest("seq").seq
    page = follow(owner_client, 0, q="type:workspace_app")
    # The first read examined 4 entries (from the oldest), found none, and says where to
    # read on.
    assert page == {"changes": [], "next": first_seq - 1 + 4}
    changes = follow_all(owner_client, page["next"], q="type:workspace_app")
    assert [c["connection_log"]["type"] for c in changes] == ["workspace_app"]


def test_the_feed_is_scoped_as_the_list_is(world):
    record(connect(world.acme_ws), connect(world.globex_ws))
    acme = {str(row.id) for row in ConnectionLog.objects.filter(organization=world.acme)}

    auditor = {c["connection_log"]["id"] for c in follow_all(as_user(world.acme_auditor))}
    plain = follow_all(as_user(world.plain))

    assert auditor == acme
    assert plain == []
    assert as_user(world.plain).get(CHANGES).json()["next"] == FeedEntry.objects.latest("seq").seq


def test_an_anonymous_caller_is_refused(world, api):
    assert api.get(CHANGES).status_code == 401


@pytest.mark.parametrize(
    "params, field",
    [
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"after": str(2**63)}, "after"),
        ({"after": ["1", "2"]}, "after"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "1.5"}, "limit"),
    ],
)
def test_bad_paging_is_a_400_naming_the_parameter(world, owner_client, params, field):
    response = owner_client.get(CHANGES, params)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Query parameters have invalid values."
    assert [v["field"] for v in body["validations"]] == [field]


def test_an_after_past_the_end_is_a_400(world, owner_client):
    record(connect(world.acme_ws))
    end = FeedEntry.objects.latest("seq").seq
    response = owner_client.get(CHANGES, {"after": end + 10})
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "after"
    assert f"({end})" in response.json()["validations"][0]["detail"]
