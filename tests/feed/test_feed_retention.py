"""Retention trims the change feed with the rows; a follower left behind gets a 410."""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.management import call_command
from django.utils import timezone

from connlogs import feed, retention
from connlogs.feed.models import FeedEntry, FeedState
from connlogs.models import ConnectionLog
from tests.feed.conftest import CHANGES, connect, disconnect, follow, follow_all, record

NOW = timezone.now()
OLD = NOW - dt.timedelta(days=100)


def age(seqs, when=OLD) -> None:
    FeedEntry.objects.filter(seq__in=seqs).update(recorded_at=when)


def seqs() -> list[int]:
    return list(FeedEntry.objects.order_by("seq").values_list("seq", flat=True))


def test_purge_trims_the_entries_recorded_before_the_cutoff(world):
    for _ in range(5):
        record(connect(world.acme_ws))
    first = seqs()
    age(first[:3])

    retention.purge(NOW - dt.timedelta(days=90))

    assert seqs() == first[3:]
    assert FeedState.objects.get().trimmed_through == first[2]


def test_a_follower_behind_retention_gets_a_410_naming_the_oldest_kept(world, owner_client):
    for _ in range(4):
        record(connect(world.acme_ws))
    first = seqs()
    age(first[:2])
    feed.trim(before=NOW - dt.timedelta(days=90))

    response = owner_client.get(CHANGES, {"after": first[0]})

    assert response.status_code == 410
    body = response.json()
    assert body["oldest_seq"] == first[2]
    assert body["validations"][0]["field"] == "after"
    assert f"after={first[2] - 1}" in body["detail"]
    # Reading on from where the 410 says loses nothing more; after=0 starts there too.
    kept = [c["seq"] for c in follow_all(owner_client, body["oldest_seq"] - 1)]
    assert kept == first[2:]
    assert [c["seq"] for c in follow_all(owner_client, 0)] == first[2:]
    # A follower that had read everything trimmed is not behind.
    assert follow(owner_client, first[1])["changes"][0]["seq"] == first[2]


def test_entries_of_rows_retention_deleted_are_not_shown(world, owner_client):
    old, new = uuid.uuid4(), uuid.uuid4()
    record({**connect(world.acme_ws, old), "time": "2024-01-01T00:00:00Z"})
    record(connect(world.acme_ws, new))
    # A late disconnect of the old session: a recent entry for a row past retention.
    record({**disconnect(world.acme_ws, old), "time": "2024-01-01T01:00:00Z"})
    retention.purge(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))

    assert not ConnectionLog.objects.filter(connection_id=old).exists()
    shown = follow_all(owner_client)
    assert [c["connection_log"]["ssh_info"]["connection_id"] for c in shown] == [str(new)]


def test_the_trim_stops_at_the_first_entry_it_keeps(world):
    for _ in range(4):
        record(connect(world.acme_ws))
    first = seqs()
    age(first[:1])
    age(first[2:3])  # an older time after a newer one: a clock that stepped back

    assert feed.trim(before=NOW - dt.timedelta(days=90), batch_size=1) == 1

    assert seqs() == first[1:]  # never a hole in the middle of the feed


def test_the_trim_runs_in_batches(world):
    for _ in range(5):
        record(connect(world.acme_ws))
    first = seqs()
    age(first)
    assert feed.trim(before=NOW, batch_size=2) == 5
    assert seqs() == []
    assert FeedState.objects.get().trimmed_through == first[-1]


def test_an_emptied_feed_keeps_its_end(world, owner_client):
    record(connect(world.acme_ws))
    [only] = seqs()
    age([only])
    feed.trim(before=NOW)
    assert follow(owner_client) == {"changes": [], "next": only}
    record(connect(world.acme_ws))
    [change] = follow(owner_client, only)["changes"]
    assert change["seq"] > only


def test_the_purge_command_trims_the_feed_and_its_dry_run_does_not(world, settings):
    settings.CONNLOGS_RETENTION = "90d"
    record(connect(world.acme_ws))
    age(seqs())
    call_command("purge_connection_logs", "--dry-run", stdout=None)
    assert len(seqs()) == 1
    call_command("purge_connection_logs", stdout=None)
    assert seqs() == []
