"""The streams' create, edit, pause/resume and delete pages: the API's rules with each refusal
next to its field, scoping (another organization's stream is a 404, members get 403), CSRF,
escaping, and the secret write-only (never in the page's HTML)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils.html import escape

from connlogs import roles
from connlogs.savedviews.models import SavedView
from connlogs.streams.models import Stream
from tests.conftest import as_user
from tests.factories import member
from tests.streams.test_api import BAD_BODIES
from tests.streams.test_api import HTTP as API_BODY
from tests.streams.test_api import STREAMS as API

NEW = "/connectionlog/streams/new"
FORM = {
    "name": "siem",
    "kind": "http",
    "url": "http://127.0.0.1:9/in",
    "host": "",
    "port": "",
    "secret": "",
    "tls_ca": "",
    "q": "",
    "view": "",
    "organization": "",
    "batch_size": "",
    "start": "now",
}


def signed_in(user, **options) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def edit_url(stream: Stream) -> str:
    return f"/connectionlog/streams/{stream.pk}/edit"


def field_errors(page: str, field: str) -> str:
    """The text of the messages shown in ``field``'s block of the form."""
    assert f'id="field-{field}"' in page, f"no {field} field on the page"
    block = page.split(f'id="field-{field}"', 1)[1]
    block = block.split('<div class="field', 1)[0].split('<div class="form-actions', 1)[0]
    return " ".join(re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', block))


@pytest.fixture
def acme_admin(world):
    return member(world.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")


def test_an_owner_creates_a_stream_and_the_secret_never_comes_back(world):
    client = signed_in(world.owner)

    created = client.post(NEW, {**FORM, "secret": "hmac-plain-42", "q": "type:ssh"})

    assert created.status_code == 302 and created["Location"] == "/connectionlog/streams"
    stream = Stream.objects.get()
    assert (stream.q, stream.organization, stream.secret_value()) == (
        "type:ssh",
        None,
        "hmac-plain-42",
    )
    listing = client.get("/connectionlog/streams").content.decode()
    assert "Stream “siem” created." in listing and edit_url(stream) in listing
    form = client.get(edit_url(stream)).content.decode()
    assert "A secret is set: leave empty to keep the current secret." in form
    assert "hmac-plain-42" not in form and stream.secret_encrypted not in form
    assert 'value="type:ssh"' in form


def test_an_empty_secret_keeps_it_and_remove_removes_it(world, make_stream):
    stream = make_stream(url="http://127.0.0.1:9/in", secret="old-key")
    client = signed_in(world.owner)
    values = {**FORM, "name": "renamed"}
    values.pop("start")

    assert client.post(edit_url(stream), values).status_code == 302
    stream.refresh_from_db()
    assert (stream.name, stream.secret_value()) == ("renamed", "old-key")

    client.post(edit_url(stream), {**values, "secret": "new-key"})
    assert Stream.objects.get().secret_value() == "new-key"

    both = client.post(edit_url(stream), {**values, "remove_secret": "on", "secret": "k2"})
    assert both.status_code == 400
    assert "Type a new secret or remove the stored one, not both." in both.content.decode()
    assert Stream.objects.get().secret_value() == "new-key"

    client.post(edit_url(stream), {**values, "remove_secret": "on"})
    assert not Stream.objects.get().has_secret


@pytest.mark.parametrize("body, field", BAD_BODIES)
def test_the_page_refuses_what_the_api_refuses_in_its_words(world, body, field):
    api = as_user(world.owner).post(API, {**API_BODY, **body}, format="json").json()
    posted = {**FORM, **{key: str(value) for key, value in body.items()}}

    response = signed_in(world.owner).post(NEW, posted)

    assert response.status_code == 400 and not Stream.objects.exists()
    shown_in = field if field in FORM else "q"  # a search key's message goes with the search
    expected = [v["detail"] for v in api["validations"] if v["field"] == field]
    assert field_errors(response.content.decode(), shown_in) == escape(" ".join(expected))


def test_numbers_typed_in_the_form_are_numbers(world):
    posted = {**FORM, "kind": "syslog_udp", "url": "", "host": "127.0.0.1", "port": "5514"}

    response = signed_in(world.owner).post(NEW, {**posted, "batch_size": "250"})

    assert response.status_code == 302
    assert Stream.objects.values_list("port", "batch_size").get() == (5514, 250)


def test_refused_values_are_escaped_and_the_secret_is_not_echoed(world):
    posted = {**FORM, "name": "<script>x</script>", "url": "javascript:<b>", "secret": "s3"}

    page = signed_in(world.owner).post(NEW, posted).content.decode()

    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<b>" not in page and field_errors(page, "url")
    assert 'value="s3"' not in page


def test_an_organization_admin_streams_only_their_organizations(world, acme_admin, make_stream):
    client = signed_in(acme_admin)
    page = client.get(NEW).content.decode()
    assert f'value="{world.acme.id}"' in page and str(world.globex.id) not in page
    assert "Every organization" not in page

    refused = client.post(NEW, {**FORM, "organization": str(world.globex.id)})
    everything = client.post(NEW, FORM)
    made = client.post(NEW, {**FORM, "organization": str(world.acme.id)})

    assert refused.status_code == everything.status_code == 400
    assert field_errors(everything.content.decode(), "organization")
    assert made.status_code == 302
    assert list(Stream.objects.values_list("organization", flat=True)) == [world.acme.id]


def test_another_organizations_stream_is_not_found(world, acme_admin, make_stream):
    theirs = make_stream(url="http://127.0.0.1:9/", organization=world.globex)
    client = signed_in(acme_admin)
    base = f"/connectionlog/streams/{theirs.pk}"

    assert client.get(f"{base}/edit").status_code == 404
    assert client.post(f"{base}/edit", {**FORM, "name": "taken"}).status_code == 404
    assert client.post(f"{base}/pause").status_code == 404
    assert client.post(f"{base}/delete").status_code == 404
    theirs.refresh_from_db()
    assert (theirs.name, theirs.paused) == ("siem", False)


def test_members_get_403_on_every_stream_page(world, make_stream):
    stream = make_stream(url="http://127.0.0.1:9/", organization=world.acme)
    client = signed_in(world.acme_auditor)

    for path in (NEW, edit_url(stream), f"/connectionlog/streams/{stream.pk}/delete"):
        assert client.get(path).status_code == 403
    assert client.post(NEW, FORM).status_code == 403
    assert client.post(f"/connectionlog/streams/{stream.pk}/pause").status_code == 403
    assert Stream.objects.count() == 1 and not Stream.objects.get().paused


def test_a_post_without_the_csrf_token_is_refused(world):
    response = signed_in(world.owner, enforce_csrf_checks=True).post(NEW, FORM)

    assert response.status_code == 403 and not Stream.objects.exists()


def test_pause_resume_and_delete_from_the_page(world, make_stream):
    stream = make_stream(url="http://127.0.0.1:9/", failures=3)
    client = signed_in(world.owner)
    base = f"/connectionlog/streams/{stream.pk}"

    client.post(f"{base}/pause")
    assert Stream.objects.get().paused
    assert "Resume" in client.get("/connectionlog/streams").content.decode()
    client.post(f"{base}/resume")
    resumed = Stream.objects.get()
    assert not resumed.paused and resumed.failures == 0

    assert "cannot be undone" in client.get(f"{base}/delete").content.decode()
    assert Stream.objects.exists()
    client.post(f"{base}/delete")
    assert not Stream.objects.exists()


def test_signed_out_visitors_go_to_sign_in(world):
    response = Client().get(NEW)

    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_an_edit_keeps_a_view_the_editor_cannot_open_and_a_new_q_replaces_it(
    world, acme_admin, make_stream
):
    private = SavedView.objects.create(name="root's own", owner=world.owner, q="type:ssh")
    stream = make_stream(url="http://127.0.0.1:9/", organization=world.acme, view=str(private.id))
    client = signed_in(acme_admin)
    form = client.get(edit_url(stream)).content.decode()
    shown = {**FORM, "organization": str(world.acme.id), "view": str(private.id)}
    shown.pop("start")
    assert f'<option value="{private.id}" selected>' in form

    assert client.post(edit_url(stream), {**shown, "name": "renamed"}).status_code == 302
    assert Stream.objects.values_list("name", "view", "q").get() == (
        "renamed",
        str(private.id),
        "",
    )

    assert client.post(edit_url(stream), {**shown, "q": "type:vscode"}).status_code == 302
    assert Stream.objects.values_list("view", "q").get() == ("", "type:vscode")


def test_only_an_owner_who_sees_identities_chooses_pseudonyms_on_the_page(world, acme_admin):
    owner = signed_in(world.owner)
    assert 'id="field-pseudonymised"' in owner.get(NEW).content.decode()
    owner.post(NEW, {**FORM, "name": "kept", "pseudonymised": "on"})
    owner.post(NEW, {**FORM, "name": "clear"})  # the box left unticked
    assert dict(Stream.objects.values_list("name", "pseudonymised")) == {
        "kept": True,
        "clear": False,
    }
    # An organization admin is not offered the choice: their streams send pseudonyms.
    admin = signed_in(acme_admin)
    assert 'id="field-pseudonymised"' not in admin.get(NEW).content.decode()
    created = admin.post(NEW, {**FORM, "name": "acme", "organization": str(world.acme.id)})
    assert created.status_code == 302
    assert Stream.objects.get(name="acme").pseudonymised is True
