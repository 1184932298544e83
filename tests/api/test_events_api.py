"""POST /api/v2/connectionlog/events: the merging rules, validation, the envelope, who may send.

Every outcome is checked the way a client sees it: the answer, then the rows as
GET /api/v2/connectionlog shows them.
"""

import json
import threading
import uuid

import pytest
from django.db import connections

from connlogs.models import ConnectionLog
from tests.conftest import as_user, requires_postgres
from tests.factories import UserFactory, WorkspaceFactory, member

URL = "/api/v2/connectionlog/events"
READ_URL = "/api/v2/connectionlog"
INVALID = "Invalid connection events."
CID = "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908"
T0, T1, T2, T3 = (
    "2025-07-10T09:59:00Z",
    "2025-07-10T10:00:00Z",
    "2025-07-10T10:05:00Z",
    "2025-07-10T10:09:00Z",
)


@pytest.fixture
def alice(org):
    return member(org, username="alice")


@pytest.fixture
def ws(org, alice):
    return WorkspaceFactory(organization=org, owner=alice, name="dev")


@pytest.fixture
def reporter(db):
    return UserFactory(username="agent-gateway", site_roles=["connection-reporter"])


@pytest.fixture
def reporter_api(reporter):
    return as_user(reporter)


def agent_event(ws, action, time, cid=CID, type="ssh", **extra):
    return {
        "action": action,
        "time": time,
        "type": type,
        "workspace_id": str(ws.id),
        "agent_name": "main",
        "connection_id": cid,
        **extra,
    }


def web_event(ws, time, type="workspace_app", **extra):
    return {
        "action": "connect",
        "time": time,
        "type": type,
        "workspace_id": str(ws.id),
        "agent_name": "main",
        **extra,
    }


def post(client, *events):
    return client.post(URL, {"events": list(events)}, format="json")


def rows(client, q=""):
    response = client.get(READ_URL, {"q": q})
    assert response.status_code == 200
    return response.json()["connection_logs"]


def answer(response):
    assert response.status_code == 200, response.content
    return response.json()


def fields(response):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["message"] == INVALID
    return [v["field"] for v in body["validations"]]


# --- the merging rules ------------------------------------------------------------------


def test_a_working_day_of_eight_events_as_the_agent_reports_them(reporter_api, owner_api, ws):
    ssh, vscode, pty = CID, str(uuid.uuid4()), str(uuid.uuid4())
    alice_id = str(ws.owner_id)
    answers = [
        answer(post(reporter_api, e))
        for e in [
            agent_event(ws, "connect", T1, ssh, ip="10.1.2.3"),
            agent_event(ws, "connect", T1, vscode, type="vscode", ip="localhost"),
            web_event(ws, T1, user_id=alice_id, slug_or_port="code-server", user_agent="Firefox"),
            agent_event(ws, "connect", T1, ssh, ip="10.1.2.3"),  # the agent retried
            agent_event(ws, "disconnect", T2, ssh, exit_code=0, reason="client disconnected"),
            web_event(ws, T2, type="port_forwarding", slug_or_port="8080", status_code=502),
            agent_event(ws, "disconnect", T3, pty, type="reconnecting_pty", exit_code=130),
            agent_event(ws, "connect", T0, pty, type="reconnecting_pty"),  # arrived late
        ]
    ]
    assert answers == [
        {"created": 1, "updated": 0, "unchanged": 0},
        {"created": 1, "updated": 0, "unchanged": 0},
        {"created": 1, "updated": 0, "unchanged": 0},
        {"created": 0, "updated": 0, "unchanged": 1},
        {"created": 0, "updated": 1, "unchanged": 0},
        {"created": 1, "updated": 0, "unchanged": 0},
        {"created": 1, "updated": 0, "unchanged": 0},
        {"created": 0, "updated": 0, "unchanged": 1},
    ]
    by_type = {entry["type"]: entry for entry in rows(owner_api)}
    assert sorted(by_type) == [
        "port_forwarding",
        "reconnecting_pty",
        "ssh",
        "vscode",
        "workspace_app",
    ]
    assert by_type["ssh"]["ssh_info"] == {
        "connection_id": ssh,
        "disconnect_time": T2,
        "disconnect_reason": "client disconnected",
        "exit_code": 0,
    }
    assert by_type["ssh"]["ip"] == "10.1.2.3"
    assert by_type["vscode"]["ssh_info"] == {"connection_id": vscode}
    assert by_type["vscode"]["ip"] == "127.0.0.1"
    assert by_type["reconnecting_pty"]["connect_time"] == T3
    assert by_type["reconnecting_pty"]["ssh_info"]["disconnect_time"] == T3
    app = by_type["workspace_app"]["web_info"]
    assert (app["user"]["username"], app["slug_or_port"], app["status_code"]) == (
        "alice",
        "code-server",
        200,
    )
    assert by_type["port_forwarding"]["web_info"]["user"] is None
    assert by_type["port_forwarding"]["web_info"]["status_code"] == 502
    assert [e["type"] for e in rows(owner_api, "status:ongoing")] == ["vscode"]
    assert len(rows(owner_api, "status:completed")) == 2


