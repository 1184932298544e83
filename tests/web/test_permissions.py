"""Each role sees exactly its organizations' rows: list, chart, detail, both downloads."""

from __future__ import annotations

import csv
import io

import pytest

from tests.exports import ndjson_entries
from tests.factories import auth_header
from tests.web.conftest import VISIBILITY, expected_ids, row_ids, signed_in

READERS = [role for role, orgs in VISIBILITY.items() if orgs is not None]


@pytest.mark.parametrize("role", READERS)
def test_list_shows_exactly_the_rows_of_the_roles_organizations(world, role):
    response = signed_in(world.people[role]).get("/connectionlog")
    assert response.status_code == 200
    assert row_ids(response) == expected_ids(world, role)


@pytest.mark.parametrize("role", READERS)
def test_chart_counts_only_the_roles_rows(world, role):
    response = signed_in(world.people[role]).get("/connectionlog")
    chart = response.context["chart"]
    assert chart.total == len(expected_ids(world, role))
    expected_types = {
        row.type for name in VISIBILITY[role] for row in getattr(world, f"{name}_rows")
    }
    assert {item.type for item in chart.legend} == expected_types


@pytest.mark.parametrize("role", READERS)
def test_detail_page_opens_visible_rows_and_404s_the_others(world, role):
    client = signed_in(world.people[role])
    visible = set(expected_ids(world, role))
    for row in world.acme_rows + world.globex_rows:
        response = client.get(f"/connectionlog/{row.id}")
        assert response.status_code == (200 if str(row.id) in visible else 404)


@pytest.mark.parametrize("role", READERS)
def test_web_download_has_exactly_the_list_rows(world, role):
    response = signed_in(world.people[role]).get("/connectionlog/export", {"format": "csv"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    ids = [line["id"] for line in csv.DictReader(io.StringIO(body))]
    assert ids == expected_ids(world, role)


@pytest.mark.parametrize("role", [*READERS, "member"])
def test_api_export_has_exactly_the_roles_rows(world, role, api):
    api.credentials(**auth_header(world.people[role]))
    response = api.get("/api/v2/connectionlog/export", {"format": "ndjson"})
    assert response.status_code == 200
    entries = ndjson_entries(b"".join(response.streaming_content))
    assert [entry["id"] for entry in entries] == expected_ids(world, role)


def test_plain_member_gets_an_explanation_not_an_empty_table(world):
    client = signed_in(world.people["member"])
    for url in (
        "/connectionlog",
        "/connectionlog/export",
        f"/connectionlog/{world.acme_rows[0].id}",
    ):
        response = client.get(url)
        assert response.status_code == 403
        text = response.content.decode()
        assert (
            "can&#x27;t read any connection log" in text or "can't read any connection log" in text
        )
        assert "Organization Auditor" in text
        assert "<table" not in text


@pytest.mark.parametrize(
    "url",
    [
        "/connectionlog",
        "/connectionlog/export",
        "/connectionlog/00000000-0000-0000-0000-000000000000",
    ],
)
def test_anonymous_is_sent_to_sign_in(db, client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


def test_anonymous_api_export_is_401_in_the_contract_shape(db, api):
    response = api.get("/api/v2/connectionlog/export")
    assert response.status_code == 401
    assert response.json() == {
        "message": "You are signed out or your session has expired. "
        "Please sign in again to continue."
    }


def test_organization_name_of_another_org_is_the_contract_error(world):
    # An org admin naming an organization they cannot see gets the API's sentence.
    response = signed_in(world.people["acme_admin"]).get(
        "/connectionlog", {"q": "organization:globex"}
    )
    assert response.status_code == 400
    assert (
        "organization &quot;globex&quot; either does not exist, or you are unauthorized to view it"
        in response.content.decode()
    )


def test_organization_by_uuid_of_another_org_is_just_no_rows(world):
    response = signed_in(world.people["acme_admin"]).get(
        "/connectionlog", {"q": f"organization:{world.globex.id}"}
    )
    assert response.status_code == 200
    assert row_ids(response) == []
