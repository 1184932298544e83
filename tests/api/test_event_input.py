"""Every input handled at the write door: times, cosmetic fields, warnings.

* an event time past the allowed clock skew is refused; digits are ASCII digits (also in
  the search language's time keys);
* a cosmetic field never costs the connection record: an address with a port, brackets or
  a zone is the address, an IPv4-mapped one its IPv4 address, anything else unknown with a
  warning; free text over its limit is cut, marked on the row and warned about;
* structural errors stay all-or-nothing 400s.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from connlogs.models import ConnectionLog
from tests.api.test_events_api import agent_event, web_event
from tests.conftest import as_user
from tests.factories import UserFactory, WorkspaceFactory, member

URL = "/api/v2/connectionlog/events"
READ_URL = "/api/v2/connectionlog"
T1 = "2025-07-10T10:00:00Z"
T2 = "2025-07-10T10:05:00Z"


@pytest.fixture
def ws(org):
    return WorkspaceFactory(organization=org, owner=member(org, username="alice"), name="dev")


@pytest.fixture
def reporter_api(db):
    return as_user(UserFactory(username="gateway", site_roles=["connection-reporter"]))


def ssh(ws, action="connect", time=T1, cid=None, **extra):
    """An SSH event on a connection of its own unless ``cid`` says which."""
    return agent_event(ws, action, time, cid or str(uuid.uuid4()), **extra)


def app(ws, time=T1, **extra):
    return web_event(ws, time, **extra)


def post(client, *events, **headers):
    return client.post(URL, {"events": list(events)}, format="json", headers=headers)


def refused(response) -> list[dict]:
    assert response.status_code == 400, response.content
    assert ConnectionLog.objects.count() == 0
    return response.json()["validations"]


def rows(client) -> list[dict]:
    return client.get(READ_URL).json()["connection_logs"]


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# --- times --------------------------------------------------------------------------------


def test_an_event_more_than_a_day_ahead_is_refused_saying_by_how_much(reporter_api, ws):
    ahead = iso(timezone.now() + dt.timedelta(days=3, hours=2, seconds=30))
    [validation] = refused(post(reporter_api, ssh(ws), ssh(ws, time=ahead)))
    assert validation["field"] == "events[1].time"
    assert validation["detail"] == (
        "Is in the future: 3 days 2 hours ahead of the server's clock, "
        "where at most 1 day is accepted."
    )


def test_the_allowed_clock_skew_is_a_setting(reporter_api, ws, settings):
    settings.CONNLOGS_MAX_CLOCK_SKEW = 300
    now = timezone.now()
    [validation] = refused(post(reporter_api, ssh(ws, time=iso(now + dt.timedelta(hours=1)))))
    assert validation["detail"].endswith("where at most 5 minutes is accepted.")
    response = post(reporter_api, ssh(ws, time=iso(now + dt.timedelta(minutes=4))))
    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0}


def test_old_times_are_accepted(reporter_api, ws):
    response = post(reporter_api, ssh(ws, time="1971-02-03T04:05:06Z"))
    assert response.json()["created"] == 1


@pytest.mark.parametrize(
    "time",
    [
        "٢٠٣١-01-01T00:00:00Z",  # Arabic-Indic digits in the year
        "２０３１-01-01T00:00:00Z",  # full-width digits
        "2031-01-01T00:00:00.१२३Z",  # Devanagari digits in the fraction
        "2031-01-01T00:00:00+০২:00",  # Bengali digits in the offset
    ],
    ids=["arabic-indic year", "full-width year", "devanagari fraction", "bengali offset"],
)
def test_times_in_other_scripts_digits_are_refused(reporter_api, ws, time):
    [validation] = refused(post(reporter_api, ssh(ws, time=time)))
    assert validation["field"] == "events[0].time"
    assert validation["detail"].startswith("Must be an RFC 3339 time: ")


@pytest.mark.parametrize("key", ["connected_after", "connected_before"])
@pytest.mark.parametrize("value", ['"٢٠٣١-01-01T00:00:00Z"', '"2025-01-01T00:00:00.５Z"'])
def test_search_time_keys_refuse_other_scripts_digits(owner_api, key, value):
    response = owner_api.get(READ_URL, {"q": f"{key}:{value}"})
    assert response.status_code == 400
    [validation] = response.json()["validations"]
    assert validation["field"] == key
    assert validation["detail"].startswith(
        f'Query param "{key}" must be a valid date format (2006-01-02T15:04:05.999999999Z07:00): '
    )


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent, shown",
    [
        ("[fd7a:115c:a1e0::1]:40984", "fd7a:115c:a1e0::1"),
        ("203.0.113.5:22", "203.0.113.5"),
        ("[::1]:80", "::1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("[fe80::1%25eth0]:22", "fe80::1"),  # a zone (URL-escaped) inside brackets, a port
        ("localhost:8080", "127.0.0.1"),
        ("::ffff:cb00:7105", "203.0.113.5"),  # IPv4-mapped, written in hex
    ],
)
def test_an_address_as_reporters_write_it_is_stored_as_the_address(
    reporter_api, owner_api, ws, sent, shown
):
    response = post(reporter_api, ssh(ws), ssh(ws, ip=sent))
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0}
    assert sorted(entry.get("ip", "") for entry in rows(owner_api)) == ["", shown]


@pytest.mark.parametrize(
    "sent",
    [
        "not an address",
        "10.0.0.256",
        "10.0.0.1/32",
        "1.2.3.4:99999",
        "203.0.113.5:٢٢",
        "9" * 5000,
        "10.1.2.3\x00",
    ],
    ids=[
        "words",
        "octet 256",
        "a network",
        "port 99999",
        "arabic-indic port",
        "5000 digits",
        "NUL",
    ],
)
def test_an_address_that_is_none_is_stored_as_unknown_with_a_warning(
    reporter_api, owner_api, ws, sent
):
    response = post(reporter_api, ssh(ws, ip="10.1.2.3"), app(ws, ip=sent))
    assert response.status_code == 200
    assert response.json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "warnings": [
            {
                "field": "events[1].ip",
                "detail": "Not an IPv4 or IPv6 address: recorded as unknown.",
            }
        ],
    }
    by_type = {entry["type"]: entry for entry in rows(owner_api)}
    assert "ip" not in by_type["workspace_app"] and by_type["ssh"]["ip"] == "10.1.2.3"


def test_an_address_that_is_not_text_is_still_refused(reporter_api, ws):
    [validation] = refused(post(reporter_api, ssh(ws), ssh(ws, ip=167837955)))
    assert validation == {"field": "events[1].ip", "detail": "Must be a string."}


# --- free text over its limit ---------------------------------------------------------------

USER_AGENT = "Mozilla/5.0 " + "(extension; build) " * 296  # 5,636 characters


def test_an_overlong_user_agent_is_cut_marked_and_warned_about(reporter_api, owner_api, ws):
    assert len(USER_AGENT) > 5000
    response = post(reporter_api, ssh(ws), app(ws, user_agent=USER_AGENT))
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        {
            "field": "events[1].user_agent",
            "detail": f"Longer than 4096 characters ({len(USER_AGENT)} sent): recorded cut to "
            "4096, and the connection log is marked as truncated.",
        }
    ]
    row = ConnectionLog.objects.get(type="workspace_app")
    assert row.user_agent == USER_AGENT[:4096] and row.truncated == ["user_agent"]
    assert ConnectionLog.objects.get(type="ssh").truncated == []
    shown = {entry["type"]: entry for entry in rows(owner_api)}["workspace_app"]
    assert shown["web_info"]["user_agent"] == USER_AGENT[:4096]


def test_the_read_api_shape_is_the_same_for_a_truncated_row(reporter_api, owner_api, ws):
    post(reporter_api, app(ws, user_agent="x" * 5000), app(ws, time=T2, user_agent="x"))
    first, second = rows(owner_api)
    assert first.keys() == second.keys() and first["web_info"].keys() == second["web_info"].keys()


def test_an_overlong_slug_or_port_is_cut_to_256(reporter_api, ws):
    response = post(reporter_api, app(ws, slug_or_port="s" * 300))
    [warning] = response.json()["warnings"]
    assert warning["field"] == "events[0].slug_or_port"
    row = ConnectionLog.objects.get()
    assert row.slug_or_port == "s" * 256 and row.truncated == ["slug_or_port"]


def test_an_overlong_disconnect_reason_is_cut_on_a_new_row_and_on_an_existing_one(reporter_api, ws):
    reason = "killed: " + "stack frame " * 500
    cid = str(uuid.uuid4())
    post(reporter_api, ssh(ws, cid=cid))
    first = post(reporter_api, ssh(ws, "disconnect", T2, cid, reason=reason, exit_code=1))
    assert first.json()["updated"] == 1
    assert [w["field"] for w in first.json()["warnings"]] == ["events[0].reason"]
    closed = post(reporter_api, ssh(ws, "disconnect", T2, reason=reason))  # no connect first
    assert closed.json()["created"] == 1
    for row in ConnectionLog.objects.all():
        assert row.disconnect_reason == reason[:4096] and row.truncated == ["disconnect_reason"]


def test_an_agent_name_over_64_characters_is_still_refused(reporter_api, ws):
    # Part of the merge key: cutting it could merge two agents' connections.
    [validation] = refused(post(reporter_api, ssh(ws), {**ssh(ws), "agent_name": "a" * 65}))
    assert validation == {
        "field": "events[1].agent_name",
        "detail": "Must be at most 64 characters.",
    }


def test_a_structural_error_beside_a_cosmetic_one_still_refuses_the_batch(reporter_api, ws):
    validations = refused(
        post(reporter_api, app(ws, ip="nope", user_agent="x" * 5000), ssh(ws, type="rdp"))
    )
    assert [v["field"] for v in validations] == ["events[1].type"]


def test_the_truncation_mark_cannot_be_sent(reporter_api, ws):
    [validation] = refused(post(reporter_api, app(ws, truncated=["user_agent"])))
    assert validation == {"field": "events[0].truncated", "detail": "Unknown field."}


def test_a_replayed_batch_answers_the_same_warnings(reporter_api, ws):
    batch = [app(ws, ip="nope", user_agent="x" * 5000)]
    first = post(reporter_api, *batch, **{"Idempotency-Key": "batch-1"})
    again = post(reporter_api, *batch, **{"Idempotency-Key": "batch-1"})
    assert len(first.json()["warnings"]) == 2
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert ConnectionLog.objects.count() == 1


def test_the_detail_page_notes_a_truncated_field(reporter_api, ws):
    post(reporter_api, app(ws, user_agent=USER_AGENT), app(ws, time=T2, user_agent="curl/8"))
    page = Client()
    page.force_login(UserFactory(username="root", site_roles=["owner"]))
    cut, whole = (
        ConnectionLog.objects.get(user_agent__startswith="Mozilla"),
        ConnectionLog.objects.get(user_agent="curl/8"),
    )
    assert 'data-testid="truncated"' in page.get(f"/connectionlog/{cut.id}").content.decode()
    assert 'data-testid="truncated"' not in page.get(f"/connectionlog/{whole.id}").content.decode()