def test_repeated_connects_change_nothing(reporter_api, owner_api, ws):
    answer(post(reporter_api, agent_event(ws, "connect", T1, ip="10.0.0.1")))
    assert answer(
        post(
            reporter_api,
            agent_event(ws, "connect", T2, ip="10.0.0.2"),
            agent_event(ws, "connect", T3, ip="10.0.0.3"),
        )
    ) == {"created": 0, "updated": 0, "unchanged": 2}
    [entry] = rows(owner_api)
    assert (entry["connect_time"], entry["ip"]) == (T1, "10.0.0.1")


def test_a_second_disconnect_changes_nothing(reporter_api, owner_api, ws):
    answer(post(reporter_api, agent_event(ws, "connect", T1)))
    first = agent_event(ws, "disconnect", T2, exit_code=0, reason="client disconnected")
    assert answer(post(reporter_api, first))["updated"] == 1
    second = agent_event(ws, "disconnect", T3, exit_code=1, reason="killed")
    assert answer(post(reporter_api, second)) == {"created": 0, "updated": 0, "unchanged": 1}
    [entry] = rows(owner_api)
    assert entry["ssh_info"] == {
        "connection_id": CID,
        "disconnect_time": T2,
        "disconnect_reason": "client disconnected",
        "exit_code": 0,
    }


def test_a_disconnect_with_no_connect_makes_a_closed_row(reporter_api, owner_api, ws):
    assert answer(post(reporter_api, agent_event(ws, "disconnect", T2, exit_code=0))) == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
    }
    [entry] = rows(owner_api)
    assert entry["connect_time"] == entry["ssh_info"]["disconnect_time"] == T2
    assert entry["ssh_info"]["exit_code"] == 0


def test_web_events_never_merge(reporter_api, owner_api, ws):
    event = web_event(ws, T1, type="tunnel", status_code=101)
    assert answer(post(reporter_api, event, event))["created"] == 2
    assert answer(post(reporter_api, event))["created"] == 1
    assert len(rows(owner_api, "type:tunnel")) == 3


def test_the_same_batch_twice_is_all_unchanged(reporter_api, owner_api, ws):
    other = str(uuid.uuid4())
    batch = [
        agent_event(ws, "connect", T1),
        agent_event(ws, "connect", T1, other, type="jetbrains"),
        agent_event(ws, "disconnect", T2, exit_code=0),
    ]
    assert answer(post(reporter_api, *batch)) == {"created": 2, "updated": 1, "unchanged": 0}
    before = rows(owner_api)
    assert answer(post(reporter_api, *batch)) == {"created": 0, "updated": 0, "unchanged": 3}
    assert rows(owner_api) == before


