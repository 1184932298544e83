"""The access log: one entry per read, append-only, chained; its page and API."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import Client

from connlogs.accesslog import chain, writer
from connlogs.accesslog.models import AppendOnlyError
from connlogs.models import AccessLogEntry
from connlogs.privacy import deferred
from tests.conftest import as_user, requires_postgres
from tests.exports import hang_up
from tests.factories import tokens

LIST = "/api/v2/connectionlog"
EXPORT = "/api/v2/connectionlog/export"
Door = AccessLogEntry.Door


def newest() -> AccessLogEntry:
    return AccessLogEntry.objects.order_by("-id").first()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def run(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command(*args, stdout=out)
    except SystemExit as exit:
        return exit.code, out.getvalue()
    return 0, out.getvalue()


# --- what an entry says -------------------------------------------------------------------


def test_an_api_read_records_who_with_which_token_from_where_what_and_how_much(people, api):
    key = tokens.issue(people.auditor, name="nightly-report")
    api.credentials(HTTP_CODER_SESSION_TOKEN=key)
    response = api.get(LIST, {"q": "type:ssh"}, REMOTE_ADDR="192.0.2.44")
    assert response.status_code == 200
    entry = newest()
    assert (entry.user_id, entry.username, entry.token_name) == (
        people.auditor.pk,
        "acme-auditor",
        "nightly-report",
    )
    assert (entry.address, entry.door, entry.q, entry.rows) == ("192.0.2.44", "api", "type:ssh", 1)
    assert entry.organization_ids == [str(people.acme.id)]
    assert not entry.revealed and entry.seq is None  # chained after the response


def test_every_door_records_its_read(people):
    page = signed_in(people.owner)
    row = people.rows[0]
    page.get("/connectionlog", {"q": "type:ssh"})
    page.get(f"/connectionlog/{row.id}")
    b"".join(page.get("/connectionlog/export", {"format": "ndjson"}).streaming_content)
    page.get("/admin/connlogs/connectionlog/")
    page.get(f"/admin/connlogs/connectionlog/{row.id}/change/")
    as_user(people.owner).get(LIST)
    b"".join(as_user(people.owner).get(EXPORT).streaming_content)
    entries = list(AccessLogEntry.objects.order_by("id"))
    assert [(e.door, e.rows) for e in entries] == [
        (Door.PAGE, 2),
        (Door.DETAIL, 1),
        (Door.PAGE_EXPORT, 3),
        (Door.ADMIN, 3),
        (Door.ADMIN_DETAIL, 1),
        (Door.API, 3),
        (Door.API_EXPORT, 3),
    ]
    assert entries[1].row_id == entries[4].row_id == row.id
    assert entries[0].q == "type:ssh" and entries[0].token_name == ""


def test_refused_and_invalid_reads_record_nothing(people):
    as_user(people.auditor).get(LIST, {"q": "type:nope"})
    signed_in(people.auditor).get("/connectionlog", {"q": "nope:1"})
    Client().get("/connectionlog")
    assert not AccessLogEntry.objects.exists()


def test_a_read_whose_entry_cannot_be_written_is_not_answered(people, monkeypatch):
    def refuse(entry):
        raise DatabaseError("disk full")

    monkeypatch.setattr(writer, "insert", refuse)
    client = as_user(people.auditor)
    client.raise_request_exception = False
    response = client.get(LIST)
    assert response.status_code >= 500
    assert b"alice" not in response.content and b"connection_logs" not in response.content


def test_an_export_the_client_abandons_is_recorded_as_abandoned(people, monkeypatch):
    from connlogs.export import formats

    monkeypatch.setattr(formats, "FLUSH_AT", 10)  # a piece per row
    response = as_user(people.owner).get(EXPORT, {"format": "ndjson"})
    pieces = iter(response.streaming_content)
    next(pieces)
    hang_up(response)
    entry = newest()
    assert entry.door == Door.API_EXPORT and entry.export_status == "abandoned"
    assert 1 <= entry.rows < 3 and entry.export_sha256


def test_an_export_that_fails_is_recorded_as_failed(people, monkeypatch):
    from connlogs.export import formats, rows

    real_batches = rows._batches

    def broken(queryset, read):
        for batch in real_batches(queryset, read):
            yield batch  # the first rows are sent...
            raise DatabaseError("replica gone")

    monkeypatch.setattr(formats, "FLUSH_AT", 10)  # a piece per row
    monkeypatch.setattr(rows, "_batches", broken)
    response = as_user(people.owner).get(EXPORT)
    with pytest.raises(DatabaseError):
        b"".join(response.streaming_content)
    assert newest().export_status == "failed"


# --- append-only ---------------------------------------------------------------------------


def test_the_application_cannot_change_or_delete_an_entry(people):
    as_user(people.auditor).get(LIST)
    entry = newest()
    entry.rows = 0
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AccessLogEntry.objects.filter(pk=entry.pk).update(rows=0)
    with pytest.raises(AppendOnlyError):
        AccessLogEntry.objects.all().delete()
    admin = signed_in(people.owner)
    url = f"/admin/connlogs/accesslogentry/{entry.pk}/"
    assert admin.get(url + "delete/").status_code == 403
    assert admin.post(url + "change/", {"rows": 0}).status_code == 403
    assert admin.get("/admin/connlogs/accesslogentry/add/").status_code == 403


# --- the chain -----------------------------------------------------------------------------


@pytest.fixture
def chained(people):
    client = as_user(people.auditor)
    for q in ("", "type:ssh", "type:vscode", "status:ongoing", ""):
        client.get(LIST, {"q": q})
    assert chain.seal_all() == 5
    return list(AccessLogEntry.objects.order_by("seq"))


def raw(sql: str, params: list) -> None:
    table = connection.ops.quote_name(AccessLogEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=table), params)


def test_a_whole_chain_verifies(chained):
    assert [entry.seq for entry in chained] == [1, 2, 3, 4, 5]
    assert chained[0].prev_hash == "" and chained[1].prev_hash == chained[0].hash
    code, out = run("verify_access_log")
    assert code == 0 and "OK: the chain is whole" in out and "checked 5 chained" in out


def test_a_deleted_entry_is_detected(chained):
    raw("DELETE FROM {table} WHERE id = %s", [chained[2].pk])
    code, out = run("verify_access_log")
    assert code == 1 and "entry 3 is missing: deleted" in out


def test_an_edited_entry_is_detected(chained):
    raw("UPDATE {table} SET q = %s WHERE id = %s", ["type:jetbrains", chained[1].pk])
    code, out = run("verify_access_log")
    assert code == 1 and f"entry 2 (id {chained[1].pk}) was changed" in out


def test_an_edit_whose_hash_was_recomputed_without_the_key_is_detected(chained, settings):
    settings.CONNLOGS_ACCESS_LOG_KEY = "what an intruder would guess"
    values = AccessLogEntry.objects.filter(pk=chained[1].pk).values(*chain.HASHED).get()
    values["rows"] = 0
    forged = chain.entry_hash(values, 2, chained[1].prev_hash)
    settings.CONNLOGS_ACCESS_LOG_KEY = "insecure-test-only-key"
    raw("UPDATE {table} SET rows = 0, hash = %s WHERE id = %s", [forged, chained[1].pk])
    code, out = run("verify_access_log")
    assert code == 1 and "entry 2" in out


def test_deleting_the_oldest_entries_is_detected_but_retention_is_not(chained, settings):
    raw("DELETE FROM {table} WHERE seq <= 2", [])
    code, out = run("verify_access_log")
    assert code == 1 and "entries 1 to 2 are missing" in out


def test_the_retention_purge_keeps_the_chain_verifiable(chained, settings):
    import datetime as dt

    from django.utils import timezone

    settings.CONNLOGS_RETENTION = "30d"
    settings.CONNLOGS_ACCESS_LOG_RETENTION = "60d"
    old = timezone.now() - dt.timedelta(days=61)
    raw("UPDATE {table} SET time = %s WHERE seq <= 2", [old])
    # The purge hashes what is stored: re-seal the two aged entries as if recorded then.
    raw("UPDATE {table} SET seq = NULL, hash = '', prev_hash = '' ", [])
    assert chain.seal_all() == 5
    code, out = run("purge_access_log")
    assert code == 0 and "deleted 2 entries" in out
    assert sorted(AccessLogEntry.objects.values_list("seq", flat=True)) == [3, 4, 5, 6]
    code, out = run("verify_access_log")
    assert code == 0, out
    assert "entries up to 2 purged by retention" in out


def test_the_access_log_is_never_kept_shorter_than_the_connection_log(settings):
    from django.core.exceptions import ImproperlyConfigured

    from connlogs.accesslog import retention

    settings.CONNLOGS_RETENTION = "90d"
    settings.CONNLOGS_ACCESS_LOG_RETENTION = ""
    assert retention.retention_period().days == 90 + 365
    settings.CONNLOGS_ACCESS_LOG_RETENTION = "30d"
    with pytest.raises(ImproperlyConfigured):
        retention.retention_period()
    settings.CONNLOGS_RETENTION = ""  # the log is kept forever: so are the reads of it
    with pytest.raises(ImproperlyConfigured):
        retention.retention_period()
    settings.CONNLOGS_ACCESS_LOG_RETENTION = ""
    assert retention.retention_period() is None


def test_workers_chain_new_entries_after_the_response(people, settings, monkeypatch):
    settings.CONNLOGS_ACCESS_LOG_SEAL_SECONDS = 0.001
    monkeypatch.setattr(chain, "_last_sealed", 0.0)
    as_user(people.auditor).get(LIST)
    assert newest().seq == 1


def test_nothing_is_chained_before_the_answer_is_sent(people, settings, monkeypatch):
    settings.CONNLOGS_ACCESS_LOG_SEAL_SECONDS = 0.001
    monkeypatch.setattr(chain, "_last_sealed", 0.0)
    seen = []
    real_seal = chain.seal
    monkeypatch.setattr(chain, "seal", lambda **kw: seen.append(deferred.in_request()))
    as_user(people.auditor).get(LIST)
    assert seen == [False]  # run once the request was finished
    real_seal()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sealers_make_one_chain(people):
    import threading

    client = as_user(people.auditor)
    for _ in range(40):
        client.get(LIST)

    def seal() -> None:
        try:
            chain.seal(limit=3)
            chain.seal_all()
        finally:
            connection.close()

    threads = [threading.Thread(target=seal) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(AccessLogEntry.objects.values_list("seq", flat=True)) == list(range(1, 41))
    assert chain.verify().ok


# --- reading the access log ----------------------------------------------------------------


@pytest.fixture
def reads(people):
    as_user(people.auditor).get(LIST, {"q": "type:ssh"})
    as_user(people.both_auditor).get(LIST)  # acme's and globex's rows
    as_user(people.gus).get(LIST)  # a plain member: nothing read
    return people


def test_site_owners_see_every_read_and_organization_admins_those_of_their_rows(reads):
    from tests.factories import member

    globex_admin = member(reads.globex, "organization-admin", username="globex-admin")
    owner = as_user(reads.owner).get("/api/v2/accesslog").json()
    assert [e["user"]["username"] for e in owner["entries"]] == [
        "gus-globex",
        "site-auditor",
        "acme-auditor",
    ]
    mine = as_user(globex_admin).get("/api/v2/accesslog").json()["entries"]
    assert [e["user"]["username"] for e in mine] == ["site-auditor"]
    assert {o["name"] for o in mine[0]["organizations"]} == {"acme", "globex"}
    assert as_user(reads.auditor).get("/api/v2/accesslog").status_code == 403


@pytest.mark.parametrize(
    ("q", "users"),
    [
        ("user:acme-auditor", ["acme-auditor"]),
        ("door:api", ["gus-globex", "site-auditor", "acme-auditor"]),
        ("door:page", []),
        ("organization:globex", ["site-auditor"]),
        ("revealed:true", []),
    ],
)
def test_the_access_log_has_its_own_filters(reads, q, users):
    found = as_user(reads.owner).get("/api/v2/accesslog", {"q": q}).json()["entries"]
    assert [entry["user"]["username"] for entry in found] == users


def test_a_bad_access_log_search_is_the_contracts_400(reads):
    response = as_user(reads.owner).get("/api/v2/accesslog", {"q": "door:window who:me"})
    assert response.status_code == 400
    fields = [v["field"] for v in response.json()["validations"]]
    assert fields == ["door", "who"]


def test_the_access_log_page_and_its_export(reads):
    chain.seal_all()
    page = signed_in(reads.owner).get("/accesslog", {"q": "user:site-auditor"})
    assert page.status_code == 200
    assert b"site-auditor" in page.content and b"acme-auditor" not in page.content
    assert signed_in(reads.auditor).get("/accesslog").status_code == 403
    body = b"".join(
        signed_in(reads.owner).get("/accesslog/export", {"format": "csv"}).streaming_content
    )
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 3
    # The export carries every hashed field: the chain can be checked from it alone.
    first = min(rows, key=lambda row: int(row["seq"]))
    assert first["hash"] == chain.entry_hash(_typed(first), 1, "")


def _typed(row: dict) -> dict:
    import datetime as dt
    import uuid

    values = dict(row)
    values["id"] = int(row["id"])
    values["rows"] = int(row["rows"])
    values["revealed"] = row["revealed"] == "true"
    values["user_id"] = uuid.UUID(row["user_id"]) if row["user_id"] else None
    values["row_id"] = uuid.UUID(row["row_id"]) if row["row_id"] else None
    values["purged_through"] = int(row["purged_through"]) if row["purged_through"] else None
    values["time"] = dt.datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
    return values


def test_the_workers_heartbeat_chains_the_last_reads_of_a_quiet_spell(people):
    from django.utils import timezone

    from connlogs.management.commands.stream_worker import beat_once

    as_user(people.auditor).get(LIST)
    as_user(people.auditor).get(LIST, {"q": "type:ssh"})
    assert AccessLogEntry.objects.filter(seq__isnull=True).count() == 2  # nobody reads again
    beat_once("worker-1", timezone.now(), 1)
    assert list(AccessLogEntry.objects.order_by("id").values_list("seq", flat=True)) == [1, 2]
    assert chain.verify().ok
