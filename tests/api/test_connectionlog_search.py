"""Every search key of the q language through GET /api/v2/connectionlog: what must and must
not match, and the exact validation errors of the contract."""

import datetime as dt
import uuid

import pytest

from tests.factories import ConnectionLogFactory, UserFactory, WorkspaceFactory

URL = "/api/v2/connectionlog"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def rows(db, org, other_org):
    alice = UserFactory(username="Alice", email="alice@acme.test")
    bob = UserFactory(username="bob", email="bob@globex.test")
    carol = UserFactory(username="carol", email="Carol@Acme.test")
    dev = WorkspaceFactory(organization=org, owner=alice, name="dev")
    api = WorkspaceFactory(organization=other_org, owner=bob, name="api")
    made = {
        "ssh_ongoing": ConnectionLogFactory(
            workspace=dev, type="ssh", connect_time=at("2025-01-10T10:00:00Z")
        ),
        "ssh_done": ConnectionLogFactory(
            workspace=dev,
            type="ssh",
            connect_time=at("2025-01-05T09:00:00Z"),
            disconnect_time=at("2025-01-05T10:00:00Z"),
            code=0,
        ),
        "app_carol": ConnectionLogFactory(
            workspace=dev,
            type="workspace_app",
            user=carol,
            code=200,
            connect_time=at("2025-01-08T08:00:00Z"),
        ),
        "pf_anon": ConnectionLogFactory(
            workspace=api,
            type="port_forwarding",
            user=None,
            code=502,
            connect_time=at("2025-01-09T12:00:00Z"),
        ),
        "vscode_done": ConnectionLogFactory(
            workspace=api,
            type="vscode",
            connect_time=at("2025-01-03T12:00:00Z"),
            disconnect_time=at("2025-01-03T13:00:00Z"),
        ),
        "tunnel_alice": ConnectionLogFactory(
            workspace=dev,
            type="tunnel",
            user=alice,
            code=101,
            connect_time=at("2025-01-07T07:00:00Z"),
        ),
    }
    made["users"] = {"alice": alice, "bob": bob, "carol": carol}
    made["workspaces"] = {"dev": dev, "api": api}
    return made


def names(rows, response):
    by_id = {str(row.id): name for name, row in rows.items() if hasattr(row, "connect_time")}
    assert response.status_code == 200, response.json()
    return {by_id[entry["id"]] for entry in response.json()["connection_logs"]}


def search(client, q):
    return client.get(URL, {"q": q})


ALL = {"ssh_ongoing", "ssh_done", "app_carol", "pf_anon", "vscode_done", "tunnel_alice"}
ACME = {"ssh_ongoing", "ssh_done", "app_carol", "tunnel_alice"}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("", ALL),
        ("organization:acme", ACME),
        ("organization:ACME", ACME),
        ("workspace_owner:alice", ACME),
        ("workspace_owner:ALICE", ACME),
        ("workspace_owner:nobody", set()),
        ("workspace_owner_email:bob@globex.test", {"pf_anon", "vscode_done"}),
        ("workspace_owner_email:BOB@GLOBEX.TEST", {"pf_anon", "vscode_done"}),
        ("workspace_owner_email:nobody@x.test", set()),
        ("type:ssh", {"ssh_ongoing", "ssh_done"}),
        ("type:port_forwarding", {"pf_anon"}),
        ("username:carol", {"app_carol"}),
        ("username:alice", {"tunnel_alice"}),
        ("username:bob", set()),
        ("user_email:carol@acme.test", {"app_carol"}),
        ("user_email:bob@globex.test", set()),
        ('connected_after:"2025-01-08T08:00:00Z"', {"ssh_ongoing", "app_carol", "pf_anon"}),
        ('connected_before:"2025-01-05T09:00:00Z"', {"ssh_done", "vscode_done"}),
        ('connected_before:"2025-01-05T21:00:00+12:00"', {"ssh_done", "vscode_done"}),
        ('connected_before:"2025-01-05T20:59:59.999999+12:00"', {"vscode_done"}),
        (
            'connected_after:"2025-01-05T00:00:00Z" connected_before:"2025-01-08T00:00:00Z"',
            {"ssh_done", "tunnel_alice"},
        ),
        ("status:ongoing", {"ssh_ongoing"}),
        ("status:completed", {"ssh_done", "vscode_done"}),
        ("status:ongoing type:workspace_app", set()),
        ("organization:acme type:ssh status:completed", {"ssh_done"}),
        ("type:ssh organization:", {"ssh_ongoing", "ssh_done"}),
    ],
)
def test_search_key_matches(owner_api, rows, q, expected):
    if q.endswith(":"):
        # an empty value means "no filter" only when it is quoted; a bare trailing colon is an
        # error (tested below), so write the empty value the way a client would.
        q = q + '""'
    assert names(rows, search(owner_api, q)) == expected


