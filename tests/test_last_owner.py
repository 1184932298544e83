"""The site keeps at least one active owner, by every path that can remove one, also when
two owners remove each other at the same moment (connlogs/owners.py).

The paths: the API's role change, the admin's user form (roles or suspension), the admin's
delete (one user, or the bulk action) and ``manage.py set_roles``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from connlogs import roles
from connlogs.models import User
from tests.conftest import as_user, requires_postgres
from tests.factories import UserFactory
from tests.test_admin import _change_data

LAST_OWNER = "The site must keep at least one owner."


def active_owners() -> list[str]:
    return sorted(
        user.username
        for user in User.objects.exclude(status=User.Status.SUSPENDED)
        if roles.OWNER in (user.site_roles or [])
    )


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Each path: (actor, target) -> whether the target lost ownership (read back from the
# database: only this path changes its target, even in a race).


def lost_ownership(target: User) -> bool:
    found = User.objects.filter(pk=target.pk).first()
    return found is None or found.username not in active_owners()


def by_api(actor: User, target: User) -> bool:
    response = as_user(actor).put(f"/api/v2/users/{target.pk}/roles", {"roles": []}, format="json")
    # 403: in a race, the actor may have lost ownership before their request began.
    assert response.status_code in (200, 400, 403), response.content
    if response.status_code == 400:
        assert response.json()["validations"] == [{"field": "roles", "detail": LAST_OWNER}]
    return lost_ownership(target)


def by_admin_roles(actor: User, target: User) -> bool:
    return _admin_change(actor, target, site_roles=[roles.AUDITOR])


def by_admin_suspension(actor: User, target: User) -> bool:
    return _admin_change(actor, target, status=User.Status.SUSPENDED)


def _admin_change(actor: User, target: User, **changes) -> bool:
    response = admin_client(actor).post(
        reverse("admin:connlogs_user_change", args=[target.pk]), _change_data(target, **changes)
    )
    if response.status_code == 200:
        # Refused: the last owner, or (acting on oneself) the form's own rule.
        assert response.context["adminform"].form.errors
    return lost_ownership(target)


def by_admin_delete(actor: User, target: User) -> bool:
    response = admin_client(actor).post(
        reverse("admin:connlogs_user_delete", args=[target.pk]), {"post": "yes"}
    )
    if response.status_code == 200:
        assert LAST_OWNER in response.content.decode()
    return lost_ownership(target)


def by_admin_bulk_delete(actor: User, target: User) -> bool:
    response = admin_client(actor).post(
        reverse("admin:connlogs_user_changelist"),
        {"action": "delete_selected", "_selected_action": [str(target.pk)], "post": "yes"},
    )
    assert response.status_code in (200, 302, 403)
    return lost_ownership(target)


def by_command(actor: User, target: User) -> bool:
    try:
        call_command("set_roles", target.username, "--site", stdout=io.StringIO())
    except CommandError as error:
        assert str(error) == LAST_OWNER
    return lost_ownership(target)


PATHS: dict[str, Callable[[User, User], bool]] = {
    "api-roles": by_api,
    "admin-roles": by_admin_roles,
    "admin-suspend": by_admin_suspension,
    "admin-delete": by_admin_delete,
    "admin-bulk-delete": by_admin_bulk_delete,
    "set_roles": by_command,
}


@pytest.fixture
def two_owners(db):
    return (
        UserFactory(username="ann", site_roles=[roles.OWNER]),
        UserFactory(username="ben", site_roles=[roles.OWNER]),
    )


@pytest.mark.parametrize("path", PATHS)
def test_the_last_owner_cannot_be_removed(two_owners, path):
    ann, ben = two_owners
    assert PATHS[path](ann, ben) is True
    # ben is gone or no longer an owner: ann is the last one, and another owner-to-be
    # cannot remove her either (set_roles needs no actor; the others act as ann).
    assert active_owners() == ["ann"]
    assert PATHS[path](ann, ann) is False
    assert active_owners() == ["ann"]


@pytest.mark.parametrize("path", PATHS)
def test_a_suspended_owner_does_not_count(two_owners, path):
    ann, ben = two_owners
    User.objects.filter(pk=ben.pk).update(status=User.Status.SUSPENDED)
    assert PATHS[path](ann, ann) is False
    assert active_owners() == ["ann"]


# --- concurrency: two owners removing each other at the same moment ----------------------


def race(first: Callable[[], bool], second: Callable[[], bool]) -> list[bool]:
    """Run both at the same moment (a barrier), each on its own database connection."""
    start, results, errors = threading.Barrier(2), [None, None], []

    def run(index: int, action: Callable[[], bool]) -> None:
        try:
            start.wait()
            results[index] = action()
        except Exception as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


PAIRS = [
    ("api-roles", "api-roles"),
    ("api-roles", "admin-suspend"),
    ("admin-roles", "admin-delete"),
    ("admin-bulk-delete", "set_roles"),
    ("set_roles", "api-roles"),
]


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("one, other", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_two_owners_removing_each_other_at_once_leave_one(one, other):
    for round_number in range(12):
        User.objects.all().delete()
        ann = UserFactory(username="ann", site_roles=[roles.OWNER])
        ben = UserFactory(username="ben", site_roles=[roles.OWNER])
        removed = race(
            lambda a=ann, b=ben: PATHS[one](a, b), lambda a=ann, b=ben: PATHS[other](b, a)
        )
        survivors = active_owners()
        assert len(survivors) == 1, (round_number, removed, survivors)
        assert removed.count(True) == 1, (round_number, removed, survivors)
