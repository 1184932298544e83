"""``q`` given twice in the URL: the first counts, as in Coder (Go's ``url.Values.Get``).

Every door that reads ``q`` is asked ``?q=type:ssh&q=type:vscode`` and must answer the SSH
rows: the read API, the export API, the list page, its download, and the filter form.
"""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from connlogs.web import menus
from tests.exports import ndjson_entries
from tests.factories import auth_header
from tests.web.conftest import row_ids, signed_in

TWICE = "q=type%3Assh&q=type%3Avscode"


@pytest.fixture
def ssh_ids(world) -> list[str]:
    return [str(row.id) for row in world.acme_rows if row.type == "ssh"]


@pytest.fixture
def api(world, api):
    api.credentials(**auth_header(world.people["owner"]))
    return api


def streamed(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def test_the_read_api_uses_the_first_q(api, ssh_ids):
    entries = api.get(f"/api/v2/connectionlog?{TWICE}").json()["connection_logs"]
    assert [entry["id"] for entry in entries] == ssh_ids


def test_the_export_api_uses_the_first_q(api, ssh_ids):
    body = streamed(api.get(f"/api/v2/connectionlog/export?format=ndjson&{TWICE}"))
    assert [entry["id"] for entry in ndjson_entries(body)] == ssh_ids


def test_the_list_page_uses_the_first_q(world, ssh_ids):
    page = signed_in(world.people["owner"]).get(f"/connectionlog?{TWICE}")
    assert page.status_code == 200
    assert row_ids(page) == ssh_ids
    assert page.context["q"] == "type:ssh"
    assert page.context["export_csv_url"].endswith("q=type%3Assh&format=csv")


def test_the_download_uses_the_first_q(world, ssh_ids):
    body = streamed(signed_in(world.people["owner"]).get(f"/connectionlog/export?{TWICE}"))
    assert [row["id"] for row in csv.DictReader(io.StringIO(body))] == ssh_ids


def test_the_filter_form_keeps_the_first_q(world):
    shown = menus.encode_shown({"type": "", "status": ""})
    query = urlencode(
        [("q", "type:ssh"), ("q", "type:vscode"), ("shown", shown), ("status", "completed")]
    )
    response = signed_in(world.people["owner"]).get(f"/connectionlog?{query}")
    assert response.status_code == 302
    q = parse_qs(urlsplit(response["Location"]).query)["q"][0]
    assert q == "type:ssh status:completed"


def test_a_bad_first_q_is_reported_even_when_a_later_one_is_good(api):
    response = api.get("/api/v2/connectionlog?q=type%3Anope&q=type%3Assh")
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "type"
