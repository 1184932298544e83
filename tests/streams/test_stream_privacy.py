"""Streams through the privacy layer: in data protection mode a stream sends pseudonyms, not
the people and addresses of protected rows, unless a site owner who may see identities turned
``pseudonymised`` off; nobody else may."""

from __future__ import annotations

import pytest

from connlogs import roles
from connlogs.models import Pseudonym
from connlogs.streams import delivery
from connlogs.streams.models import Stream
from tests.conftest import as_user
from tests.factories import member
from tests.feed.conftest import connect, record, web
from tests.privacy.conftest import fresh_key  # noqa: F401 - autouse, shared

STREAMS = "/api/v2/connectionlog/streams"
ADDRESS = "203.0.113.77"


@pytest.fixture
def protected(settings):
    settings.CONNLOGS_DATA_PROTECTION = "on"


def _real_identities(world) -> list[bytes]:
    alice = world.alice
    found = [alice.username, alice.email, str(alice.id), ADDRESS]
    return [value.encode() for value in found if value]


def _deliver_everything(world, receiver, make_stream, **fields) -> bytes:
    record(
        connect(world.acme_ws, ip=ADDRESS),
        web(world.acme_ws, user_id=str(world.alice.id), ip=ADDRESS),
    )
    stream = make_stream(url=receiver.url, **fields)
    assert delivery.deliver_round(stream.pk, "w1").records == 2
    return b"".join(body for _, body in receiver.bodies)


def test_a_stream_sends_pseudonyms_in_data_protection_mode(world, receiver, make_stream, protected):
    received = _deliver_everything(world, receiver, make_stream)

    for real in _real_identities(world):
        assert real not in received, real
    assert b"@pseudonym.invalid" in received and b'"ip":"2001:db8:' in received
    # The pseudonyms sent can be typed back into a search (indexed after the round).
    shown = receiver.records[0]["connection_log"]["workspace_owner_username"]
    assert Pseudonym.objects.filter(token=shown).exists()


def test_a_site_owner_may_send_identities_in_clear(world, receiver, make_stream, protected):
    received = _deliver_everything(world, receiver, make_stream, pseudonymised=False)

    for real in _real_identities(world):
        assert real in received, real


def test_without_the_mode_a_stream_sends_identities(world, receiver, make_stream):
    received = _deliver_everything(world, receiver, make_stream)

    assert world.alice.username.encode() in received and ADDRESS.encode() in received


