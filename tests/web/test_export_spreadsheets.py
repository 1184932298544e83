"""CSV for spreadsheets: every formula start neutralised, and a byte-order mark for Excel."""

from __future__ import annotations

import csv
import io

import pytest

from connlogs import export
from tests.factories import ConnectionLogFactory, auth_header
from tests.web.conftest import signed_in

URL = "/api/v2/connectionlog/export"
BOM = "\ufeff"
HYPERLINK = '\t=HYPERLINK("http://x","y")'


@pytest.fixture
def owner_api(world, api):
    api.credentials(**auth_header(world.people["owner"]))
    return api


def body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


@pytest.mark.parametrize(
    "cell",
    [
        HYPERLINK,
        "\r=1+1",
        "\n=cmd|' /C calc'!A0",
        '\uff1dHYPERLINK("http://x")',  # full-width =
        "\uff0bcmd",  # full-width +
        "\uff0d1+1",  # full-width -
        "\uff20SUM(A1)",  # full-width @
        "\ufe66cmd",  # small =
        "\t1",  # a number behind a tab is not a plain number
        "-\uff11",  # ASCII minus, full-width digit: not a plain number either
    ],
)
def test_every_formula_start_is_neutralised(cell):
    assert export.neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-1", "+5", "137", "-1.5e3", "\uff11\uff12", "a\t=b", "x"])
def test_numbers_and_ordinary_text_are_kept(cell):
    assert export.neutralise(cell) == cell


def test_a_tab_formula_user_agent_is_exported_neutralised(world, owner_api):
    ConnectionLogFactory(workspace=world.acme_ws, type="workspace_app", user_agent=HYPERLINK)
    rows = list(csv.DictReader(io.StringIO(body(owner_api.get(URL, {"format": "csv"})))))
    assert "'" + HYPERLINK in {row["user_agent"] for row in rows}
    assert {row["exit_code"] for row in rows} >= {"0", "137"}  # numbers stay numbers


@pytest.mark.parametrize("value", ["1", "true", "t", "TRUE", "True"])
def test_bom_starts_the_csv_with_a_byte_order_mark(owner_api, value):
    text = body(owner_api.get(URL, {"format": "csv", "bom": value}))
    assert text.startswith(BOM + "id,connect_time,")
    assert text.count(BOM) == 1
    assert len(list(csv.DictReader(io.StringIO(text[1:])))) == 5


@pytest.mark.parametrize("params", [{}, {"bom": "0"}, {"bom": "false"}, {"bom": ""}])
def test_no_byte_order_mark_by_default(owner_api, params):
    assert body(owner_api.get(URL, {"format": "csv", **params})).startswith("id,")


def test_ndjson_never_has_a_byte_order_mark(owner_api):
    assert body(owner_api.get(URL, {"format": "ndjson", "bom": "1"})).startswith("{")


@pytest.mark.parametrize(
    "query, detail",
    [
        (
            "format=csv&bom=yes",
            'Query param "bom" must be a valid boolean: strconv.ParseBool: parsing "yes": '
            "invalid syntax",
        ),
        (
            "format=csv&bom=2",
            'Query param "bom" must be a valid boolean: strconv.ParseBool: parsing "2": '
            "invalid syntax",
        ),
        (
            "bom=1&bom=1",
            'Query param "bom" provided more than once, found 2 times. '
            "Only provide 1 instance of this query param.",
        ),
    ],
)
def test_a_bad_bom_is_a_400_in_the_contract_shape(owner_api, query, detail):
    response = owner_api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Query parameters have invalid values.",
        "validations": [{"field": "bom", "detail": detail}],
    }


def test_the_list_page_offers_csv_for_excel(world):
    client = signed_in(world.people["owner"])
    response = client.get("/connectionlog", {"q": "type:ssh"})
    html = response.content.decode()
    assert 'href="/connectionlog/export?q=type%3Assh&amp;format=csv&amp;bom=1"' in html
    assert "CSV for Excel" in html
    download = client.get("/connectionlog/export", {"q": "type:ssh", "format": "csv", "bom": "1"})
    assert body(download).startswith(BOM + "id,")
    bad = client.get("/connectionlog/export", {"format": "csv", "bom": "maybe"})
    assert bad.status_code == 400
    assert 'Query param "bom" must be a valid boolean' in bad.content.decode()


def test_bom_is_in_the_openapi_schema(api):
    schema = api.get("/api/v2/openapi.json").json()
    operation = schema["paths"]["/api/v2/connectionlog/export"]["get"]
    [bom] = [p for p in operation["parameters"] if p["name"] == "bom"]
    assert bom["in"] == "query" and bom["schema"]["type"] == "boolean"
    assert bom["schema"]["default"] is False
