"""The alerts pages: rules and recent firings (escaped, each firing linking to exactly its
rows), the rule form (create from a preset, edit, pause, keep or remove the secret, delete),
its errors on the page, CSRF, and who may open what."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from connlogs import roles
from connlogs.alerts.models import AlertRule, RuleKind
from tests.alerts.conftest import at, run
from tests.factories import member
from tests.feed.conftest import connect, record

PAGE = "/connectionlog/alerts"
NEW = "/connectionlog/alerts/new"

pytestmark = pytest.mark.django_db


def signed_in(user, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def acme_admin(world):
    return member(world.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")


def form(world, **fields) -> dict:
    return {
        "name": "ssh",
        "kind": "each_match",
        "q": "type:ssh",
        "view": "",
        "organization": str(world.acme.id),
        "threshold": "1",
        "window_minutes": "5",
        "new_address_days": "30",
        "cooldown_minutes": "0",
        "channel": "webhook",
        "url": "http://127.0.0.1:9/hook",
        **fields,
    }


def test_an_admin_sees_their_rules_and_firings_escaped_with_links_to_the_rows(
    world, make_rule, acme_admin
):
    rule = make_rule(name="<b>acme</b>", q="type:ssh", organization=world.acme)
    make_rule(name="globex-only", organization=world.globex)
    AlertRule.objects.filter(pk=rule.pk).update(created_by=acme_admin)
    record(connect(world.acme_ws, time=at(0)))
    run(rule)
    AlertRule.objects.filter(pk=rule.pk).update(last_error="<script>x</script>")
    firing = rule.firings.get()

    page = signed_in(acme_admin).get(PAGE).content.decode()

    assert "&lt;b&gt;acme&lt;/b&gt;" in page and "globex-only" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert f'href="/connectionlog?q=alert_firing%3A{firing.pk}">1 row</a>' in page
    assert 'href="/connectionlog/alerts"' in page  # the menu


def test_members_get_a_page_that_says_why(world):
    response = signed_in(world.alice).get(PAGE)
    assert response.status_code == 403
    assert "managed by admins" in response.content.decode()
    assert 'href="/connectionlog/alerts"' not in response.content.decode()


def test_a_preset_fills_the_form_and_saving_creates_the_rule(world, acme_admin):
    client = signed_in(acme_admin)
    page = client.get(NEW, {"preset": "denied-tunnels-burst"}).content.decode()
    assert 'value="type:tunnel status_code:403"' in page and 'value="21"' in page

    response = client.post(
        NEW,
        form(
            world,
            name="tunnels",
            kind="threshold",
            q="type:tunnel status_code:403",
            threshold="21",
            cooldown_minutes="30",
            secret="hmac-key",
        ),
    )

    assert response.status_code == 302 and response["Location"] == PAGE
    rule = AlertRule.objects.get()
    assert (rule.kind, rule.threshold, rule.window_minutes) == (RuleKind.THRESHOLD, 21, 5)
    assert rule.organization == world.acme and rule.created_by == acme_admin
    assert rule.secret_value() == "hmac-key"


def test_edit_keeps_the_secret_unless_removed_and_pauses(world, make_rule, acme_admin):
    rule = make_rule(organization=world.acme, secret="hmac-key", created_by=acme_admin)
    client = signed_in(acme_admin)
    edit = f"/connectionlog/alerts/{rule.pk}/edit"
    page = client.get(edit).content.decode()
    assert "hmac-key" not in page and "An HMAC key is stored." in page

    client.post(edit, form(world, name="renamed", paused="on"))
    rule.refresh_from_db()
    assert (rule.name, rule.paused, rule.secret_value()) == ("renamed", True, "hmac-key")

    both = client.post(edit, form(world, clear_secret="on", secret="new-key"))
    assert both.status_code == 400  # neither dropped nor chosen without a word
    assert "Type a new secret or remove the stored one, not both." in both.content.decode()
    rule.refresh_from_db()
    assert rule.secret_value() == "hmac-key"

    client.post(edit, form(world, clear_secret="on"))
    rule.refresh_from_db()
    assert (rule.paused, rule.has_secret) == (False, False)


def test_a_rule_saved_before_a_check_is_paused_from_its_page(world, make_rule, acme_admin):
    """The page sends every field back: a URL saved before it was refused (credentials in
    it) is checked only when it changes, so the rule can still be paused there."""
    rule = make_rule(organization=world.acme, created_by=acme_admin)
    AlertRule.objects.filter(pk=rule.pk).update(url="https://u:pw@127.0.0.1:9/hook")
    client = signed_in(acme_admin)
    edit = f"/connectionlog/alerts/{rule.pk}/edit"
    paused = client.post(edit, form(world, url="https://u:pw@127.0.0.1:9/hook", paused="on"))
    assert paused.status_code == 302
    rule.refresh_from_db()
    assert rule.paused is True
    moved = client.post(edit, form(world, url="https://v:pw@127.0.0.1:9/hook", paused="on"))
    assert moved.status_code == 400 and "user name or password" in moved.content.decode()


def test_a_bad_rule_is_shown_on_the_form_and_nothing_is_saved(world, acme_admin):
    response = signed_in(acme_admin).post(NEW, form(world, q="type:telnet <i>"))

    assert response.status_code == 400
    page = response.content.decode()
    assert "is not a valid value" in page and "<i>" not in page.split("<form")[1].split("</form")[0]
    assert AlertRule.objects.count() == 0


def test_another_organizations_admin_cannot_open_or_delete_the_rule(world, make_rule):
    rule = make_rule(organization=world.acme)
    globex_admin = member(world.globex, roles.ORGANIZATION_ADMIN, username="globex-admin")
    client = signed_in(globex_admin)

    assert client.get(f"/connectionlog/alerts/{rule.pk}/edit").status_code == 404
    assert client.post(f"/connectionlog/alerts/{rule.pk}/delete").status_code == 404
    assert AlertRule.objects.filter(pk=rule.pk).exists()


def test_the_form_and_delete_need_the_csrf_token(world, make_rule):
    rule = make_rule()
    client = signed_in(world.owner, csrf=True)

    assert client.post(NEW, form(world)).status_code == 403
    assert client.post(f"/connectionlog/alerts/{rule.pk}/delete").status_code == 403
    assert AlertRule.objects.count() == 1
    assert signed_in(world.owner).post(f"/connectionlog/alerts/{rule.pk}/delete").status_code == 302
    assert AlertRule.objects.count() == 0


def test_a_firings_link_opens_the_list_page_with_exactly_its_rows(world, make_rule):
    rule = make_rule(q="type:ssh")
    record(connect(world.acme_ws, time=at(0)), connect(world.globex_ws, time=at(1)))
    run(rule)
    record(connect(world.acme_ws, time=at(2)))  # after the firing: not one of its rows
    firing = rule.firings.get()
    client = signed_in(world.owner)
    link = client.get(PAGE).content.decode().split('href="/connectionlog?q=alert_firing')[1]

    page = client.get("/connectionlog?q=alert_firing" + link.split('"')[0].replace("&amp;", "&"))

    assert page.status_code == 200
    shown = set(re.findall(r'href="/connectionlog/([0-9a-f-]{36})', page.content.decode()))
    assert shown == {str(pk) for pk in firing.rows.values_list("log_id", flat=True)}


def test_an_older_rule_keeping_a_field_it_does_not_read_is_renamed_from_its_page(
    world, make_rule, acme_admin
):
    """A rule saved before unread fields were refused keeps them; its page sends them back
    (stripped, as a form does) and the rename goes through. A new value is still refused."""
    rule = make_rule(organization=world.acme, created_by=acme_admin)
    AlertRule.objects.filter(pk=rule.pk).update(
        channel="email", email_to="soc@acme.test", url=" http://127.0.0.1:9/old "
    )
    client = signed_in(acme_admin)
    edit = f"/connectionlog/alerts/{rule.pk}/edit"
    mail = {"channel": "email", "email_to": "soc@acme.test"}
    kept = client.post(edit, form(world, name="renamed", url="http://127.0.0.1:9/old", **mail))
    assert kept.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "renamed"
    changed = client.post(edit, form(world, url="http://127.0.0.1:9/new", **mail))
    assert changed.status_code == 400
