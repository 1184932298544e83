"""GET /api/v2/connectionlog: the JSON contract, paging, the count cap, roles, query budget."""

import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from connlogs.ingest import record_events
from tests.factories import (
    ConnectionLogFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)

URL = "/api/v2/connectionlog"


@pytest.fixture
def workspace(org):
    alice = UserFactory(username="alice")
    return WorkspaceFactory(organization=org, owner=alice, name="dev")


def event(workspace, **fields):
    return {"workspace_id": str(workspace.id), "agent_name": "main", **fields}


def only_entry(client, q=""):
    response = client.get(URL, {"q": q})
    assert response.status_code == 200
    [entry] = response.json()["connection_logs"]
    return entry


def test_closed_ssh_row_matches_the_contract_example(owner_api, workspace, org):
    cid = "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908"
    record_events(
        [
            event(
                workspace,
                action="connect",
                type="ssh",
                connection_id=cid,
                time="2025-07-10T10:14:38.942776Z",
                ip="10.1.2.3",
            ),
            event(
                workspace,
                action="disconnect",
                type="ssh",
                connection_id=cid,
                time="2025-07-10T10:20:01.100Z",
                exit_code=0,
                reason="client disconnected",
            ),
        ]
    )
    entry = only_entry(owner_api)
    assert entry == {
        "id": entry["id"],
        "connect_time": "2025-07-10T10:14:38.942776Z",
        "organization": {"id": str(org.id), "name": "acme", "display_name": "Acme", "icon": ""},
        "workspace_owner_id": str(workspace.owner_id),
        "workspace_owner_username": "alice",
        "workspace_id": str(workspace.id),
        "workspace_name": "dev",
        "agent_name": "main",
        "ip": "10.1.2.3",
        "type": "ssh",
        "ssh_info": {
            "connection_id": cid,
            "disconnect_time": "2025-07-10T10:20:01.1Z",
            "disconnect_reason": "client disconnected",
            "exit_code": 0,
        },
    }
    assert str(uuid.UUID(entry["id"])) == entry["id"]


def test_ongoing_ssh_row_has_only_the_connection_id(owner_api, workspace):
    cid = str(uuid.uuid4())
    record_events(
        [
            event(
                workspace,
                action="connect",
                type="ssh",
                connection_id=cid,
                time="2025-07-10T10:00:00Z",
            )
        ]
    )
    entry = only_entry(owner_api)
    assert entry["ssh_info"] == {"connection_id": cid}
    assert "web_info" not in entry and "ip" not in entry


def test_web_row_with_a_user_carries_the_full_user_object(owner_api, workspace):
    carol = UserFactory(username="carol", name="Carol", site_roles=["auditor"])
    record_events(
        [
            event(
                workspace,
                action="connect",
                type="workspace_app",
                user_id=str(carol.id),
                time="2025-07-03T06:57:16.144719Z",
                ip="127.0.0.1",
                user_agent="Mozilla/5.0",
                slug_or_port="code-server",
                status_code=404,
            )
        ]
    )
    entry = only_entry(owner_api)
    assert "ssh_info" not in entry
    user = entry["web_info"].pop("user")
    assert entry["web_info"] == {
        "user_agent": "Mozilla/5.0",
        "slug_or_port": "code-server",
        "status_code": 404,
    }
    assert user["id"] == str(carol.id) and user["username"] == "carol"
    # No avatar: the key is omitted (Coder's omitempty), never "".
    assert set(user) == {
        "id",
        "username",
        "name",
        "email",
        "created_at",
        "updated_at",
        "last_seen_at",
        "status",
        "login_type",
        "has_ai_seat",
        "organization_ids",
        "roles",
    }
    assert user["organization_ids"] == [] and user["has_ai_seat"] is False
    assert user["roles"] == [{"name": "auditor", "display_name": "Auditor"}]
    assert user["created_at"].endswith("Z")


def test_unauthenticated_web_row_has_user_null(owner_api, workspace):
    record_events(
        [
            event(
                workspace,
                action="connect",
                type="port_forwarding",
                time="2025-07-03T06:57:16Z",
                slug_or_port="8080",
            )
        ]
    )
    web_info = only_entry(owner_api)["web_info"]
    assert web_info == {"user_agent": "", "user": None, "slug_or_port": "8080", "status_code": 200}


def test_ipv6_is_plain(owner_api, workspace):
    record_events(
        [
            event(
                workspace,
                action="connect",
                type="tunnel",
                time="2025-07-03T06:57:16Z",
                ip="fd7a:115c:a1e0:0:0:0:0:1",
                status_code=101,
            )
        ]
    )
    assert only_entry(owner_api)["ip"] == "fd7a:115c:a1e0::1"


