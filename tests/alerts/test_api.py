"""The alert rules API: create, read, change, pause, delete; the webhook secret write-only;
validation in the contract's shape; organization admins scoped to their organizations (403
for members, 404 for another organization's rule); the firings list; the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.db import connection

from connlogs import roles
from connlogs.alerts.models import AlertRule
from connlogs.feed.reading import latest_seq
from tests.alerts.conftest import at, run
from tests.conftest import as_user
from tests.factories import member
from tests.feed.conftest import connect, record

RULES = "/api/v2/connectionlog/alerts/rules"
FIRINGS = "/api/v2/connectionlog/alerts/firings"
WEBHOOK = {"name": "ssh", "kind": "each_match", "channel": "webhook", "url": "http://127.0.0.1:9/"}


@pytest.fixture
def owner_api(world):
    return as_user(world.owner)


@pytest.fixture
def acme_admin(world):
    return member(world.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")


@pytest.fixture
def globex_admin(world):
    return member(world.globex, roles.ORGANIZATION_ADMIN, username="globex-admin")


def create(client, **body) -> dict:
    response = client.post(RULES, {**WEBHOOK, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def fields(response) -> list[str]:
    assert response.status_code == 400, response.content
    return [v["field"] for v in response.json()["validations"]]


def test_a_rule_is_created_read_changed_paused_and_deleted(world, owner_api):
    record(connect(world.acme_ws))
    made = create(owner_api, q="type:ssh", cooldown_minutes=10)
    assert made["cursor"] == latest_seq()  # from now on
    assert (made["kind"], made["q"], made["cooldown_minutes"]) == ("each_match", "type:ssh", 10)

    assert owner_api.get(f"{RULES}/{made['id']}").json()["name"] == "ssh"
    changed = owner_api.patch(
        f"{RULES}/{made['id']}",
        {"kind": "threshold", "threshold": 21, "window_minutes": 5, "paused": True},
        format="json",
    ).json()
    assert (changed["kind"], changed["threshold"], changed["paused"]) == ("threshold", 21, True)
    assert [r["id"] for r in owner_api.get(RULES).json()["rules"]] == [made["id"]]
    assert owner_api.delete(f"{RULES}/{made['id']}").status_code == 204
    assert owner_api.get(f"{RULES}/{made['id']}").status_code == 404


def test_the_webhook_secret_is_stored_but_never_shown(owner_api):
    made = create(owner_api, secret="hmac-key")
    assert made["secret_set"] is True and "hmac-key" not in str(made)
    assert "hmac-key" not in str(owner_api.get(RULES).json())
    assert AlertRule.objects.get().secret_value() == "hmac-key"
    with connection.cursor() as cursor:  # at rest: never the plaintext
        cursor.execute("SELECT secret_encrypted FROM connlogs_alertrule")
        assert "hmac-key" not in cursor.fetchone()[0]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"q": "type:telnet"}, ["type"]),
        ({"q": "type:ssh", "view": "stale-sessions"}, ["view"]),
        ({"view": "no-such-view"}, ["view"]),
        ({"kind": "threshold", "threshold": 0}, ["threshold"]),
        ({"kind": "threshold", "window_minutes": 100000}, ["window_minutes"]),
        # Fields the kind or the channel never reads: refused, not stored unused.
        ({"threshold": 5}, ["threshold"]),
        ({"kind": "threshold", "new_address_days": 7}, ["new_address_days"]),
        ({"channel": "email", "email_to": "a@example.com"}, ["url"]),
        ({"channel": "slack", "secret": "k"}, ["secret"]),
        ({"email_to": "a@example.com"}, ["email_to"]),
        ({"url": "ftp://example.com"}, ["url"]),
        ({"url": "http://127.0.0.1:99999/s"}, ["url"]),
        ({"url": "https://hook:s3cret@example.com/in"}, ["url"]),
        ({"channel": "slack", "url": "https://user@hooks.example.com/x"}, ["url"]),
        ({"channel": "email", "url": "", "email_to": "not-an-address"}, ["email_to"]),
        ({"channel": "email", "url": ""}, ["email_to"]),
        ({"organization": "no-such-org"}, ["organization"]),
        ({"kind": "sometimes"}, ["kind"]),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field(owner_api, body, expected):
    assert fields(owner_api.post(RULES, {**WEBHOOK, **body}, format="json")) == expected
    assert AlertRule.objects.count() == 0


def test_members_may_not_manage_rules(world):
    client = as_user(world.alice)
    assert client.get(RULES).status_code == 403
    assert client.post(RULES, WEBHOOK, format="json").status_code == 403
    assert client.get(FIRINGS).status_code == 403


def test_an_organization_admin_manages_their_organizations_rules_only(
    world, acme_admin, globex_admin
):
    acme = as_user(acme_admin)
    # Every rule of theirs names one of their organizations.
    assert acme.post(RULES, WEBHOOK, format="json").status_code == 403
    assert acme.post(RULES, {**WEBHOOK, "organization": None}, format="json").status_code == 403
    made = create(acme, organization="acme")
    assert made["organization"]["name"] == "acme"

    globex = as_user(globex_admin)
    assert globex.get(RULES).json()["rules"] == []
    for method in ("get", "patch", "delete"):
        assert getattr(globex, method)(f"{RULES}/{made['id']}").status_code == 404
    assert globex.get(FIRINGS, {"rule": made["id"]}).status_code == 404
    # And may not move acme's rule to all organizations.
    moved = acme.patch(f"{RULES}/{made['id']}", {"organization": None}, format="json")
    assert moved.status_code == 403


def test_firings_are_listed_newest_first_with_their_rows_and_link(world, owner_api, make_rule):
    rule = make_rule(q="type:ssh")
    record(connect(world.acme_ws, time=at(0)), connect(world.acme_ws, time=at(1)))
    run(rule)

    [firing] = owner_api.get(FIRINGS).json()["firings"]

    assert firing["rule"] == {"id": str(rule.pk), "name": "watch"}
    assert firing["match_count"] == 2 and len(firing["log_ids"]) == 2
    assert firing["status"] == "delivered"
    assert firing["link"] == f"/connectionlog?q=alert_firing%3A{firing['id']}"
    assert owner_api.get(FIRINGS, {"limit": "0"}).status_code == 400


def test_the_firings_of_another_organizations_rule_are_not_listed(
    world, make_rule, acme_admin, globex_admin
):
    rule = make_rule(q="type:ssh", organization=world.acme, created_by=acme_admin)
    record(connect(world.acme_ws, time=at(0)))
    run(rule)

    assert len(as_user(acme_admin).get(FIRINGS).json()["firings"]) == 1
    assert as_user(globex_admin).get(FIRINGS).json()["firings"] == []


def test_the_alert_endpoints_are_in_the_openapi_schema(owner_api):
    schema = owner_api.get("/api/v2/openapi.json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v2/connectionlog/alerts/rules"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v2/connectionlog/alerts/rules/{rule}"])
    assert "get" in paths["/api/v2/connectionlog/alerts/firings"]
    body = schema["components"]["schemas"]["AlertRuleBodyRequest"]["properties"]["secret"]
    assert body["writeOnly"] is True
    assert "secret" not in schema["components"]["schemas"]["AlertRule"]["properties"]


def test_an_edit_keeps_a_view_the_editor_cannot_open(world, owner_api, acme_admin):
    """A view is checked when it is set: the rule can still be paused or renamed by an
    editor who cannot open it (another user's view, or one since deleted), as a stream."""
    from connlogs.savedviews.models import SavedView

    private = SavedView.objects.create(name="root's own", owner=world.owner, q="type:ssh")
    made = create(owner_api, view=str(private.id), organization="acme")
    client = as_user(acme_admin)
    paused = client.patch(f"{RULES}/{made['id']}", {"paused": True}, format="json")
    assert paused.status_code == 200 and paused.json()["view"] == str(private.id)
    pointed = client.patch(f"{RULES}/{made['id']}", {"view": str(private.id)}, format="json")
    assert fields(pointed) == ["view"]
    private.delete()
    renamed = owner_api.patch(f"{RULES}/{made['id']}", {"name": "renamed"}, format="json")
    assert renamed.status_code == 200


def test_a_url_with_credentials_is_refused_when_set_and_an_older_one_kept(world, owner_api):
    """A URL holding a user name or password is refused (it would be stored and shown as
    typed, beside secrets that are encrypted and never shown); a rule saved before the check
    can still be paused, and its URL replaced."""
    made = create(owner_api)
    AlertRule.objects.filter(pk=made["id"]).update(url="https://u:pw@127.0.0.1:9/")
    paused = owner_api.patch(f"{RULES}/{made['id']}", {"paused": True}, format="json")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    again = owner_api.patch(
        f"{RULES}/{made['id']}", {"url": "https://v:pw@127.0.0.1:9/"}, format="json"
    )
    assert fields(again) == ["url"]
    assert "user name or password" in again.json()["validations"][0]["detail"]
    fixed = owner_api.patch(f"{RULES}/{made['id']}", {"url": "https://127.0.0.1:9/"}, format="json")
    assert fixed.status_code == 200 and fixed.json()["url"] == "https://127.0.0.1:9/"


def test_an_admin_may_not_steer_a_rule_that_reads_as_a_site_owner(
    world, owner_api, acme_admin, settings
):
    """In data protection mode a site owner's rule searches with the names its creator sees
    (and its webhook carries rows as they see them): an organization admin shown pseudonyms
    may rename, pause or delete it, not change its search, channel or receiver, whichever
    the channel (an email rule turned into a webhook of theirs would say the same). Without
    the mode nothing is hidden."""
    settings.CONNLOGS_DATA_PROTECTION = "on"
    hook = create(owner_api, organization="acme")
    mail = create(
        owner_api, organization="acme", channel="email", email_to="soc@example.com", url=""
    )
    client = as_user(acme_admin)
    refusals = [
        (hook, {"url": "http://127.0.0.1:9/mine"}),
        (hook, {"q": "workspace_owner:alice"}),
        (hook, {"secret": "k"}),
        (hook, {"channel": "slack", "url": "http://127.0.0.1:9/mine"}),
        (mail, {"q": "workspace_owner:alice"}),
        (mail, {"channel": "webhook", "url": "http://127.0.0.1:9/mine"}),
    ]
    for rule, change in refusals:
        refused = client.patch(f"{RULES}/{rule['id']}", change, format="json")
        assert refused.status_code == 403, (change, refused.content)
        assert "reads the log as root, who sees identities" in refused.json()["detail"]
    assert AlertRule.objects.get(pk=hook["id"]).url == WEBHOOK["url"]
    for allowed in ({"name": "renamed"}, {"paused": True}, {**WEBHOOK, "paused": False}):
        assert client.patch(f"{RULES}/{hook['id']}", allowed, format="json").status_code == 200
    settings.CONNLOGS_DATA_PROTECTION = "off"
    moved = client.patch(f"{RULES}/{hook['id']}", {"url": "http://127.0.0.1:9/mine"}, format="json")
    assert moved.status_code == 200