def test_events_for_a_deleted_workspace_are_accepted(reporter_api, owner_api, ws):
    answer(post(reporter_api, agent_event(ws, "connect", T1)))
    ws.soft_delete()
    assert answer(post(reporter_api, agent_event(ws, "disconnect", T2)))["updated"] == 1
    assert rows(owner_api)[0]["ssh_info"]["disconnect_time"] == T2


def test_localhost_is_stored_as_127_0_0_1_and_empty_ip_is_unknown(reporter_api, owner_api, ws):
    answer(
        post(
            reporter_api,
            web_event(ws, T1, ip="localhost"),
            web_event(ws, T2, ip=""),
            web_event(ws, T3, ip="fd7a:115c:a1e0::1"),
        )
    )
    assert [entry.get("ip") for entry in rows(owner_api)] == [
        "fd7a:115c:a1e0::1",
        None,
        "127.0.0.1",
    ]


def test_text_from_agents_comes_back_as_sent(reporter_api, owner_api, ws):
    # Stored as data, never interpreted: the pages escape it when they show it.
    script = '<script>alert("x")</script>'
    answer(post(reporter_api, web_event(ws, T1, user_agent=script, slug_or_port="a&b")))
    web_info = rows(owner_api)[0]["web_info"]
    assert (web_info["user_agent"], web_info["slug_or_port"]) == (script, "a&b")


def test_ids_in_every_spelling_go_accepts_name_the_same_row(reporter_api, owner_api, ws):
    """Coder decodes ids with Go's uuid.Parse: URN, braces, 32 hex digits, either case."""
    alice_id = str(ws.owner_id)
    spellings = [
        dict(workspace_id=f"urn:uuid:{ws.id}", connection_id=f"URN:UUID:{CID.upper()}"),
        dict(workspace_id="{" + str(ws.id).upper() + "}", connection_id=CID.replace("-", "")),
    ]
    answer(post(reporter_api, agent_event(ws, "connect", T1)))
    for index, spelling in enumerate(spellings):
        event = {**agent_event(ws, "disconnect", (T2, T3)[index]), **spelling}
        assert answer(post(reporter_api, event))["created"] == 0
    web = {**web_event(ws, T3), "user_id": f"urn:uuid:{alice_id.upper()}"}
    assert answer(post(reporter_api, web))["created"] == 1
    [app, ssh] = rows(owner_api)
    assert ssh["ssh_info"]["connection_id"] == CID and ssh["ssh_info"]["disconnect_time"] == T2
    assert app["web_info"]["user"]["id"] == alice_id


# --- validation -------------------------------------------------------------------------

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _ssh(**change):
    return {**agent_event_base("connect"), **change}


def _ssh_disconnect(**change):
    return {**agent_event_base("disconnect"), **change}


def _app(**change):
    return {**web_event_base(), **change}


def agent_event_base(action):
    return {
        "action": action,
        "time": T1,
        "type": "ssh",
        "workspace_id": "<ws>",
        "agent_name": "main",
        "connection_id": CID,
    }


def web_event_base():
    return {
        "action": "connect",
        "time": T1,
        "type": "workspace_app",
        "workspace_id": "<ws>",
        "agent_name": "main",
    }


def _without(event, name):
    return {key: value for key, value in event.items() if key != name}


