"""Saved views: every role × create, read, share, change and delete, on the server.

Roles as in tests/test_permission_matrix.py, plus ``target``, a plain acme member who owns
the personal view. Views: ``personal`` (the target's), ``acme`` (shared with acme by its
admin) and ``everyone`` (shared with everyone by a site owner).
"""

from __future__ import annotations

import pytest
from django.db import transaction

from connlogs.savedviews.models import SavedView
from tests.savedviews.conftest import ROLES, VIEWS, client, view_url


def table(default: int, **cells: int) -> dict[str, int]:
    return {role: cells.get(role, default) for role in ROLES} | {"anonymous": 401}


ACME_READERS = dict(target=200, member=200, acme_auditor=200, acme_admin=200, site_auditor=200)
# Those who may not even see acme (or its views): 404 for its views, 400 naming it.
OUTSIDE_ACME = ("globex_auditor", "globex_admin", "reporter")

CREATE = {
    "personal": (lambda world: {}, table(201)),
    "acme": (
        lambda world: {"sharing": "organization", "organization": "acme"},
        table(403, acme_admin=201, owner=201, **dict.fromkeys(OUTSIDE_ACME, 400)),
    ),
    "acme by id": (
        lambda world: {"sharing": "organization", "organization": str(world.acme.id)},
        table(403, acme_admin=201, owner=201, **dict.fromkeys(OUTSIDE_ACME, 400)),
    ),
    "everyone": (lambda world: {"sharing": "everyone"}, table(403, owner=201)),
}

READ = {
    "personal": table(404, target=200),
    "acme": table(404, owner=200, **ACME_READERS),
    "everyone": table(200),
}

CHANGE = {
    "personal": table(404, target=204),
    "acme": table(403, acme_admin=204, owner=204, **dict.fromkeys(OUTSIDE_ACME, 404)),
    "everyone": table(403, owner=204),
}


def check(world, expected: dict[str, int], act) -> None:
    """``act(client)`` for every role, each in a transaction rolled back after; every wrong
    cell is reported at once."""
    wrong = []
    for role in ROLES:
        with transaction.atomic():
            got = act(client(world, role)).status_code
            transaction.set_rollback(True)
        if got != expected[role]:
            wrong.append(f"{role}: expected {expected[role]}, got {got}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("kind", CREATE)
def test_create(world, kind):
    body, expected = CREATE[kind]
    check(
        world,
        expected,
        lambda c: c.post(VIEWS, {"name": "v", "q": "type:ssh", **body(world)}, format="json"),
    )


@pytest.mark.parametrize("kind", READ)
def test_read(world, views, kind):
    view = getattr(views, kind)
    check(world, READ[kind], lambda c: c.get(view_url(view)))


@pytest.mark.parametrize("kind", READ)
def test_the_list_shows_what_may_be_read(world, views, kind):
    view = getattr(views, kind)
    for role in ROLES[1:]:
        listed = {v["id"] for v in client(world, role).get(VIEWS).json()["views"]}
        assert (str(view.id) in listed) == (READ[kind][role] == 200), role


@pytest.mark.parametrize("kind", CHANGE)
def test_delete(world, views, kind):
    view = getattr(views, kind)
    check(world, CHANGE[kind], lambda c: c.delete(view_url(view)))


@pytest.mark.parametrize("kind", CHANGE)
def test_rename(world, views, kind):
    view = getattr(views, kind)
    expected = {role: 200 if status == 204 else status for role, status in CHANGE[kind].items()}
    check(world, expected, lambda c: c.patch(view_url(view), {"name": "new"}, format="json"))


def test_a_deleted_view_is_gone(world, views):
    assert client(world, "acme_admin").delete(view_url(views.acme)).status_code == 204
    assert not SavedView.objects.filter(pk=views.acme.pk).exists()


# --- sharing: who may share with whom ---------------------------------------------------


SHARE = {
    # (who, their view, the change) -> status
    "a member shares with their organization": ("target", "personal", "acme", 403),
    "an admin shares with their organization": ("acme_admin", "own", "acme", 200),
    "an admin shares into another organization": ("acme_admin", "own", "globex", 400),
    "an admin shares into one they see by id": ("acme_admin", "own", "globex-id", 400),
    "an admin shares with everyone": ("acme_admin", "own", "everyone", 403),
    "an admin moves acme's view to everyone": ("acme_admin", "acme", "everyone", 403),
    "an auditor of acme shares with acme": ("acme_auditor", "own", "acme", 403),
    "a site auditor shares with acme": ("site_auditor", "own", "acme", 403),
    "a site owner shares with globex": ("owner", "own", "globex", 200),
    "a site owner shares with everyone": ("owner", "own", "everyone", 200),
    "an admin unshares acme's view": ("acme_admin", "acme", "personal", 200),
}


def sharing_body(world, change: str) -> dict:
    if change in ("everyone", "personal"):
        return {"sharing": change}
    if change == "globex-id":
        return {"sharing": "organization", "organization": str(world.globex.id)}
    return {"sharing": "organization", "organization": change}


@pytest.mark.parametrize("case", SHARE)
def test_share(world, views, case):
    role, which, change, status = SHARE[case]
    who = world.people[role]
    view = getattr(views, which, None) or SavedView.objects.create(name="own", owner=who)
    response = client(world, role).patch(view_url(view), sharing_body(world, change), format="json")
    assert response.status_code == status, response.content
    view.refresh_from_db()
    if status == 200 and change == "personal":
        assert view.owner == who  # an unshared view becomes its unsharer's own
    if status != 200:
        assert view.sharing == getattr(views, which, view).sharing


def test_sharing_never_widens_what_a_reader_sees(world, views):
    rows = world.rows
    for role, expected in [
        ("acme_auditor", {str(rows["acme"].id)}),
        ("owner", {str(rows["acme"].id), str(rows["globex"].id)}),
        ("member", set()),
    ]:
        answer = client(world, role).get("/api/v2/connectionlog", {"view": str(views.everyone.id)})
        assert {row["id"] for row in answer.json()["connection_logs"]} == expected, role
