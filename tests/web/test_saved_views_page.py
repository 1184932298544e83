"""Saved views on the list page: the menu shows what each reader may see (escaped), the start
view opens the plain address, a view's display choices apply, sharing choices follow roles."""

# ruff: noqa: F811  (the saved views' fixtures are imported, then named as arguments)
from __future__ import annotations

import pytest

from connlogs.savedviews.models import SavedView, Sharing, StartView
from tests.savedviews.conftest import views  # noqa: F401  (a fixture)
from tests.savedviews.conftest import world as views_world  # noqa: F401  (a fixture)
from tests.web.conftest import signed_in

LIST = "/connectionlog"
HOSTILE = '<script>alert("view")</script>'


@pytest.fixture
def world(views_world):  # noqa: F811
    return views_world


def page(world, role, params=None):
    return signed_in(world.people[role]).get(LIST, params or {})


def menu_names(response) -> set[str]:
    saved = response.context["saved"]
    return {item.name for item in saved.mine + saved.shared}


@pytest.mark.parametrize(
    "role, seen",
    [
        ("acme_auditor", {"ada's", "acme ssh", "all"}),
        ("acme_admin", {"acme ssh", "all"}),
        ("globex_auditor", {"all"}),
        ("site_auditor", {"acme ssh", "all"}),
        ("owner", {"acme ssh", "all"}),  # personal means personal, site owners included
    ],
)
def test_the_menu_lists_the_views_each_reader_may_see(world, views, role, seen):
    SavedView.objects.create(name="ada's", q="type:vscode", owner=world.people["acme_auditor"])
    response = page(world, role)
    assert response.status_code == 200
    assert menu_names(response) == seen
    text = response.content.decode()
    assert "Active SSH sessions now" in text  # the built-in views are in every menu
    assert f"view={views.personal.id}" not in text  # the target's own, for nobody else


def test_another_readers_personal_view_does_not_open(world, views):
    response = page(world, "acme_admin", {"view": str(views.personal.id)})
    assert response.status_code == 400
    assert "view" in response.content.decode()


def test_view_names_are_escaped(world):
    SavedView.objects.create(name=HOSTILE, q="type:ssh", owner=world.people["acme_auditor"])
    text = page(world, "acme_auditor").content.decode()
    assert HOSTILE not in text
    assert "&lt;script&gt;alert(&quot;view&quot;)&lt;/script&gt;" in text


def test_the_start_view_opens_the_plain_address(world, views):
    StartView.objects.create(user=world.people["acme_auditor"], view=views.acme)
    response = page(world, "acme_auditor")
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?view={views.acme.id}"
    opened = page(world, "acme_auditor", {"view": str(views.acme.id)})
    assert opened.context["q"] == "type:ssh"
    assert opened.context["saved"].current.name == "acme ssh"
    # "Clear" must not lead back to the start view.
    assert opened.context["clear_url"] == f"{LIST}?q="
    assert page(world, "acme_auditor", {"q": ""}).status_code == 200


def test_a_start_view_the_reader_may_no_longer_see_opens_nothing(world, views):
    StartView.objects.create(user=world.people["acme_auditor"], view=views.acme)
    views.acme.organization = world.globex
    views.acme.save()
    assert page(world, "acme_auditor").status_code == 200


def test_a_built_in_start_view(world):
    StartView.objects.create(user=world.people["owner"], preset="stale-sessions")
    assert page(world, "owner")["Location"] == f"{LIST}?view=stale-sessions"


def test_a_views_page_size_and_columns_apply(world):
    view = SavedView.objects.create(
        name="narrow",
        q="",
        owner=world.people["owner"],
        page_size=50,
        columns=["time", "type", "workspace"],
    )
    response = page(world, "owner", {"view": str(view.id)})
    assert response.context["size"] == 50
    hidden = response.context["hidden_columns"].split()
    assert hidden == ["c-who", "c-ip", "c-state", "c-result", "c-reason"]
    assert 'data-hide="c-who c-ip c-state c-result c-reason"' in response.content.decode()
    # The page's own size choice wins over the view's.
    assert page(world, "owner", {"view": str(view.id), "per_page": 100}).context["size"] == 100


@pytest.mark.parametrize(
    "role, choices",
    [
        ("acme_auditor", ["personal"]),
        ("acme_admin", ["personal", "organization:acme"]),
        ("site_auditor", ["personal"]),
        ("owner", ["personal", "organization:acme", "organization:globex", "everyone"]),
    ],
)
def test_sharing_choices_follow_roles(world, role, choices):
    names = {str(world.acme.id): "acme", str(world.globex.id): "globex"}
    offered = [value for value, _ in page(world, role).context["saved"].share_choices]
    shown = [
        f"organization:{names[value.split(':', 1)[1]]}" if ":" in value else value
        for value in offered
    ]
    assert shown == choices


def test_editable_follows_may_change(world, views):
    as_admin = page(world, "acme_admin", {"view": str(views.acme.id)}).context["saved"]
    as_auditor = page(world, "acme_auditor", {"view": str(views.acme.id)}).context["saved"]
    assert as_admin.current.editable and not as_auditor.current.editable
    opened = page(world, "acme_admin", {"view": str(views.acme.id)}).content.decode()
    assert "data-view-delete" in opened
    assert views.acme.sharing == Sharing.ORGANIZATION
