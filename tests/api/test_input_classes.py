"""Kinds of bad input every door answers with a 400 naming it, never a 500 or a silent drop.

* numbers in addresses: longer than Python's 4,300-digit ``int`` limit, or written with
  digits of other scripts, superscripts or underscores;
* a JSON object naming a key twice (``json.loads`` kept the last: a batch lost events);
* fields a connlogs body does not define (a misspelt field left the resource as it was),
  while a body read back from the API unchanged still passes;
* the access log's ``after_id`` cursor, which was validated as a UUID and then ignored.
"""

from __future__ import annotations

import html
import json

import pytest

from connlogs.models import ConnectionLog
from tests.factories import WorkspaceFactory

HUGE = "9" * 5000
EVENTS = "/api/v2/connectionlog/events"


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v2/connectionlog", "limit"),
        ("/api/v2/connectionlog", "offset"),
        ("/api/v2/accesslog", "limit"),
        ("/api/v2/connectionlog/changes", "limit"),
        ("/api/v2/connectionlog/changes", "after"),
        ("/api/v2/connectionlog/alerts/firings", "limit"),
    ],
)
@pytest.mark.parametrize("text", [HUGE, "²", "١٠", "1_0", " 5"])
def test_a_number_the_api_cannot_read_is_a_400_naming_it(owner_api, path, param, text):
    response = owner_api.get(path, {param: text})
    assert response.status_code == 400, response.content[:200]
    assert param in [v["field"] for v in response.json()["validations"]]


def test_the_page_changes_feed_names_a_huge_after(owner):
    from django.test import Client

    client = Client()
    client.force_login(owner)
    for after in (HUGE, str(10**12)):  # not a number it reads; past the feed's end
        response = client.get("/connectionlog/changes", {"after": after})
        assert response.status_code == 400
        assert response.json()["validations"][0]["field"] == "after", after


@pytest.mark.parametrize(
    "q",
    ["exit_code:١", "duration:>١h", "connected_after:-١d", "connected_after:٢٠٢٦-01-01"],
)
def test_the_search_language_reads_ascii_digits_only(owner_api, q):
    # Go's strconv (Coder's reader) refuses them too; Python's int would read them.
    response = owner_api.get("/api/v2/connectionlog", {"q": q})
    assert response.status_code == 400, q


def _event(workspace, ip: str) -> str:
    return (
        '{"action": "connect", "time": "2026-01-01T00:00:00Z", "type": "ssh", '
        f'"workspace_id": "{workspace.id}", "agent_name": "main", '
        '"connection_id": "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908", '
        f'"ip": "{ip}"}}'
    )


@pytest.mark.parametrize("where", ["batch", "event"])
def test_a_key_named_twice_is_refused_and_nothing_is_recorded(owner_api, db, where):
    workspace = WorkspaceFactory()
    if where == "batch":
        body = f'{{"events": [{_event(workspace, "10.0.0.1")}], "events": []}}'
    else:
        body = '{"events": [' + _event(workspace, "10.0.0.1")[:-1] + ', "ip": "10.0.0.2"}]}'
    json.loads(body)  # valid JSON to Python, which keeps the last value
    response = owner_api.post(EVENTS, body, content_type="application/json")
    assert response.status_code == 400
    assert "more than once" in response.json()["detail"]
    assert not ConnectionLog.objects.exists()


def test_a_saved_view_body_with_a_key_named_twice_is_refused(owner_api):
    body = '{"name": "a", "name": "b", "q": "type:ssh"}'
    response = owner_api.post("/api/v2/connectionlog/views", body, content_type="application/json")
    assert response.status_code == 400


STREAM = {"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/in"}
RULE = {"name": "ssh", "kind": "each_match", "channel": "webhook", "url": "http://127.0.0.1:9/"}


@pytest.mark.parametrize(
    ("collection", "body"),
    [
        ("/api/v2/connectionlog/streams", STREAM),
        ("/api/v2/connectionlog/streams", {**STREAM, "organization": "acme"}),
        ("/api/v2/connectionlog/alerts/rules", RULE),
        ("/api/v2/connectionlog/alerts/rules", {**RULE, "organization": "acme"}),
        ("/api/v2/connectionlog/views", {"name": "mine", "q": "type:ssh"}),
        (
            "/api/v2/connectionlog/views",
            {"name": "ours", "q": "type:ssh", "sharing": "organization", "organization": "acme"},
        ),
    ],
)
def test_an_unknown_field_is_named_and_a_body_read_back_passes(owner_api, org, collection, body):
    refused = owner_api.post(collection, {**body, "thresold": 5}, format="json")
    assert refused.status_code == 400
    assert {"field": "thresold", "detail": "Unknown field."} in refused.json()["validations"]

    created = owner_api.post(collection, body, format="json")
    assert created.status_code == 201, created.content
    shown = created.json()
    url = f"{collection}/{shown['id']}"
    # (organization and a view's owner are objects in what the API shows: their ids count)
    # What the API showed, sent back whole with one change: accepted, the change applied.
    changed = owner_api.patch(url, {**shown, "name": "renamed"}, format="json")
    assert changed.status_code == 200, changed.content
    assert owner_api.get(url).json()["name"] == "renamed"
    misspelt = owner_api.patch(url, {"nmae": "x"}, format="json")
    assert misspelt.status_code == 400
    assert owner_api.get(url).json()["name"] == "renamed"


def test_the_start_view_body_names_an_unknown_field(owner_api):
    response = owner_api.put(
        "/api/v2/connectionlog/start-view", {"view": "x", "also": 1}, format="json"
    )
    assert response.status_code == 400
    assert "also" in [v["field"] for v in response.json()["validations"]]


