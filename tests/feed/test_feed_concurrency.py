"""A follower loses nothing and sees nothing twice while writers commit concurrently
(PostgreSQL: SQLite has one writer at a time).

Sequence numbers are drawn under a lock held until commit (``connlogs.feed.writing``), so
they are in commit order. Without it, a batch that drew a lower number but commits later
would appear below a follower's position, and the follower would never see it.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from django.db import connections, transaction

from connlogs.feed.models import FeedEntry
from connlogs.feed.reading import read_changes
from connlogs.models import ConnectionLog
from connlogs.search.request import LogSearch
from tests.conftest import requires_postgres
from tests.factories import OrganizationFactory, UserFactory, WorkspaceFactory
from tests.feed.conftest import connect, disconnect, record, web

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def in_thread(work):
    """Run ``work`` on its own connection; the thread, and a list that gets its error."""
    errors: list[BaseException] = []

    def run():
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - shown by the test's assertion
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.fixture
def setting():
    organization = OrganizationFactory(name="acme")
    owner = UserFactory(username="root", site_roles=["owner"])
    workspace = WorkspaceFactory(organization=organization, name="dev")
    return LogSearch.for_user(owner, ""), workspace


def test_a_later_writer_waits_for_the_earlier_ones_commit(setting):
    search, ws = setting
    record(connect(ws))
    start = read_changes(search, after=None).next
    held, release, second_done = threading.Event(), threading.Event(), threading.Event()

    def first_writer():
        with transaction.atomic():
            record(connect(ws))  # drew its seq; its transaction stays open
            held.set()
            release.wait(10)

    def second_writer():
        record(web(ws))
        second_done.set()

    first, first_errors = in_thread(first_writer)
    assert held.wait(10)
    second, second_errors = in_thread(second_writer)
    time.sleep(0.5)

    # The second batch cannot commit a seq above the first's uncommitted one; a follower
    # sees neither, and does not move past the first.
    assert not second_done.is_set()
    page = read_changes(search, after=start)
    assert (page.changes, page.next) == ([], start)

    release.set()
    first.join(10)
    second.join(10)
    assert first_errors == second_errors == []
    page = read_changes(search, after=start)
    assert [c.row.type for c in page.changes] == ["ssh", "workspace_app"]


def test_a_follower_sees_every_change_once_while_writers_commit(setting):
    search, ws = setting
    writers, batches = 6, 15
    results = []

    def write(seed: int):
        rng = random.Random(seed)
        open_sessions: list[uuid.UUID] = []
        for _ in range(batches):
            events = [disconnect(ws, cid) for cid in open_sessions]
            open_sessions = [uuid.uuid4() for _ in range(rng.randrange(1, 6))]
            events += [connect(ws, cid) for cid in open_sessions]
            events += [web(ws) for _ in range(rng.randrange(0, 3))]
            with transaction.atomic():
                results.append(record(*events))
                # A slow commit (a disk's flush): without commit-order numbering, another
                # writer's later seq would be visible meanwhile, and followed past this one.
                time.sleep(rng.random() * 0.02)

    followed: list = []
    done = threading.Event()
    start = read_changes(search, after=None).next

    def follow():
        after = start
        while True:
            finished = done.is_set()  # read before the page: the last page is read after it
            page = read_changes(search, after=after, limit=20)
            followed.extend(page.changes)
            assert page.next >= after
            after = page.next
            if finished and not page.changes:
                return

    follower, follower_errors = in_thread(follow)
    threads = [in_thread(lambda seed=seed: write(seed)) for seed in range(writers)]
    for thread, _ in threads:
        thread.join(60)
    done.set()
    follower.join(60)

    assert [errors for _, errors in threads] == [[]] * writers
    assert follower_errors == []
    seqs = [change.seq for change in followed]
    assert seqs == sorted(set(seqs)), "seen out of order or twice"
    assert seqs == list(FeedEntry.objects.order_by("seq").values_list("seq", flat=True))
    # Every batch's rows: one "created" each, one "updated" per disconnect a later batch sent.
    created = [c.row.id for c in followed if c.action == "created"]
    updated = [c.row.id for c in followed if c.action == "updated"]
    assert sorted(created) == sorted(ConnectionLog.objects.values_list("id", flat=True))
    assert len(updated) == len(set(updated)) == sum(result.updated for result in results)
    assert len(created) == sum(result.created for result in results)