INVALID_EVENTS = [
    ("action missing", _without(_ssh(), "action"), "action"),
    ("action unknown", _ssh(action="open"), "action"),
    ("action not a string", _ssh(action=1), "action"),
    ("time missing", _without(_ssh(), "time"), "time"),
    ("time not RFC 3339", _ssh(time="yesterday"), "time"),
    ("time without a zone", _ssh(time="2025-07-10T10:00:00"), "time"),
    ("time a date only", _ssh(time="2025-07-10"), "time"),
    ("time out of range in UTC", _ssh(time="0001-01-01T00:00:00+01:00"), "time"),
    ("type missing", _without(_ssh(), "type"), "type"),
    ("type unknown", _ssh(type="rdp"), "type"),
    ("workspace missing", _without(_ssh(), "workspace_id"), "workspace_id"),
    ("workspace not a UUID", _ssh(workspace_id="dev"), "workspace_id"),
    ("workspace unknown", _ssh(workspace_id=UNKNOWN), "workspace_id"),
    ("agent_name missing", _without(_ssh(), "agent_name"), "agent_name"),
    ("agent_name empty", _ssh(agent_name=""), "agent_name"),
    ("agent_name of 65 characters", _ssh(agent_name="a" * 65), "agent_name"),
    ("agent_name with NUL", _ssh(agent_name="ma\x00in"), "agent_name"),
    ("connection_id missing on ssh", _without(_ssh(), "connection_id"), "connection_id"),
    (
        "connection_id missing on vscode",
        _without(_ssh(type="vscode"), "connection_id"),
        "connection_id",
    ),
    ("connection_id not a UUID", _ssh(connection_id="abc"), "connection_id"),
    ("connection_id on workspace_app", _app(connection_id=CID), "connection_id"),
    ("connection_id on tunnel", _app(type="tunnel", connection_id=CID), "connection_id"),
    ("user_agent on ssh", _ssh(user_agent="curl"), "user_agent"),
    ("slug_or_port on ssh", _ssh(slug_or_port="8080"), "slug_or_port"),
    ("status_code on ssh", _ssh(status_code=200), "status_code"),
    ("user_id on ssh", _ssh(user_id=UNKNOWN), "user_id"),
    ("reason on connect", _ssh(reason="bye"), "reason"),
    ("exit_code on connect", _ssh(exit_code=0), "exit_code"),
    ("exit_code on web", _app(exit_code=0), "exit_code"),
    ("reason on web", _app(reason="bye"), "reason"),
    ("exit_code not an integer", _ssh_disconnect(exit_code="0"), "exit_code"),
    ("exit_code a boolean", _ssh_disconnect(exit_code=False), "exit_code"),
    ("status_code 99", _app(status_code=99), "status_code"),
    ("status_code 600", _app(status_code=600), "status_code"),
    ("status_code as text", _app(status_code="200"), "status_code"),
    ("user_id unknown", _app(user_id=UNKNOWN), "user_id"),
    ("user_id not a UUID", _app(user_id="alice"), "user_id"),
    ("disconnect on workspace_app", _app(action="disconnect"), "action"),
    ("disconnect on port_forwarding", _app(type="port_forwarding", action="disconnect"), "action"),
    ("an unknown field", _ssh(colour="red"), "colour"),
]


def _with_workspace(event, ws):
    return {key: (str(ws.id) if value == "<ws>" else value) for key, value in event.items()}


@pytest.mark.parametrize(
    "event, field", [case[1:] for case in INVALID_EVENTS], ids=[case[0] for case in INVALID_EVENTS]
)
def test_an_invalid_event_is_a_400_naming_its_field_and_writes_nothing(
    reporter_api, ws, event, field
):
    good = agent_event(ws, "connect", T1, str(uuid.uuid4()))
    response = post(reporter_api, good, _with_workspace(event, ws))
    assert fields(response) == [f"events[1].{field}"]
    assert ConnectionLog.objects.count() == 0


@pytest.mark.parametrize(
    "event",
    [_ssh_disconnect(exit_code=0, reason=""), _app(status_code=100), _app(status_code=599)],
    ids=["exit code 0 and empty reason", "status 100", "status 599"],
)
def test_edge_values_are_accepted(reporter_api, ws, event):
    assert answer(post(reporter_api, _with_workspace(event, ws)))["created"] == 1


def test_every_bad_field_of_every_event_is_reported_at_once(reporter_api, ws):
    response = post(
        reporter_api,
        agent_event(ws, "connect", "soon", agent_name=""),
        "not an object",
        web_event(ws, T1, status_code=700),
    )
    assert fields(response) == [
        "events[0].time",
        "events[0].agent_name",
        "events[1]",
        "events[2].status_code",
    ]


