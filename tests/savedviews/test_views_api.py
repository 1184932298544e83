"""The saved-view API: the JSON of a view, what a body may say, owners, start views."""

from __future__ import annotations

import pytest

from connlogs.api import saved_views
from connlogs.savedviews.models import SavedView, StartView
from connlogs.savedviews.presets import PRESETS
from tests.savedviews.conftest import VIEWS, client, view_url

START = "/api/v2/connectionlog/start-view"


def test_a_created_view_answers_as_stored(world):
    response = client(world, "acme_admin").post(
        VIEWS,
        {
            "name": "  Long sessions ",
            "description": "SSH sessions of the on-call week",
            "q": "type:ssh",
            "page_size": 50,
            "time_zone": "Europe/Paris",
            "columns": ["time", "who", "result"],
            "sharing": "organization",
            "organization": "acme",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    view = SavedView.objects.get()
    assert body == {
        "id": str(view.id),
        "name": "Long sessions",
        "q": "type:ssh",
        "description": "SSH sessions of the on-call week",
        "page_size": 50,
        "time_zone": "Europe/Paris",
        "columns": ["time", "who", "result"],
        "sharing": "organization",
        "organization": {
            "id": str(world.acme.id),
            "name": "acme",
            "display_name": world.acme.display_name,
            "icon": "",
        },
        "owner": {"id": str(world.people["acme_admin"].id), "username": "acme-admin"},
        "mine": True,
        "built_in": False,
        "editable": True,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    # A member of acme sees it, neither theirs nor theirs to change.
    seen = client(world, "member").get(view_url(view)).json()
    assert (seen["mine"], seen["editable"]) == (False, False)


def test_a_patch_changes_only_what_it_names(world, views):
    response = client(world, "target").patch(
        view_url(views.personal), {"q": "type:vscode", "page_size": 100}, format="json"
    )
    assert response.status_code == 200
    views.personal.refresh_from_db()
    assert (views.personal.name, views.personal.q, views.personal.page_size) == (
        "mine",
        "type:vscode",
        100,
    )
    cleared = client(world, "target").patch(
        view_url(views.personal), {"page_size": None, "time_zone": None}, format="json"
    )
    assert (cleared.json()["page_size"], cleared.json()["time_zone"]) == (None, None)
    described = client(world, "target").patch(
        view_url(views.personal), {"description": "<b>mine</b>"}, format="json"
    )
    assert described.json()["description"] == "<b>mine</b>"
    assert described.json()["q"] == "type:vscode"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": 5}, "name"),
        ({"name": "v", "q": "x" * 2001}, "q"),
        ({"name": "v", "description": "x" * 1001}, "description"),
        ({"name": "v", "description": None}, "description"),
        ({"name": "v", "page_size": 30}, "page_size"),
        ({"name": "v", "page_size": "50"}, "page_size"),
        ({"name": "v", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "v", "columns": ["time", "colour"]}, "columns"),
        ({"name": "v", "columns": []}, "columns"),
        ({"name": "v", "columns": ["time", "time"]}, "columns"),
        ({"name": "v", "sharing": "friends"}, "sharing"),
        ({"name": "v", "sharing": "organization"}, "organization"),
        ({"name": "v", "organization": "acme"}, "organization"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(world, body, field):
    response = client(world, "owner").post(VIEWS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in [v["field"] for v in response.json()["validations"]]
    assert not SavedView.objects.exists()


def test_a_bad_q_is_refused_with_the_lists_validations(world):
    response = client(world, "owner").post(VIEWS, {"name": "v", "q": "type:telnet"}, format="json")
    listed = client(world, "owner").get("/api/v2/connectionlog", {"q": "type:telnet"})
    assert response.status_code == 400
    assert response.json() == listed.json()


def test_a_user_keeps_a_bounded_number_of_views(world, monkeypatch):
    monkeypatch.setattr(saved_views, "MAX_OWNED", 2)
    api = client(world, "target")
    statuses = [api.post(VIEWS, {"name": f"v{i}"}, format="json").status_code for i in range(3)]
    assert statuses == [201, 201, 400]


# --- deleting a user; giving a shared view a new owner ------------------------------------


def test_deleting_a_user_keeps_their_shared_views_owned_by_nobody(world, views):
    admin = world.people["acme_admin"]
    own = SavedView.objects.create(name="admin's own", owner=admin)
    admin.delete()
    assert not SavedView.objects.filter(pk=own.pk).exists()
    views.acme.refresh_from_db()
    assert views.acme.owner is None
    seen = client(world, "owner").get(view_url(views.acme)).json()
    assert (seen["owner"], seen["editable"]) == (None, True)


def test_a_site_owner_gives_an_ownerless_view_a_new_owner(world, views):
    SavedView.objects.filter(pk=views.acme.pk).update(owner=None)
    api = client(world, "owner")
    response = api.patch(view_url(views.acme), {"owner": "acme-auditor"}, format="json")
    assert response.status_code == 200
    assert response.json()["owner"]["username"] == "acme-auditor"
    # Someone who may not see the view cannot own it; a personal view keeps its owner.
    refused = api.patch(view_url(views.acme), {"owner": "globex-admin"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["validations"][0]["field"] == "owner"
    mine = client(world, "target").patch(
        view_url(views.personal), {"owner": "plain"}, format="json"
    )
    assert mine.status_code == 400


def test_an_organization_admin_reassigns_within_their_organization(world, views):
    api = client(world, "acme_admin")
    assert api.patch(view_url(views.acme), {"owner": "plain"}, format="json").status_code == 200
    assert api.patch(view_url(views.acme), {"owner": None}, format="json").json()["owner"] is None
    unknown = api.patch(view_url(views.acme), {"owner": "gus-nobody"}, format="json")
    assert unknown.status_code == 400


# --- built-in views -----------------------------------------------------------------------


def test_built_in_views_are_listed_after_the_saved_ones_and_read_only(world, views):
    listed = client(world, "member").get(VIEWS).json()["views"]
    assert [v["id"] for v in listed if v["built_in"]] == list(PRESETS)
    assert [v["built_in"] for v in listed] == sorted(v["built_in"] for v in listed)
    key = next(iter(PRESETS))
    api = client(world, "owner")
    assert api.get(view_url(key)).json()["q"] == PRESETS[key].q
    assert api.patch(view_url(key), {"name": "x"}, format="json").status_code == 403
    assert api.delete(view_url(key)).status_code == 403
    assert api.get(view_url("no-such-preset")).status_code == 404


# --- start views ----------------------------------------------------------------------------


def test_the_start_view_is_chosen_read_and_cleared(world, views):
    api = client(world, "target")
    assert api.get(START).json() == {"view": None}
    assert api.put(START, {"view": "stale-sessions"}, format="json").json()["view"]["id"] == (
        "stale-sessions"
    )
    chosen = api.put(START, {"view": str(views.acme.id)}, format="json")
    assert chosen.status_code == 200
    assert chosen.json()["view"]["id"] == str(views.acme.id)
    assert api.get(VIEWS).json()["start_view_id"] == str(views.acme.id)
    assert api.delete(START).status_code == 204
    assert api.get(START).json() == {"view": None}


def test_a_start_view_must_be_one_the_user_may_see(world, views):
    response = client(world, "member").put(START, {"view": str(views.personal.id)}, format="json")
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "view"
    assert not StartView.objects.exists()


def test_a_start_view_the_user_may_no_longer_see_is_none(world, views):
    target = world.people["target"]
    api = client(world, "target")
    api.put(START, {"view": str(views.acme.id)}, format="json")
    target.memberships.all().delete()
    assert api.get(START).json() == {"view": None}
    assert api.get(VIEWS).json()["start_view_id"] is None
    views.acme.delete()
    assert not StartView.objects.exists()


def test_the_views_are_in_the_openapi_schema(api):
    paths = api.get("/api/v2/openapi.json", {"format": "json"}).json()["paths"]
    assert set(paths["/api/v2/connectionlog/views"]) >= {"get", "post"}
    assert set(paths["/api/v2/connectionlog/views/{view}"]) >= {"get", "patch", "delete"}
    assert set(paths["/api/v2/connectionlog/start-view"]) >= {"get", "put", "delete"}
    assert "get" in paths["/api/v2/connectionlog/changes"]
    for path in ("/api/v2/connectionlog", "/api/v2/connectionlog/export"):
        names = [p["name"] for p in paths[path]["get"]["parameters"]]
        assert "view" in names