@pytest.fixture
def forty_rows(workspace):
    """40 rows: groups of four share a timestamp, so only the id orders them."""
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return [
        ConnectionLogFactory(workspace=workspace, connect_time=base + dt.timedelta(minutes=i // 4))
        for i in range(40)
    ]


def ids(response):
    assert response.status_code == 200, response.json()
    return [entry["id"] for entry in response.json()["connection_logs"]]


def test_newest_first_with_id_as_tie_break(owner_api, forty_rows):
    expected = [
        str(r.id) for r in sorted(forty_rows, key=lambda r: (r.connect_time, r.id), reverse=True)
    ]
    assert ids(owner_api.get(URL)) == expected


def test_offset_paging_covers_every_row_once(owner_api, forty_rows):
    seen = []
    for offset in range(0, 40, 7):
        seen += ids(owner_api.get(URL, {"limit": 7, "offset": offset}))
    assert sorted(seen) == sorted(str(r.id) for r in forty_rows)
    assert len(seen) == 40


def test_keyset_paging_across_equal_timestamps_loses_and_repeats_nothing(owner_api, forty_rows):
    full = ids(owner_api.get(URL))
    seen, after = [], None
    while True:
        params = {"limit": 3}
        if after:
            params["after_id"] = after
        page = ids(owner_api.get(URL, params))
        if not page:
            break
        seen += page
        after = page[-1]
    assert seen == full


def test_after_id_wins_over_offset(owner_api, forty_rows):
    full = ids(owner_api.get(URL))
    assert ids(owner_api.get(URL, {"after_id": full[9], "offset": 30, "limit": 2})) == full[10:12]


@pytest.mark.parametrize(
    "spell",
    [lambda u: f"urn:uuid:{u}", lambda u: "{" + u.upper() + "}", lambda u: u.replace("-", "")],
    ids=["urn", "braces upper", "32 hex"],
)
def test_after_id_in_go_spellings(owner_api, forty_rows, spell):
    full = ids(owner_api.get(URL))
    assert ids(owner_api.get(URL, {"after_id": spell(full[9]), "limit": 2})) == full[10:12]


def test_limit_zero_or_missing_means_one_hundred(owner_api, workspace):
    ConnectionLogFactory.create_batch(101, workspace=workspace)
    assert len(ids(owner_api.get(URL))) == 100
    assert len(ids(owner_api.get(URL, {"limit": 0}))) == 100


def test_count_ignores_paging_and_is_capped(owner_api, workspace, settings):
    settings.CONNLOGS_COUNT_CAP = 5
    ConnectionLogFactory.create_batch(9, workspace=workspace)
    body = owner_api.get(URL, {"limit": 2, "offset": 1}).json()
    assert body["count"] == 6 and body["count_cap"] == 5
    assert len(body["connection_logs"]) == 2
    settings.CONNLOGS_COUNT_CAP = 2000
    body = owner_api.get(URL, {"limit": 2}).json()
    assert (body["count"], body["count_cap"]) == (9, 2000)


def test_empty_result_is_an_empty_array(owner_api, db):
    assert owner_api.get(URL).json() == {"connection_logs": [], "count": 0, "count_cap": 2000}


PAGING_ERRORS = [
    (
        {"limit": "-1"},
        "limit",
        'Query param "limit" must be a valid 32-bit positive integer: value is negative',
    ),
    (
        {"offset": "abc"},
        "offset",
        'Query param "offset" must be a valid 32-bit positive integer: '
        'strconv.ParseInt: parsing "abc": invalid syntax',
    ),
    (
        {"limit": "4294967296"},
        "limit",
        'Query param "limit" must be a valid 32-bit positive integer: '
        'strconv.ParseInt: parsing "4294967296": value out of range',
    ),
    ({"limit": "1001"}, "limit", 'Query param "limit" must be at most 1000'),
    ({"after_id": "nope"}, "after_id", 'Query param "after_id" must be a valid uuid'),
]


@pytest.mark.parametrize(("params", "field", "detail"), PAGING_ERRORS)
def test_paging_errors(owner_api, db, params, field, detail):
    response = owner_api.get(URL, params)
    assert response.status_code == 400
    assert response.json() == {
        "message": "Query parameters have invalid values.",
        "validations": [{"field": field, "detail": detail}],
    }


def test_limit_at_the_maximum_is_fine(owner_api, db):
    assert owner_api.get(URL, {"limit": 1000}).status_code == 200


def test_paging_given_twice_is_an_error(owner_api, db):
    response = owner_api.get(URL + "?limit=1&limit=2")
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "limit"


def test_paging_is_validated_before_q(owner_api, db):
    response = owner_api.get(URL, {"limit": "-1", "q": "bogus:1"})
    assert response.json()["message"] == "Query parameters have invalid values."


def test_after_id_of_an_invisible_row_is_a_400(client_for, org, other_org, workspace):
    hidden = ConnectionLogFactory(workspace=WorkspaceFactory(organization=other_org))
    auditor = member(org, "organization-auditor")
    response = client_for(auditor).get(URL, {"after_id": str(hidden.id)})
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "after_id"


def test_a_page_costs_a_fixed_number_of_queries(
    owner_api, workspace, django_assert_max_num_queries
):
    users = UserFactory.create_batch(5)
    for i in range(100):
        ConnectionLogFactory(
            workspace=workspace,
            type="workspace_app" if i % 2 else "ssh",
            user=users[i % 5] if i % 2 else None,
        )
    # token lookup, last-seen touch, memberships, username lookup, page, count, and the
    # access-log entry (its one INSERT); past the count's cap, the page in one query or two
    # (newest month first: querysets.first_rows)
    with django_assert_max_num_queries(8):
        response = owner_api.get(URL, {"limit": 100, "q": "workspace_owner:alice"})
    assert len(response.json()["connection_logs"]) == 100


# --- who sees what (contract section 5) ------------------------------------------------


@pytest.fixture
def two_org_rows(org, other_org):
    return {
        "acme": ConnectionLogFactory(workspace=WorkspaceFactory(organization=org)),
        "globex": ConnectionLogFactory(workspace=WorkspaceFactory(organization=other_org)),
    }


def visible_orgs(client):
    body = client.get(URL).json()
    assert body["count"] == len(body["connection_logs"])
    return sorted(entry["organization"]["name"] for entry in body["connection_logs"])


@pytest.mark.parametrize(
    ("site_roles", "org_roles", "other_org_roles", "sees"),
    [
        (["owner"], None, None, ["acme", "globex"]),
        (["auditor"], None, None, ["acme", "globex"]),
        ([], ["organization-admin"], None, ["acme"]),
        ([], ["organization-auditor"], None, ["acme"]),
        ([], ["organization-admin"], ["organization-auditor"], ["acme", "globex"]),
        ([], [], [], []),
        (["connection-reporter"], None, None, []),
        ([], None, None, []),
    ],
)
def test_who_sees_what(
    client_for, org, other_org, two_org_rows, site_roles, org_roles, other_org_roles, sees
):
    user = UserFactory(site_roles=site_roles)
    from connlogs.models import Membership

    if org_roles is not None:
        Membership.objects.create(user=user, organization=org, roles=org_roles)
    if other_org_roles is not None:
        Membership.objects.create(user=user, organization=other_org, roles=other_org_roles)
    assert visible_orgs(client_for(user)) == sees


def test_plain_member_gets_200_and_an_empty_list(client_for, org, two_org_rows):
    response = client_for(member(org)).get(URL)
    assert response.status_code == 200
    assert response.json() == {"connection_logs": [], "count": 0, "count_cap": 2000}


def test_org_auditor_naming_another_org_gets_400_but_by_uuid_gets_nothing(
    client_for, org, other_org, two_org_rows
):
    client = client_for(member(org, "organization-auditor"))
    response = client.get(URL, {"q": "organization:globex"})
    assert response.status_code == 400
    assert response.json()["validations"] == [
        {
            "field": "organization",
            "detail": 'Query param "organization" has invalid value: organization "globex" '
            "either does not exist, or you are unauthorized to view it",
        }
    ]
    body = client.get(URL, {"q": f"organization:{other_org.id}"}).json()
    assert body == {"connection_logs": [], "count": 0, "count_cap": 2000}


def test_count_never_leaks_rows_of_other_organizations(client_for, org, other_org):
    ConnectionLogFactory.create_batch(3, workspace=WorkspaceFactory(organization=other_org))
    ConnectionLogFactory.create_batch(2, workspace=WorkspaceFactory(organization=org))
    body = client_for(member(org, "organization-admin")).get(URL, {"q": "type:ssh"}).json()
    assert body["count"] == 2


def test_anonymous_and_bad_tokens_get_401(db):
    message = "You are signed out or your session has expired. Please sign in again to continue."
    for headers in (
        {},
        {"HTTP_CODER_SESSION_TOKEN": "abcdefghij-wrongsecret"},
        {"HTTP_AUTHORIZATION": "Bearer nope"},
    ):
        response = APIClient().get(URL, **headers)
        assert response.status_code == 401
        assert response.json() == {"message": message}


@pytest.mark.parametrize("accept", ["text/html", "text/csv", "application/xml", "image/png"])
def test_the_list_answers_json_whatever_accept_says(owner_api, forty_rows, accept):
    """Coder's API does not negotiate: the contract's answer is ``200 application/json``."""
    response = owner_api.get(URL, {"limit": 2}, HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert len(response.json()["connection_logs"]) == 2


def test_a_format_parameter_is_not_drfs_to_read(owner_api, forty_rows):
    response = owner_api.get(URL, {"limit": 2, "format": "xml"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
