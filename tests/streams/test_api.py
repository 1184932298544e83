"""The streams API: create, read, change, pause, resume and delete; secrets write-only; the
health each stream shows; the OpenAPI schema. Who may open each door is in
tests/test_permission_matrix.py; the scoping rules that go beyond it are here."""

from __future__ import annotations

import pytest

from connlogs import roles
from connlogs.feed.reading import latest_seq
from connlogs.models import Membership
from connlogs.savedviews.models import SavedView
from connlogs.streams import delivery
from connlogs.streams.models import Stream
from tests.conftest import as_user
from tests.factories import member
from tests.feed.conftest import connect, record

STREAMS = "/api/v2/connectionlog/streams"
HTTP = {"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/in"}


@pytest.fixture
def owner_api(world):
    return as_user(world.owner)


@pytest.fixture
def acme_admin(world):
    return member(world.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")


def create(client, **body) -> dict:
    response = client.post(STREAMS, {**HTTP, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def validation_fields(response) -> list[str]:
    assert response.status_code == 400, response.content
    return [v["field"] for v in response.json()["validations"]]


def test_a_secret_is_stored_but_never_shown_again(owner_api):
    made = create(owner_api, secret="hmac-key")

    assert made["secret_set"] is True and "secret" not in made
    shown = owner_api.get(f"{STREAMS}/{made['id']}").json()
    assert "hmac-key" not in str(shown) and shown["secret_set"] is True
    listed = owner_api.get(STREAMS).json()
    assert "hmac-key" not in str(listed)
    assert Stream.objects.get().secret_value() == "hmac-key"
    changed = owner_api.patch(f"{STREAMS}/{made['id']}", {"secret": ""}, format="json")
    assert changed.json()["secret_set"] is False


def test_a_new_stream_starts_now_unless_asked_for_the_oldest(world, owner_api):
    record(connect(world.acme_ws), connect(world.acme_ws))

    now = create(owner_api)
    oldest = create(owner_api, name="backfill", start="oldest")

    assert now["health"]["cursor"] == latest_seq() and now["health"]["lag_records"] == 0
    assert oldest["health"]["cursor"] == 0 and oldest["health"]["lag_records"] == 2


# Bodies the rules refuse, with the field each names (the streams pages refuse the same).
BAD_BODIES = [
    ({"url": ""}, "url"),
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "http://127.0.0.1:99999/s"}, "url"),
    ({"url": "https://siem:s3cret@127.0.0.1:8088/in"}, "url"),
    ({"kind": "splunk_hec", "secret": "t", "url": "https://:tok@127.0.0.1/c"}, "url"),
    ({"kind": "syslog_tcp", "url": "", "port": 514, "host": "bad host name!"}, "host"),
    ({"kind": "syslog_tcp", "url": "", "port": 514, "host": "127.0.0.1\nfoo"}, "host"),
    ({"kind": "syslog_tcp", "url": "", "port": 514, "host": "[::1]"}, "host"),
    ({"kind": "syslog_tls", "url": "", "port": 6514, "host": "h", "tls_ca": "not a pem"}, "tls_ca"),
    ({"kind": "syslog_tls", "url": "", "port": 6514, "host": "h", "tls_ca": "é"}, "tls_ca"),
    ({"kind": "splunk_hec"}, "secret"),
    ({"kind": "syslog_tcp", "url": "", "host": "127.0.0.1"}, "port"),
    ({"kind": "syslog_udp", "url": "", "port": 70000, "host": "h"}, "port"),
    ({"kind": "carrier-pigeon"}, "kind"),
    ({"q": "type:teleport"}, "type"),
    ({"q": "type:ssh", "view": "stale-sessions"}, "view"),
    ({"view": "no-such-view"}, "view"),
    ({"batch_size": 0}, "batch_size"),
    ({"organization": "initech"}, "organization"),
]


@pytest.mark.parametrize("body, field", BAD_BODIES)
def test_bad_streams_are_refused_with_the_field(owner_api, body, field):
    response = owner_api.post(STREAMS, {**HTTP, **body}, format="json")
    assert field in validation_fields(response)
    assert not Stream.objects.exists()


def test_an_organization_admin_streams_their_organization_only(world, acme_admin):
    client = as_user(acme_admin)

    everything = client.post(STREAMS, HTTP, format="json")
    own = create(client, organization="acme")

    assert everything.status_code == 403
    assert own["organization"]["name"] == "acme"
    # ...and cannot move it to every organization later.
    moved = client.patch(f"{STREAMS}/{own['id']}", {"organization": None}, format="json")
    assert moved.status_code == 403
    assert Stream.objects.get().organization_id == world.acme.id


def test_an_admin_of_one_organization_who_sees_another_may_not_stream_it(world, acme_admin):
    Membership.objects.create(
        user=acme_admin, organization=world.globex, roles=[roles.ORGANIZATION_AUDITOR]
    )

    response = as_user(acme_admin).post(STREAMS, {**HTTP, "organization": "globex"}, format="json")

    assert response.status_code == 403


def test_admins_list_only_their_organizations_streams(world, owner_api, acme_admin):
    create(owner_api, name="all")
    create(owner_api, name="acme", organization="acme")
    create(owner_api, name="globex", organization="globex")

    names = [s["name"] for s in as_user(acme_admin).get(STREAMS).json()["streams"]]
    every = [s["name"] for s in owner_api.get(STREAMS).json()["streams"]]

    assert names == ["acme"] and every == ["acme", "all", "globex"]


def test_pause_and_resume(world, owner_api):
    made = create(owner_api)
    Stream.objects.filter(pk=made["id"]).update(failures=7)

    paused = owner_api.post(f"{STREAMS}/{made['id']}/pause").json()
    assert paused["paused"] is True
    assert not delivery.claim(made["id"], "w1")
    resumed = owner_api.post(f"{STREAMS}/{made['id']}/resume").json()
    assert resumed["paused"] is False and resumed["health"]["failures"] == 0
    assert delivery.claim(made["id"], "w1")


def test_health_shows_lag_then_what_was_delivered(world, owner_api, receiver):
    made = create(owner_api, url=receiver.url)
    record(connect(world.acme_ws), connect(world.globex_ws), connect(world.acme_ws))

    before = owner_api.get(f"{STREAMS}/{made['id']}").json()["health"]
    delivery.deliver_round(made["id"], "w1")
    after = owner_api.get(f"{STREAMS}/{made['id']}").json()["health"]

    assert before["lag_records"] == 3 and before["lag_seconds"] >= 0
    assert before["last_success_at"] is None and before["delivered_last_hour"] == 0
    assert after["lag_records"] == 0 and after["lag_seconds"] == 0
    assert after["delivered_last_hour"] == 3 and after["last_success_at"] is not None


def test_health_shows_the_last_error(world, owner_api):
    made = create(owner_api, start="oldest")
    record(connect(world.acme_ws))

    delivery.deliver_round(made["id"], "w1")

    health = owner_api.get(f"{STREAMS}/{made['id']}").json()["health"]
    assert health["failures"] == 1 and "ConnectionError" in health["last_error"]
    assert health["lag_records"] == 1


def test_a_stream_that_does_not_exist_or_is_not_a_uuid_is_404(owner_api):
    assert owner_api.get(f"{STREAMS}/not-a-uuid").status_code == 404
    assert owner_api.get(f"{STREAMS}/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 404


def test_the_streams_are_in_the_openapi_schema(owner_api):
    paths = owner_api.get("/api/v2/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v2/connectionlog/streams"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v2/connectionlog/streams/{stream}"])
    assert "post" in paths["/api/v2/connectionlog/streams/{stream}/pause"]
    assert "post" in paths["/api/v2/connectionlog/streams/{stream}/resume"]


def test_a_change_keeps_a_view_the_editor_cannot_open(world, acme_admin, make_stream):
    private = SavedView.objects.create(name="root's own", owner=world.owner, q="type:ssh")
    stream = make_stream(url="http://127.0.0.1:9/", organization=world.acme, view=str(private.id))
    client = as_user(acme_admin)

    renamed = client.patch(f"{STREAMS}/{stream.pk}", {"name": "renamed"}, format="json")
    pointed = client.patch(f"{STREAMS}/{stream.pk}", {"view": str(private.id)}, format="json")

    assert renamed.status_code == 200 and renamed.json()["view"] == str(private.id)
    assert validation_fields(pointed) == ["view"]