def test_organization_by_uuid_in_every_spelling(owner_api, rows, org):
    for spelling in (str(org.id), org.id.hex, "{" + str(org.id) + "}"):
        assert names(rows, search(owner_api, f"organization:{spelling}")) == ACME


@pytest.mark.parametrize(
    "spell",
    [
        lambda u: f'"urn:uuid:{u}"',  # Go's URN spelling: quoted, for its colons
        lambda u: f'"URN:UUID:{str(u).upper()}"',
        lambda u: "{" + str(u).upper() + "}",
        lambda u: u.hex.upper(),
    ],
    ids=["urn", "URN upper", "braces upper", "32 hex upper"],
)
def test_uuid_values_in_go_spellings(owner_api, rows, spell):
    api = rows["workspaces"]["api"]
    cid = rows["ssh_done"].connection_id
    assert names(rows, search(owner_api, f"workspace_id:{spell(api.id)}")) == {
        "pf_anon",
        "vscode_done",
    }
    assert names(rows, search(owner_api, f"connection_id:{spell(cid)}")) == {"ssh_done"}


def test_workspace_id_and_connection_id(owner_api, rows):
    api = rows["workspaces"]["api"]
    assert names(rows, search(owner_api, f"workspace_id:{api.id.hex}")) == {
        "pf_anon",
        "vscode_done",
    }
    cid = rows["ssh_done"].connection_id
    assert names(rows, search(owner_api, f"connection_id:{cid}")) == {"ssh_done"}
    assert names(rows, search(owner_api, f"connection_id:{uuid.uuid4()}")) == set()


def test_me_means_the_caller(rows, client_for):
    alice = rows["users"]["alice"]
    alice.site_roles = ["auditor"]
    alice.save()
    client = client_for(alice)
    assert names(rows, search(client, "workspace_owner:me")) == ACME
    assert names(rows, search(client, "username:me")) == {"tunnel_alice"}


def error_of(response):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["message"] == "Invalid connection search query."
    return body["validations"]


@pytest.mark.parametrize(
    ("q", "field", "detail"),
    [
        (
            "type:telnet",
            "type",
            'Query param "type" has invalid value: "telnet" is not a valid value',
        ),
        (
            "status:running",
            "status",
            'Query param "status" has invalid value: "running" is not a valid value',
        ),
        ("workspace_id:123", "workspace_id", 'Query param "workspace_id" must be a valid uuid'),
        ("connection_id:xyz", "connection_id", 'Query param "connection_id" must be a valid uuid'),
        (
            "organization:nowhere",
            "organization",
            'Query param "organization" has invalid value: organization "nowhere" either does '
            "not exist, or you are unauthorized to view it",
        ),
        ("username:", "q", "Query element \"username:\" cannot start or end with ':'"),
        ('workspace_owner:"', "q", 'Query has an unclosed quote ("): close it, or remove it'),
        ('"""', "q", 'Query has an unclosed quote ("): close it, or remove it'),
        ('type:ssh "alice', "q", 'Query has an unclosed quote ("): close it, or remove it'),
    ],
)
def test_validation_errors_word_for_word(owner_api, rows, q, field, detail):
    assert error_of(search(owner_api, q)) == [{"field": field, "detail": detail}]


@pytest.mark.parametrize("key", ["connected_after", "connected_before"])
@pytest.mark.parametrize("value", ['"2025-13-01"', '"yesterday"', '"2025-02-30T00:00:00Z"'])
def test_bad_times(owner_api, rows, key, value):
    [validation] = error_of(search(owner_api, f"{key}:{value}"))
    assert validation["field"] == key
    assert validation["detail"].startswith(
        f'Query param "{key}" must be a valid date format (2006-01-02T15:04:05.999999999Z07:00): '
    )


def test_an_unknown_key_starts_with_coders_sentence_and_lists_the_keys(owner_api, rows):
    [validation] = error_of(search(owner_api, "colour:red"))
    assert validation["field"] == "colour"
    assert validation["detail"].startswith('"colour" is not a valid query param. Valid keys: ')
    assert "workspace_owner, " in validation["detail"] and "duration, " in validation["detail"]


def test_per_key_errors_are_collected_together(owner_api, rows):
    validations = error_of(search(owner_api, "type:x status:y colour:z"))
    assert [v["field"] for v in validations] == ["type", "status", "colour"]