def test_a_batch_with_one_bad_event_writes_nothing(reporter_api, owner_api, ws):
    answer(post(reporter_api, agent_event(ws, "connect", T1)))
    batch = [
        agent_event(ws, "disconnect", T2, exit_code=0),
        web_event(ws, T1),
        agent_event(ws, "connect", T1, str(uuid.uuid4())),
        web_event(ws, T1, user_id=UNKNOWN),
    ]
    assert fields(post(reporter_api, *batch)) == ["events[3].user_id"]
    [entry] = rows(owner_api)
    assert entry["ssh_info"] == {"connection_id": CID}


def test_text_that_cannot_be_stored_is_refused(reporter_api, ws):
    # A lone surrogate is valid JSON but cannot be stored as UTF-8 text.
    event = json.dumps(web_event(ws, T1, user_agent="X")).replace('"X"', '"\\ud800"')
    body = '{"events": [' + event + "]}"
    response = reporter_api.post(URL, body, content_type="application/json")
    assert fields(response) == ["events[0].user_agent"]


# --- the envelope -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe", b"[" * 100_000, b'{"events": NaN}'],
    ids=["broken", "empty", "not UTF-8", "nested too deep", "NaN"],
)
def test_a_body_that_is_not_json_is_a_400(reporter_api, body):
    response = reporter_api.post(URL, body, content_type="application/json")
    if body == b"":
        # No body at all reads as {}: the events are missing.
        assert fields(response) == ["events"]
    else:
        assert response.status_code == 400
        assert response.json()["message"] == "Request body must be valid JSON."


@pytest.mark.parametrize(
    "body, field",
    [
        ([], "events"),
        ({}, "events"),
        ({"events": {}}, "events"),
        ({"events": []}, "events"),
        ({"events": None}, "events"),
        ({"events": [], "extra": 1}, "extra"),
    ],
    ids=["a list", "no events", "events an object", "no event", "events null", "unknown key"],
)
def test_the_envelope_is_checked(reporter_api, body, field):
    response = reporter_api.post(URL, body, format="json")
    assert fields(response) == [field]


