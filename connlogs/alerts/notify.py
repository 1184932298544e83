"""Telling a rule's receiver that it fired: an HTTP webhook (JSON, signed as the http stream
signs: ``X-Connlogs-Signature: sha256=<hex HMAC-SHA256 of the body>``), a Slack-compatible
incoming webhook (``{"text": …}``, Slack's "Sending messages using incoming webhooks"), or an
email through Django's email backend (``EMAIL_*`` settings, ``DEFAULT_FROM_EMAIL``).

Each raises ``NotificationFailed`` with a text that carries no secret. The webhook body names
the firing's ``id``, so a receiver that is told twice (at least once) can de-duplicate.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from connlogs import destinations
from connlogs.accesslog.record import Door, Read, Reader, record
from connlogs.alerts.models import AlertFiring, AlertRule, Channel
from connlogs.api.serializers import connection_log_entries
from connlogs.models import ConnectionLog
from connlogs.privacy.identities import Identities
from connlogs.streams.destinations import SIGNATURE_HEADER, DeliveryFailed, hmac_signature, post
from connlogs.streams.secrets import SecretUnreadable
from connlogs.values import format_time

# Rows a notification lists at most; the link shows them all.
NOTIFY_ROWS = 100


class NotificationFailed(Exception):
    """The receiver did not take the notification; the text says why."""


def firing_path(firing_id) -> str:
    """The list page filtered to exactly the firing's rows (``q=alert_firing:<id>``)."""
    return reverse("connectionlog-list") + "?" + urlencode({"q": f"alert_firing:{firing_id}"})


def firing_link(firing: AlertFiring) -> str:
    """``firing_path`` under ``CONNLOGS_BASE_URL`` (the address users open connlogs at)."""
    return settings.CONNLOGS_BASE_URL.rstrip("/") + firing_path(firing.pk)


def firing_rows(firing: AlertFiring) -> list[ConnectionLog]:
    """The firing's rows a notification lists: the first ``NOTIFY_ROWS``, oldest first."""
    ids = firing.rows.values_list("log_id", flat=True)[:NOTIFY_ROWS]
    rows = ConnectionLog.objects.filter(id__in=list(ids)).with_related().order_by("connect_time")
    return list(rows)


def payload(
    rule: AlertRule, firing: AlertFiring, rows: list[ConnectionLog], identities: Identities
) -> dict:
    """The webhook's JSON: ``{"rule": {id, name, kind}, "firing": {id, fired_at, match_count,
    window_start, window_end, link}, "connection_logs": [``rows`` in the read contract's
    shape as the rule's creator sees them (``identities``)]}``."""
    return {
        "rule": {"id": str(rule.pk), "name": rule.name, "kind": rule.kind},
        "firing": {
            "id": str(firing.pk),
            "fired_at": format_time(firing.fired_at),
            "match_count": firing.match_count,
            "window_start": format_time(firing.window_start),
            "window_end": format_time(firing.window_end),
            "link": firing_link(firing),
        },
        "connection_logs": connection_log_entries(rows, rule.created_by, identities),
    }


def _record_webhook(
    rule: AlertRule, firing: AlertFiring, rows: list[ConnectionLog], identities: Identities
) -> None:
    """The access-log entry of a webhook about to carry ``rows`` (door ``alert``): read as
    the rule's creator, named after the rule, addressed to its receiver, with the firing's
    own search (``alert_firing:<id>``). Written before the POST, so a notification whose
    entry cannot be written is not sent; each attempt is recorded."""
    sender = f'alert rule "{rule.name}"'
    reader = Reader.for_delivery(rule.created_by, sender, destinations.receiver(rule.url))
    read = Read(
        door=Door.ALERT,
        q=f"alert_firing:{firing.pk}",
        rows=len(rows),
        organizations={row.organization_id for row in rows},
    )
    record(reader, read, identities)


def summary(rule: AlertRule, firing: AlertFiring) -> str:
    """One line for Slack and the email's subject and body."""
    rows = "1 connection" if firing.match_count == 1 else f"{firing.match_count} connections"
    return (
        f'connlogs alert "{rule.name}": {rows} between {format_time(firing.window_start)} '
        f"and {format_time(firing.window_end)}"
    )


def _post(session: requests.Session, url: str, body: bytes, headers: dict) -> None:
    try:
        post(session, url, body, headers)
    except DeliveryFailed as failure:
        raise NotificationFailed(str(failure)) from None


def send_webhook(rule: AlertRule, firing: AlertFiring, session: requests.Session) -> None:
    """POST ``payload`` as JSON, signed when the rule has a secret; recorded in the access
    log first (the Slack message and the email carry no rows: a count and a link)."""
    rows = firing_rows(firing)
    identities = Identities.for_viewer(rule.created_by)
    body = json.dumps(payload(rule, firing, rows, identities), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if rule.has_secret:
        try:
            key = rule.secret_value()
        except SecretUnreadable as error:
            raise NotificationFailed(str(error)) from None
        headers[SIGNATURE_HEADER] = hmac_signature(key, body)
    _record_webhook(rule, firing, rows, identities)
    _post(session, rule.url, body, headers)


def _escape_slack(text: str) -> str:
    # Slack's message formatting: &, < and > are control characters in "text".
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_slack(rule: AlertRule, firing: AlertFiring, session: requests.Session) -> None:
    """POST ``{"text": summary <link|open the rows>}`` to the incoming webhook."""
    text = f"{_escape_slack(summary(rule, firing))} <{firing_link(firing)}|open the rows>"
    body = json.dumps({"text": text}).encode()
    _post(session, rule.url, body, {"Content-Type": "application/json"})


def send_email(rule: AlertRule, firing: AlertFiring, session: requests.Session) -> None:
    """One email to the rule's ``email_to`` addresses through Django's email backend."""
    recipients = [address.strip() for address in rule.email_to.split(",") if address.strip()]
    body = f"{summary(rule, firing)}.\n\nThe rows: {firing_link(firing)}\n"
    try:
        send_mail(summary(rule, firing), body, None, recipients, fail_silently=False)
    except Exception as error:  # noqa: BLE001 - any backend's failure is a failed attempt
        raise NotificationFailed(f"{type(error).__name__}: {error}") from None


SENDERS = {Channel.WEBHOOK: send_webhook, Channel.SLACK: send_slack, Channel.EMAIL: send_email}


def notify(rule: AlertRule, firing: AlertFiring, session: requests.Session) -> None:
    """Tell ``rule``'s receiver about ``firing``; raises ``NotificationFailed``."""
    SENDERS[rule.channel](rule, firing, session)
