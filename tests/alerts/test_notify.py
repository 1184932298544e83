"""Notifications: a signed JSON webhook to a loopback receiver, a Slack-compatible incoming
webhook, email through Django's locmem backend; and the link of a firing, which opens the
list filtered to exactly its rows."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from connlogs.alerts.models import AlertFiring, Channel, FiringStatus
from tests.alerts.conftest import at, run
from tests.conftest import as_user
from tests.feed.conftest import connect, record, web

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.CONNLOGS_BASE_URL = ""


def test_the_webhook_is_json_signed_with_hmac_sha256_of_the_body(world, make_rule, receiver):
    rule = make_rule(name="ssh", q="type:ssh", secret="hmac-key")
    record(connect(world.acme_ws, time=at(0), ip="198.51.100.7"))

    run(rule)

    [(headers, body)] = receiver.bodies
    expected = hmac.new(b"hmac-key", body, hashlib.sha256).hexdigest()
    assert headers["X-Connlogs-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    firing = AlertFiring.objects.get()
    assert sent["rule"] == {"id": str(rule.pk), "name": "ssh", "kind": "each_match"}
    assert sent["firing"]["id"] == str(firing.pk) and sent["firing"]["match_count"] == 1
    assert sent["firing"]["link"] == f"/connectionlog?q=alert_firing%3A{firing.pk}"
    assert [row["ip"] for row in sent["connection_logs"]] == ["198.51.100.7"]
    assert firing.status == FiringStatus.DELIVERED


def test_a_refused_webhook_is_recorded_with_its_error_and_retried_later(world, make_rule, receiver):
    receiver.refuse = True
    rule = make_rule(q="type:ssh")
    record(connect(world.acme_ws, time=at(0)))

    run(rule)

    firing = AlertFiring.objects.get()
    assert firing.status == FiringStatus.PENDING and firing.attempts == 1
    assert firing.last_error.startswith("HTTP 503")
    assert firing.next_attempt_at > firing.fired_at


def test_slack_gets_one_escaped_line_with_a_link_to_the_rows(world, make_rule, receiver, settings):
    settings.CONNLOGS_BASE_URL = "https://logs.example.com"
    rule = make_rule(name="<b>ssh & co</b>", channel=Channel.SLACK, q="type:ssh")
    record(connect(world.acme_ws, time=at(0)))

    run(rule)

    [(_, body)] = receiver.bodies
    text = json.loads(body)["text"]
    firing = AlertFiring.objects.get()
    assert text.startswith('connlogs alert "&lt;b&gt;ssh &amp; co&lt;/b&gt;": 1 connection')
    assert text.endswith(
        f"<https://logs.example.com/connectionlog?q=alert_firing%3A{firing.pk}|open the rows>"
    )


def test_email_goes_through_the_django_email_backend(world, make_rule, mailoutbox, settings):
    settings.CONNLOGS_BASE_URL = "https://logs.example.com/"
    rule = make_rule(
        name="long sessions", channel=Channel.EMAIL, url="", email_to="sec@acme.test, b@acme.test"
    )
    record(connect(world.acme_ws, time=at(0)), connect(world.acme_ws, time=at(1)))

    run(rule)

    [mail] = mailoutbox
    assert mail.to == ["sec@acme.test", "b@acme.test"]
    assert mail.subject.startswith('connlogs alert "long sessions": 2 connections between')
    firing = AlertFiring.objects.get()
    assert f"https://logs.example.com/connectionlog?q=alert_firing%3A{firing.pk}" in mail.body
    assert firing.status == FiringStatus.DELIVERED


def test_a_firing_link_lists_exactly_its_rows_in_the_readers_scope(world, make_rule):
    rule = make_rule(q="type:ssh")
    record(
        connect(world.acme_ws, time=at(0)),
        connect(world.globex_ws, time=at(1)),
        web(world.acme_ws, time=at(2)),
    )
    run(rule)
    record(connect(world.acme_ws, time=at(3)))  # after the firing: not its row
    firing = AlertFiring.objects.get()
    expected = {str(pk) for pk in firing.rows.values_list("log_id", flat=True)}
    assert len(expected) == 2

    def listed(user) -> set[str]:
        response = as_user(user).get("/api/v2/connectionlog", {"q": f"alert_firing:{firing.pk}"})
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["connection_logs"]}

    assert listed(world.owner) == expected
    assert len(listed(world.acme_auditor)) == 1  # their organization's row only


@pytest.mark.parametrize("mode", ["on", "off"])
def test_a_webhook_sent_is_in_the_access_log(world, make_rule, receiver, settings, mode):
    """A webhook carries rows out as the rule's creator reads them: each is an access-log
    entry (door ``alert``) naming the rule, its receiver, the firing's own search and rows,
    and whether protected rows went in clear (the creator, a site owner, sees them)."""
    from connlogs.models import AccessLogEntry

    settings.CONNLOGS_DATA_PROTECTION = mode
    rule = make_rule(name="ssh", q="type:ssh")
    record(connect(world.acme_ws, time=at(0)), connect(world.acme_ws, time=at(1)))

    run(rule)

    firing = AlertFiring.objects.get()
    entry = AccessLogEntry.objects.get(door="alert")
    assert (entry.username, entry.token_name, entry.q, entry.rows) == (
        rule.created_by.username,
        'alert rule "ssh"',
        f"alert_firing:{firing.pk}",
        2,
    )
    assert entry.address == receiver.url.split("/")[2]
    assert entry.organizations == str(world.acme.pk)
    assert entry.revealed is (mode == "on")
