"""The streams page: a manager sees their streams' health and the workers' heartbeat, text
the page shows is escaped, and the menu links to it only for those who may open it."""

from __future__ import annotations

from django.test import Client
from django.utils import timezone

from connlogs import roles
from connlogs.streams import scheduling
from connlogs.streams.models import Stream
from tests.factories import member

PAGE = "/connectionlog/streams"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_sees_their_streams_health_escaped(world, make_stream):
    admin = member(world.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")
    make_stream(name="<b>acme</b>", url="http://127.0.0.1:9/", organization=world.acme)
    make_stream(name="globex-only", url="http://127.0.0.1:9/", organization=world.globex)
    Stream.objects.filter(name="<b>acme</b>").update(
        failures=2, last_error="HTTP 503: <script>x</script>"
    )

    page = signed_in(admin).get(PAGE).content.decode()

    assert "&lt;b&gt;acme&lt;/b&gt;" in page and "globex-only" not in page
    assert "Retrying (2)" in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "No background worker has run yet" in page
    assert 'href="/connectionlog/streams"' in page


def test_the_page_shows_the_workers_heartbeat(world):
    scheduling.beat("w1", timezone.now())

    page = signed_in(world.owner).get(PAGE).content.decode()

    assert "Background workers: 1 alive" in page


def test_a_reader_who_manages_nothing_gets_no_link_and_a_403(world):
    auditor = world.acme_auditor

    assert (
        'href="/connectionlog/streams"'
        not in signed_in(auditor).get("/connectionlog").content.decode()
    )
    response = signed_in(auditor).get(PAGE)
    assert response.status_code == 403 and b"managed by admins" in response.content
