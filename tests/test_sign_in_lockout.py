"""One sign-in lockout for every door, kept in the database, and one cost per try.

The doors: the API (``POST /api/v2/users/login``), the ``/login`` page and ``/admin/login/``.
Password checks are counted with a hasher that counts its runs (tests/counting_hasher.py).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from connlogs import throttle
from connlogs.models import SignInThrottle
from tests import counting_hasher
from tests.conftest import requires_postgres
from tests.counting_hasher import CountingHasher
from tests.factories import PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def counted_hashing(settings):
    settings.PASSWORD_HASHERS = [counting_hasher.PATH]
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 3
    CountingHasher.reset()


@pytest.fixture
def boss(db):
    return UserFactory(username="boss", email="boss@example.com", site_roles=["owner"])


def api_door(identifier: str, password: str, address: str = "10.0.0.1"):
    """(status, signed in?) of the API's sign-in; the API takes an email."""
    email = identifier if "@" in identifier else f"{identifier}@example.com"
    response = APIClient().post(
        "/api/v2/users/login",
        {"email": email, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )
    return response.status_code, response.status_code == 201


def page_door(identifier: str, password: str, address: str = "10.0.0.1"):
    client = Client()
    response = client.post(
        "/login", {"username": identifier, "password": password}, REMOTE_ADDR=address
    )
    return response.status_code, "_auth_user_id" in client.session


def admin_door(identifier: str, password: str, address: str = "10.0.0.1"):
    client = Client()
    response = client.post(
        "/admin/login/",
        {"username": identifier, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )
    return response.status_code, "_auth_user_id" in client.session


DOORS = {"api": api_door, "page": page_door, "admin": admin_door}


@pytest.mark.parametrize("locked_by", DOORS)
@pytest.mark.parametrize("tried_at", DOORS)
def test_wrong_passwords_at_any_door_lock_every_door(boss, locked_by, tried_at):
    for _ in range(3):
        status, signed_in = DOORS[locked_by]("boss", "wrong")
        assert not signed_in and status in (200, 401)
    # The right password, from another address: the account is locked at every door.
    status, signed_in = DOORS[tried_at]("boss", PASSWORD, address="10.0.0.2")
    assert not signed_in
    assert status in (200, 429)


def test_admin_login_says_locked_out_and_checks_no_password(boss, client):
    for _ in range(3):
        client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    CountingHasher.reset()
    for _ in range(40):
        response = client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "boss", "password": PASSWORD})
    assert "Too many failed sign-in attempts. Try again in" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert CountingHasher.total() == 0


def test_a_right_password_clears_the_account_and_gives_the_address_its_try_back(boss):
    for _ in range(2):
        api_door("boss", "wrong")
    assert api_door("boss", PASSWORD)[1]
    # The address counts its 2 failures, not the success: one more wrong try is checked.
    assert api_door("boss", "wrong") == (401, False)
    assert api_door("boss", PASSWORD)[0] == 429
    # The account's count started again at the success (the refused try was given back).
    for _ in range(2):
        assert api_door("boss", "wrong", address="10.0.0.3") == (401, False)
    assert api_door("boss", PASSWORD, address="10.0.0.4")[0] == 429


def test_closed_windows_are_forgotten(boss, settings, monkeypatch):
    settings.CONNLOGS_LOGIN_LOCKOUT_SECONDS = 60
    now = 1_900_000_000.0
    monkeypatch.setattr(throttle.time, "time", lambda: now)
    for _ in range(3):
        api_door("boss", "wrong")
    status, _ = api_door("boss", PASSWORD)
    assert status == 429
    now += 61
    assert api_door("boss", PASSWORD) == (201, True)
    # Windows long closed are forgotten: only the address's counter is left.
    assert SignInThrottle.objects.count() == 1


def test_the_lockout_does_not_live_in_the_cache(boss, settings):
    # A cache that keeps nothing, as each worker's memory is for the others.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    for _ in range(3):
        api_door("boss", "wrong")
    assert api_door("boss", PASSWORD) == (429, False)


def test_the_counter_holds_no_email_or_address_in_clear(boss):
    api_door("boss", "wrong", address="10.7.7.7")
    stored = " ".join(SignInThrottle.objects.values_list("bucket", flat=True))
    assert "boss" not in stored and "10.7.7.7" not in stored


def change_password(user, old_password: str, address: str = "10.0.0.1"):
    """The admin's password change (a signed-in owner): (status, changed?)."""
    client = Client()
    client.force_login(user)
    before = user.password
    response = client.post(
        "/admin/password_change/",
        {
            "old_password": old_password,
            "new_password1": "n3w-pass-word!",
            "new_password2": "n3w-pass-word!",
        },
        REMOTE_ADDR=address,
    )
    user.refresh_from_db()
    return response, user.password != before


def test_the_admin_password_change_checks_the_old_password_behind_the_lockout(boss):
    for _ in range(3):
        response, changed = change_password(boss, "wrong")
        assert response.status_code == 200 and not changed
    # Its failures lock the other doors ...
    assert api_door("boss", PASSWORD, address="10.0.0.2") == (429, False)
    # ... and the lockout stops it, even with the right old password, checking nothing.
    CountingHasher.reset()
    response, changed = change_password(boss, PASSWORD, address="10.0.0.3")
    assert not changed
    assert "Too many failed sign-in attempts. Try again in" in response.content.decode()
    assert CountingHasher.runs["verify"] == 0


def test_the_admin_password_change_still_changes_a_password(boss):
    response, changed = change_password(boss, PASSWORD)
    assert response.status_code == 302 and changed


# --- one cost for an account that exists and one that does not --------------------------


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(
    "identifier",
    ["boss@example.com", "nobody@example.com", "boss", "nobody", "BOSS", "Nobody@Example.com"],
)
def test_every_try_runs_the_password_hasher_once(boss, door, identifier):
    CountingHasher.reset()
    status, signed_in = DOORS[door](identifier, "wrong")
    assert not signed_in and status in (200, 401)
    assert CountingHasher.total() == 1, CountingHasher.runs


@pytest.mark.parametrize("door", DOORS)
def test_a_nul_in_the_name_is_refused_without_an_error(boss, door):
    status, signed_in = DOORS[door]("bo\x00ss@example.com", "wrong")
    assert not signed_in and status in (200, 400)


def test_a_suspended_account_costs_one_run_too(db):
    UserFactory(username="gone", email="gone@example.com", status="suspended")
    CountingHasher.reset()
    assert api_door("gone", PASSWORD) == (401, False)
    assert CountingHasher.total() == 1


# --- under concurrency: at most N checks, whatever the number of parallel tries ----------


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("known", [True, False], ids=["known-account", "unknown-account"])
def test_parallel_wrong_passwords_get_at_most_n_password_checks(known):
    UserFactory(username="target", email="target@example.com", site_roles=["owner"])
    email = "target@example.com" if known else "ghost@example.com"
    tries, ready = 48, threading.Barrier(48)
    CountingHasher.reset()

    def attempt(number: int) -> int:
        try:
            ready.wait()
            # A different address for each try: only the account's counter can stop them.
            return api_door(email, f"wrong-{number}", address=f"10.1.0.{number}")[0]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=tries) as pool:
        statuses = list(pool.map(attempt, range(tries)))

    assert statuses.count(401) == 3 and statuses.count(429) == tries - 3
    assert CountingHasher.total() == 3, CountingHasher.runs