def test_a_body_over_the_size_limit_is_a_413(reporter_api, ws, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 512
    events = [web_event(ws, T1, user_agent="x" * 100) for _ in range(5)]
    response = post(reporter_api, *events)
    assert response.status_code == 413
    assert response.json()["message"] == "Request body too large."
    assert ConnectionLog.objects.count() == 0
    assert answer(post(reporter_api, events[0]))["created"] == 1


def test_a_body_just_over_the_default_limit_is_a_413(reporter_api, ws):
    body = json.dumps({"events": [web_event(ws, T1, user_agent="x" * 4000)] * 1300})
    assert len(body) > 5 * 1024 * 1024
    response = reporter_api.post(URL, body, content_type="application/json")
    assert response.status_code == 413


def test_more_than_1000_events_is_a_400(reporter_api, ws):
    response = post(reporter_api, *[web_event(ws, T1)] * 1001)
    assert fields(response) == ["events"]
    assert "1000" in response.json()["validations"][0]["detail"]
    assert ConnectionLog.objects.count() == 0


def test_1000_events_in_one_batch_are_recorded(reporter_api, ws):
    batch = [agent_event(ws, "connect", T1, str(uuid.uuid4())) for _ in range(500)]
    batch += [web_event(ws, T1)] * 500
    assert answer(post(reporter_api, *batch))["created"] == 1000
    assert ConnectionLog.objects.count() == 1000


def test_a_form_body_is_refused_as_unsupported(reporter_api, ws):
    response = reporter_api.post(URL, "events=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "message" in response.json()


# --- who may send -----------------------------------------------------------------------

SENDERS = [
    ("owner", ["owner"], None, 200),
    ("connection-reporter", ["connection-reporter"], None, 200),
    ("site auditor", ["auditor"], None, 403),
    ("organization admin", [], "organization-admin", 403),
    ("organization auditor", [], "organization-auditor", 403),
    ("plain member", [], "", 403),
    ("no roles at all", [], None, 403),
]


@pytest.mark.parametrize(
    "site_roles, org_role, status",
    [case[1:] for case in SENDERS],
    ids=[case[0] for case in SENDERS],
)
def test_who_may_send_events(org, ws, site_roles, org_role, status):
    user = (
        member(org, *([org_role] if org_role else []), site_roles=site_roles)
        if org_role is not None
        else UserFactory(site_roles=site_roles)
    )
    response = post(as_user(user), agent_event(ws, "connect", T1))
    assert response.status_code == status
    assert ConnectionLog.objects.count() == (1 if status == 200 else 0)
    if status == 403:
        assert response.json()["message"] == "Forbidden."


def test_without_credentials_it_is_a_401(api, ws):
    response = post(api, agent_event(ws, "connect", T1))
    assert response.status_code == 401
    assert response.json() == {
        "message": "You are signed out or your session has expired. Please sign in again to "
        "continue."
    }


def test_a_connection_reporter_cannot_read_the_log(reporter_api, ws):
    answer(post(reporter_api, agent_event(ws, "connect", T1)))
    response = reporter_api.get(READ_URL)
    assert response.json()["connection_logs"] == [] and response.json()["count"] == 0


# --- concurrent writers -----------------------------------------------------------------


def _race(ws, reporter, cid: str, writers: int) -> tuple[list, list]:
    """``writers`` threads post the connect or the disconnect of ``cid`` at the same moment."""
    clients = [as_user(reporter) for _ in range(writers)]
    barrier = threading.Barrier(writers)
    answers, failures = [], []

    def send(index):
        try:
            if index % 2:
                event = agent_event(ws, "connect", T1, cid)
            else:
                event = agent_event(ws, "disconnect", T2, cid, exit_code=0, reason="done")
            barrier.wait()
            response = post(clients[index], event)
            answers.append((response.status_code, response.json()))
        except Exception as error:  # noqa: BLE001 - shown by the caller's assertion
            failures.append(error)
        finally:
            # Each thread has its own connection; leaving it open blocks the test teardown.
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, failures


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_for_one_connection_make_exactly_one_row():
    ws = WorkspaceFactory(name="race")
    reporter = UserFactory(site_roles=["connection-reporter"])
    owner_api = as_user(UserFactory(site_roles=["owner"]))
    writers, rounds = 8, 4
    for _ in range(rounds):
        cid = str(uuid.uuid4())
        answers, failures = _race(ws, reporter, cid, writers)
        assert failures == []
        assert [code for code, _ in answers] == [200] * writers, answers
        assert sum(body["created"] for _, body in answers) == 1
        assert sum(body["updated"] for _, body in answers) <= 1
        [entry] = rows(owner_api, f"connection_id:{cid}")
        assert entry["ssh_info"]["disconnect_time"] == T2
        assert (entry["ssh_info"]["exit_code"], entry["ssh_info"]["disconnect_reason"]) == (
            0,
            "done",
        )
    assert ConnectionLog.objects.count() == rounds


@requires_postgres
def test_a_connection_lost_mid_copy_is_a_503_and_writes_nothing(reporter_api, ws, monkeypatch):
    # A crashed primary behind PgBouncer ends the COPY of a batch with psycopg's own error
    # ("server conn crashed?"): the agent must get a 503 with Retry-After, and resend.
    import psycopg

    def crash(self, row):
        raise psycopg.errors.ProtocolViolation("server conn crashed?")

    monkeypatch.setattr(psycopg.Copy, "write_row", crash)
    response = reporter_api.post(URL, {"events": [agent_event(ws, "connect", T1)]}, format="json")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert not ConnectionLog.objects.exists()
