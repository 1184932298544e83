"""``view={id}`` in place of ``q``: on the list, the export, the feed and the list page."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from connlogs.savedviews.models import SavedView
from connlogs.savedviews.presets import PRESETS
from tests.factories import ConnectionLogFactory
from tests.savedviews.conftest import client

GONE = (
    'Query param "view" does not name a saved view you can see: it was deleted, or it is not '
    "shared with you"
)

LIST = "/api/v2/connectionlog"


def listed(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["connection_logs"]}


def test_a_view_answers_as_its_q(world, views):
    vscode = ConnectionLogFactory(workspace=world.rows["acme"].workspace, type="vscode")
    api = client(world, "owner")
    by_view = listed(api.get(LIST, {"view": str(views.acme.id)}))
    assert by_view == listed(api.get(LIST, {"q": "type:ssh"}))
    assert str(vscode.id) not in by_view


def test_the_export_takes_a_view(world, views):
    response = client(world, "acme_auditor").get(
        f"{LIST}/export", {"view": str(views.everyone.id), "format": "csv"}
    )
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    ids = {row[0] for row in list(csv.reader(io.StringIO(text)))[1:]}
    assert ids == {str(world.rows["acme"].id)}


def test_the_list_page_takes_a_view(world, views):
    page = Client()
    page.force_login(world.people["acme_admin"])
    response = page.get("/connectionlog", {"view": str(views.acme.id)})
    assert response.status_code == 200
    assert response.context["q"] == "type:ssh"


@pytest.mark.parametrize(
    "params, detail",
    [
        ({"view": "personal"}, GONE),
        ({"view": "no-such-view"}, GONE),
        ({"view": "acme", "q": "type:ssh"}, 'Query params "q" and "view" cannot be used'),
        ({"view": ["acme", "acme"]}, 'Query param "view" provided more than once'),
    ],
)
@pytest.mark.parametrize("door", [LIST, f"{LIST}/export", f"{LIST}/changes"])
def test_a_view_that_cannot_be_opened_is_a_400(world, views, door, params, detail):
    def named(value):
        return str(getattr(views, value).id) if hasattr(views, value) else value

    params = {
        key: [named(v) for v in value] if isinstance(value, list) else named(value)
        for key, value in params.items()
    }
    response = client(world, "globex_admin").get(door, params)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Invalid connection search query."
    assert body["validations"][0]["field"] == "view"
    assert body["validations"][0]["detail"].startswith(detail)


def test_an_empty_view_is_no_view(world, views):
    api = client(world, "owner")
    assert listed(api.get(LIST, {"view": "", "q": "type:ssh"})) == listed(
        api.get(LIST, {"q": "type:ssh"})
    )


def test_a_view_shared_with_an_organization_is_no_view_to_outsiders(world, views):
    # The same 400 as a made-up id: whether the view exists is not told.
    made_up = client(world, "globex_admin").get(LIST, {"view": str(SavedView().id)})
    shared = client(world, "globex_admin").get(LIST, {"view": str(views.acme.id)})
    assert made_up.json() == shared.json()


@pytest.mark.parametrize("key", PRESETS)
def test_every_built_in_view_answers(world, key):
    response = client(world, "owner").get(LIST, {"view": key})
    assert response.status_code == 200, response.content


def test_a_download_of_a_view_that_is_gone_shows_why_on_the_list(world):  # noqa: F811
    """The list's download of a deleted (or never shared) view comes back to the list of that
    view, which says why, not to the whole log without a word."""
    browser = Client()
    browser.force_login(world.people["owner"])
    gone = str(SavedView().id)
    response = browser.get("/connectionlog/export", {"format": "csv", "view": gone})
    assert response.status_code == 302 and response["Location"] == f"/connectionlog?view={gone}"
    page = browser.get(response["Location"])
    assert page.status_code == 400 and "it was deleted, or it is not shared with you" in (
        page.content.decode()
    )
