"""Exports (shared/spec/export.md): CSV and NDJSON, streamed, same rows as the list and API."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from connlogs import export
from connlogs.api.serializers import connection_log_json
from connlogs.export import formats as export_formats
from connlogs.export import rows as export_rows
from tests.exports import ndjson_entries
from tests.factories import ConnectionLogFactory, auth_header
from tests.web.conftest import row_ids, signed_in

URL = "/api/v2/connectionlog/export"
SPEC_COLUMNS = (
    "id, connect_time, disconnect_time, type, organization, workspace_owner, workspace_name, "
    "agent_name, ip, username, user_email, user_agent, slug_or_port, status_code, exit_code, "
    "disconnect_reason, connection_id, workspace_id"
).split(", ")


@pytest.fixture
def owner_api(world, api):
    api.credentials(**auth_header(world.people["owner"]))
    return api


def body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode("utf-8")


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body(response))))


# --- the formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-1", "-1"),
        ("+5", "+5"),
        ("-1.5e3", "-1.5e3"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised_but_numbers_are_not(cell, written):
    assert export.neutralise(cell) == written


def test_csv_header_is_the_spec_columns_in_order(owner_api):
    response = owner_api.get(URL, {"format": "csv"})
    header = body(response).splitlines()[0]
    assert header.split(",") == SPEC_COLUMNS


def test_csv_rows_carry_the_contract_values(world, owner_api):
    rows = {row["id"]: row for row in csv_rows(owner_api.get(URL, {"format": "csv"}))}
    ssh = rows[str(world.acme_rows[0].id)]
    source = world.acme_rows[0]
    assert ssh == {
        "id": str(source.id),
        "connect_time": connection_log_json(source, {})["connect_time"],
        "disconnect_time": connection_log_json(source, {})["ssh_info"]["disconnect_time"],
        "type": "ssh",
        "organization": "acme",
        "workspace_owner": "alice",
        "workspace_name": "dev",
        "agent_name": "main",
        "ip": "10.1.2.3",
        "username": "",
        "user_email": "",
        "user_agent": "",
        "slug_or_port": "",
        "status_code": "",
        "exit_code": "0",
        "disconnect_reason": "client disconnected",
        "connection_id": str(source.connection_id),
        "workspace_id": str(source.workspace_id),
    }
    tunnel = rows[str(world.globex_rows[1].id)]
    assert tunnel["username"] == "alice" and tunnel["user_email"] == "alice@example.com"
    assert tunnel["status_code"] == "101" and tunnel["exit_code"] == ""
    assert tunnel["connection_id"] == "" and tunnel["disconnect_time"] == ""
    assert tunnel["connect_time"].endswith("Z")


def test_csv_neutralises_agent_and_browser_text(world, owner_api):
    ConnectionLogFactory(
        workspace=world.acme_ws,
        type="workspace_app",
        user_agent='=HYPERLINK("http://evil.example","click")',
        slug_or_port="@app",
    )
    ConnectionLogFactory(
        workspace=world.acme_ws, type="ssh", disconnect_reason="+cmd|' /C calc'!A0", code=-1
    )
    rows = csv_rows(owner_api.get(URL, {"format": "csv"}))
    assert any(r["user_agent"] == '\'=HYPERLINK("http://evil.example","click")' for r in rows)
    assert any(r["slug_or_port"] == "'@app" for r in rows)
    assert any(r["disconnect_reason"].startswith("'+cmd") for r in rows)
    assert any(r["exit_code"] == "-1" for r in rows)


def test_ndjson_lines_are_exactly_the_read_contract(world, owner_api):
    response = owner_api.get(URL, {"format": "ndjson"})
    assert response["Content-Type"] == "application/x-ndjson"
    entries = ndjson_entries(body(response))
    api = owner_api.get("/api/v2/connectionlog").json()["connection_logs"]
    assert entries == api


def test_content_types_and_file_names(owner_api):
    response = owner_api.get(URL, {"format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="connection-log-\d{8}T\d{6}Z-[0-9a-f]{8}\.csv"',
        response["Content-Disposition"],
    )
    response = owner_api.get(URL, {"format": "ndjson"})
    assert re.fullmatch(
        r'attachment; filename="connection-log-\d{8}T\d{6}Z-[0-9a-f]{8}\.ndjson"',
        response["Content-Disposition"],
    )


def test_format_defaults_to_csv(owner_api):
    assert owner_api.get(URL)["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize(
    "accept",
    ["text/csv", "application/x-ndjson", "text/html", "application/xml", "*/*", "image/png"],
)
def test_any_accept_header_is_answered(owner_api, accept):
    for fmt in export.FORMATS:
        response = owner_api.get(URL, {"format": fmt}, HTTP_ACCEPT=accept)
        assert response.status_code == 200, (accept, fmt)


# --- errors before any byte ----------------------------------------------------------------


def test_bad_q_is_a_400_with_the_contract_error(owner_api):
    response = owner_api.get(
        URL, {"q": "type:foo status:maybe", "format": "csv"}, HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == 400
    assert not response.streaming
    assert response.json() == {
        "message": "Invalid connection search query.",
        "validations": [
            {
                "field": "type",
                "detail": 'Query param "type" has invalid value: "foo" is not a valid value',
            },
            {
                "field": "status",
                "detail": 'Query param "status" has invalid value: "maybe" is not a valid value',
            },
        ],
    }


@pytest.mark.parametrize("params", [{"format": "xlsx"}, {"format": ["csv", "ndjson"]}])
def test_bad_format_is_a_400(owner_api, params):
    response = owner_api.get(URL, params, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Query parameters have invalid values."
    assert body["validations"][0]["field"] == "format"


# --- streaming -----------------------------------------------------------------------------


def test_export_reads_its_first_batch_in_the_view_then_keyset_batches(
    world, owner_api, monkeypatch
):
    monkeypatch.setattr(export_rows, "CHUNK_SIZE", 2)
    monkeypatch.setattr(export_formats, "FLUSH_AT", 10)  # a piece per row
    with CaptureQueriesContext(connection) as captured:
        response = owner_api.get(URL, {"format": "ndjson"})
        reads_before_body = [
            q["sql"]
            for q in captured.captured_queries
            if 'FROM "connlogs_connectionlog"' in q["sql"]
        ]
        assert isinstance(response, StreamingHttpResponse) and response.streaming
        # The first batch only: a database outage there is still answered (a 503).
        assert len(reads_before_body) == 1
        entries = ndjson_entries(body(response))
    assert len(entries) == 5
    row_reads = [
        q["sql"] for q in captured.captured_queries if 'FROM "connlogs_connectionlog"' in q["sql"]
    ]
    assert len(row_reads) == 3 and all("LIMIT 2" in sql for sql in row_reads)


def test_body_comes_in_batches_not_one_piece(world, owner_api, monkeypatch):
    monkeypatch.setattr(export_formats, "FLUSH_AT", 10)
    response = owner_api.get(URL, {"format": "csv"})
    pieces = list(response.streaming_content)
    assert len(pieces) > 1


# --- the list page's download button ---------------------------------------------------------


def test_download_button_carries_the_same_q_and_matches_the_list(world):
    client = signed_in(world.people["owner"])
    page = client.get("/connectionlog", {"q": "type:ssh"})
    href = page.context["export_csv_url"]
    assert href == "/connectionlog/export?q=type%3Assh&format=csv"
    rows = csv_rows(client.get(href))
    assert [r["id"] for r in rows] == row_ids(page)
    ndjson = client.get(page.context["export_ndjson_url"])
    assert [entry["id"] for entry in ndjson_entries(body(ndjson))] == row_ids(page)


def test_download_matches_every_page_of_the_list_not_only_the_first(world):
    for _ in range(30):
        ConnectionLogFactory(workspace=world.acme_ws)
    client = signed_in(world.people["acme_auditor"])
    listed = row_ids(client.get("/connectionlog", {"per_page": 100}))
    assert len(listed) == 33
    exported = [r["id"] for r in csv_rows(client.get("/connectionlog/export"))]
    assert exported == listed


def test_download_with_a_bad_q_goes_back_to_the_list_with_its_errors(world):
    client = signed_in(world.people["owner"])
    response = client.get("/connectionlog/export", {"q": "type:foo"})
    assert response.status_code == 302
    assert response["Location"] == "/connectionlog?q=type%3Afoo"
    assert client.get("/connectionlog/export", {"format": "xlsx"}).status_code == 400


# --- OpenAPI -------------------------------------------------------------------------------------


def test_export_is_in_the_openapi_schema(owner_api):
    schema = owner_api.get("/api/v2/openapi.json", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    operation = document["paths"]["/api/v2/connectionlog/export"]["get"]
    assert operation["operationId"] == "exportConnectionLogs"
    assert {"text/csv", "application/x-ndjson"} <= set(operation["responses"]["200"]["content"])
    assert {p["name"] for p in operation["parameters"]} >= {"q", "format"}
    assert "400" in operation["responses"] and "401" in operation["responses"]