def test_the_access_log_pages_by_its_after_id(owner_api, db):
    for _ in range(4):
        owner_api.get("/api/v2/connectionlog", {"q": "type:ssh"})  # one entry each
    newest_first = [e["id"] for e in owner_api.get("/api/v2/accesslog").json()["entries"]]
    assert len(newest_first) >= 4
    after = owner_api.get("/api/v2/accesslog", {"after_id": newest_first[1], "limit": 2})
    assert after.status_code == 200
    assert [e["id"] for e in after.json()["entries"]] == newest_first[2:4]
    # The cursor wins over offset, as on the connection log.
    both = owner_api.get(
        "/api/v2/accesslog", {"after_id": newest_first[1], "limit": 2, "offset": 1}
    )
    assert [e["id"] for e in both.json()["entries"]] == newest_first[2:4]
    for bad in ("7a6fafdc-e3d0-43cb-a1b7-1f19802d7908", HUGE, "-1"):
        refused = owner_api.get("/api/v2/accesslog", {"after_id": bad})
        assert refused.status_code == 400
        assert refused.json()["validations"][0]["field"] == "after_id"


def test_a_repeated_q_on_the_access_log_reads_the_first_as_everywhere(owner_api, owner):
    from django.test import Client

    owner_api.get("/api/v2/connectionlog")  # one entry on record
    api = owner_api.get("/api/v2/accesslog", [("q", "bogus:x"), ("q", "")])
    assert api.status_code == 400  # the first q, as on the connection log
    page = Client()
    page.force_login(owner)
    assert page.get("/accesslog", [("q", "bogus:x"), ("q", "")]).status_code == 400
    assert page.get("/accesslog/export", [("q", "bogus:x"), ("q", "")]).status_code == 400


def test_a_download_with_a_bad_first_q_returns_to_that_search(owner):
    from django.test import Client

    page = Client()
    page.force_login(owner)
    response = page.get("/connectionlog/export", [("q", "type:bogus"), ("q", "type:ssh")])
    assert response.status_code == 302
    assert "type%3Abogus" in response["Location"]


def test_firings_name_a_repeated_limit_or_rule(owner_api):
    for params in ([("limit", "1"), ("limit", "abc")], [("rule", "a"), ("rule", "b")]):
        response = owner_api.get("/api/v2/connectionlog/alerts/firings", params)
        assert response.status_code == 400
        assert "provided more than once" in response.json()["validations"][0]["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**STREAM, "host": "127.0.0.1"}, "host"),
        ({**STREAM, "port": 514}, "port"),
        (
            {"name": "s", "kind": "syslog_udp", "host": "127.0.0.1", "port": 514, "secret": "k"},
            "secret",
        ),
        (
            {
                "name": "s",
                "kind": "syslog_tcp",
                "host": "127.0.0.1",
                "port": 514,
                "url": STREAM["url"],
            },
            "url",
        ),
        (
            {"name": "s", "kind": "syslog_tcp", "host": "127.0.0.1", "port": 514, "tls_ca": "x"},
            "tls_ca",
        ),
    ],
)
def test_a_stream_field_its_kind_never_reads_is_named(owner_api, body, field):
    response = owner_api.post("/api/v2/connectionlog/streams", body, format="json")
    assert response.status_code == 400
    assert [v["field"] for v in response.json()["validations"]] == [field]


def test_a_stream_starts_where_it_was_created_and_a_patch_cannot_move_it(owner_api):
    created = owner_api.post("/api/v2/connectionlog/streams", STREAM, format="json").json()
    url = f"/api/v2/connectionlog/streams/{created['id']}"
    response = owner_api.patch(url, {"start": "oldest"}, format="json")
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "start"


def test_an_alert_rule_page_names_a_url_typed_for_an_email_rule(owner):
    from django.test import Client

    page = Client()
    page.force_login(owner)
    form = {
        "name": "mail", "kind": "each_match", "channel": "email", "q": "type:ssh",
        "email_to": "soc@example.com", "url": "https://hooks.example.com/x",
        "threshold": "1", "window_minutes": "5", "new_address_days": "30",
        "cooldown_minutes": "15",
    }  # fmt: skip
    response = page.post("/connectionlog/alerts/new", form)
    assert response.status_code == 400
    assert "Not read by rules of kind" in html.unescape(response.content.decode())
    saved = page.post("/connectionlog/alerts/new", {**form, "url": ""})
    assert saved.status_code == 302  # the other kinds' default numbers are not refused


def test_the_start_view_reads_back(owner_api):
    url = "/api/v2/connectionlog/start-view"
    assert owner_api.put(url, {"view": "active-ssh-now"}, format="json").status_code == 200
    shown = owner_api.get(url).json()
    assert shown["view"]["id"] == "active-ssh-now"
    assert owner_api.put(url, shown, format="json").json() == shown
    assert owner_api.put(url, {"view": None}, format="json").json() == {"view": None}
    assert owner_api.get(url).json() == {"view": None}


@pytest.mark.parametrize("param", ["limit", "offset"])
def test_zeros_before_a_number_do_not_make_it_long(owner_api, param):
    padded = "0" * 5000 + "5"
    for path in ("/api/v2/connectionlog", "/api/v2/accesslog"):
        assert owner_api.get(path, {param: padded}).status_code == 200, path
        refused = owner_api.get(path, {param: "-" + padded})
        assert refused.status_code == 400
        assert "negative" in refused.json()["validations"][0]["detail"]