def test_only_a_site_owner_turns_pseudonyms_off(world, protected):
    admin = member(world.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")
    body = {"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/in"}

    refused = as_user(admin).post(
        STREAMS, {**body, "organization": "acme", "pseudonymised": False}, format="json"
    )
    assert refused.status_code == 403, refused.content
    assert [v["field"] for v in refused.json()["validations"]] == ["pseudonymised"]
    assert refused.json()["message"] and not Stream.objects.exists()

    made = as_user(admin).post(STREAMS, {**body, "organization": "acme"}, format="json")
    assert made.status_code == 201 and made.json()["pseudonymised"] is True
    stream = made.json()["id"]
    patched = as_user(admin).patch(f"{STREAMS}/{stream}", {"pseudonymised": False}, format="json")
    assert patched.status_code == 403
    assert Stream.objects.get(pk=stream).pseudonymised is True

    by_owner = as_user(world.owner)
    answer = by_owner.patch(f"{STREAMS}/{stream}", {"pseudonymised": False}, format="json")
    assert answer.status_code == 200 and answer.json()["pseudonymised"] is False


def test_an_owner_who_may_not_see_identities_may_not_send_them(world, settings, protected):
    settings.CONNLOGS_OWNERS_SEE_IDENTITIES = False
    body = {"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/in"}

    answer = as_user(world.owner).post(STREAMS, {**body, "pseudonymised": False}, format="json")

    assert answer.status_code == 403 and not Stream.objects.exists()


@pytest.mark.parametrize("pseudonymised", [False, True], ids=["in clear", "pseudonyms"])
def test_an_admin_may_not_steer_a_stream_that_reads_as_a_site_owner(
    world, protected, pseudonymised
):
    """A site owner's stream searches with the names its creator sees: an organization admin
    shown pseudonyms who pointed it at a receiver of their own, or set its search, would
    learn which pseudonym a name has (or, in clear, the people). Renaming, pausing, resuming
    and turning pseudonyms on stay theirs."""
    admin = member(world.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")
    body = {"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/in"}
    made = as_user(world.owner).post(
        STREAMS, {**body, "organization": "acme", "pseudonymised": pseudonymised}, format="json"
    )
    assert made.status_code == 201, made.content
    path, client = f"{STREAMS}/{made.json()['id']}", as_user(admin)
    for change in (
        {"url": "http://127.0.0.1:9/mine"},
        {"q": "workspace_owner:alice"},
        {"kind": "syslog_tcp", "url": "", "host": "127.0.0.1", "port": 514},
        {"secret": "my-key"},
        {"name": "renamed", "url": "http://127.0.0.1:9/mine"},
        {"pseudonymised": True, "url": "http://127.0.0.1:9/mine"},
    ):
        refused = client.patch(path, change, format="json")
        assert refused.status_code == 403, (change, refused.content)
        assert "reads the log as root, who sees identities" in refused.json()["message"]
    stored = Stream.objects.get()
    assert (stored.url, stored.q, stored.name, stored.has_secret) == (
        body["url"],
        "",
        "siem",
        False,
    )
    for allowed in ({"name": "renamed"}, {"paused": True}, {"paused": False}, body):
        assert client.patch(path, allowed, format="json").status_code == 200, allowed
    assert client.patch(path, {"pseudonymised": True}, format="json").status_code == 200
    assert client.delete(path).status_code == 204


def test_only_a_site_owner_changes_a_stream_in_clear(world, protected, settings):
    """Beyond that, a stream sending identities in clear changes only by a site owner who
    may see them: not by an organization admin who is an identity viewer."""
    viewer = member(
        world.acme, roles.ORGANIZATION_ADMIN, username="viewer", site_roles=[roles.IDENTITY_VIEWER]
    )
    made = as_user(world.owner).post(
        STREAMS,
        {
            "name": "siem",
            "kind": "http",
            "url": "http://127.0.0.1:9/in",
            "organization": "acme",
            "pseudonymised": False,
        },
        format="json",
    )
    path = f"{STREAMS}/{made.json()['id']}"
    refused = as_user(viewer).patch(path, {"url": "http://127.0.0.1:9/mine"}, format="json")
    assert refused.status_code == 403 and "sends identities in clear" in refused.json()["message"]
    assert as_user(viewer).patch(path, {"name": "x"}, format="json").status_code == 200


@pytest.mark.parametrize("pseudonymised", [True, False], ids=["pseudonyms", "in clear"])
def test_each_batch_sent_is_in_the_access_log(
    world, receiver, make_stream, protected, pseudonymised
):
    """A stream reads connection logs as its creator and sends them out: each batch is an
    access-log entry (door ``stream``) naming the stream, its receiver, the rows and their
    organizations, and whether protected rows went in clear (a reveal)."""
    from connlogs.models import AccessLogEntry

    record(connect(world.acme_ws), connect(world.acme_ws), connect(world.globex_ws))
    stream = make_stream(url=receiver.url, batch_size=2, pseudonymised=pseudonymised)
    assert delivery.deliver_round(stream.pk, "w1").records == 3

    entries = list(AccessLogEntry.objects.filter(door="stream").order_by("id"))
    assert [entry.rows for entry in entries] == [2, 1]
    host_port = receiver.url.split("/")[2]
    for entry in entries:
        assert (entry.username, entry.token_name, entry.address) == (
            world.owner.username,
            'stream "siem"',
            host_port,
        )
        assert entry.revealed is not pseudonymised
    organizations = {pk for entry in entries for pk in entry.organizations.split()}
    assert organizations == {str(world.acme.pk), str(world.globex.pk)}


def test_the_view_a_site_owners_stream_follows_keeps_its_search(world, protected):
    """A view shared with an organization that a site owner's stream follows is what the
    stream sends: the organization's admin, shown pseudonyms, may not change its search
    (it would steer the stream), only rename it; the site owner may."""
    admin = member(world.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")
    views = "/api/v2/connectionlog/views"
    view = as_user(world.owner).post(
        views,
        {"name": "ssh", "q": "type:ssh", "sharing": "organization", "organization": "acme"},
        format="json",
    )
    assert view.status_code == 201, view.content
    path = f"{views}/{view.json()['id']}"
    stream = {
        "name": "siem",
        "kind": "http",
        "url": "http://127.0.0.1:9/in",
        "view": view.json()["id"],
    }
    assert (
        as_user(world.owner)
        .post(STREAMS, {**stream, "organization": "acme"}, format="json")
        .status_code
        == 201
    )

    refused = as_user(admin).patch(path, {"q": "workspace_owner:alice"}, format="json")
    assert refused.status_code == 403 and 'a stream ("siem")' in refused.json()["message"]
    assert as_user(admin).patch(path, {"name": "renamed"}, format="json").status_code == 200
    assert as_user(world.owner).patch(path, {"q": "type:vscode"}, format="json").status_code == 200
