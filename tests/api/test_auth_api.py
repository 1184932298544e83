"""Sign-in, sign-out, tokens from header, cookie and bearer, throttling, last-seen."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from connlogs.models import ApiToken, User
from tests.factories import PASSWORD, UserFactory

LIST = "/api/v2/connectionlog"
SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", email="alice@example.com", site_roles=["auditor"])


def login(email="alice@example.com", password=PASSWORD, **extra):
    return APIClient().post(
        "/api/v2/users/login", {"email": email, "password": password}, format="json", **extra
    )


def test_login_returns_a_session_token_usable_three_ways(alice):
    response = login()
    assert response.status_code == 201
    key = response.json()["session_token"]
    assert response.cookies["coder_session_token"].value == key
    assert APIClient().get(LIST, HTTP_CODER_SESSION_TOKEN=key).status_code == 200
    assert APIClient().get(LIST, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    cookie_client = APIClient()
    cookie_client.cookies["coder_session_token"] = key
    assert cookie_client.get(LIST).status_code == 200


def test_login_email_is_case_insensitive(alice):
    assert login(email="ALICE@example.com").status_code == 201


def test_wrong_password_is_401(alice):
    response = login(password="nope")
    assert response.status_code == 401
    assert response.json() == {"message": "Incorrect email or password."}


def test_login_with_a_missing_field_is_a_validation_error(alice):
    response = APIClient().post(
        "/api/v2/users/login", {"email": "alice@example.com"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "password"


def test_repeated_wrong_passwords_are_refused_for_a_while(alice, settings):
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert login(password="nope").status_code == 401
    locked = login()
    assert locked.status_code == 429
    assert "Try again in" in locked.json()["message"]


def test_logout_ends_the_session(alice):
    key = login().json()["session_token"]
    client = APIClient()
    client.credentials(HTTP_CODER_SESSION_TOKEN=key)
    assert client.post("/api/v2/users/logout").status_code == 200
    response = client.get(LIST)
    assert response.status_code == 401 and response.json() == {"message": SIGNED_OUT}


def test_suspended_user_cannot_sign_in(alice):
    alice.status = "suspended"
    alice.save()
    assert login().status_code == 401


def test_create_own_token_with_lifetime(alice, client_for):
    response = client_for(alice).post(
        "/api/v2/users/me/keys/tokens", {"token_name": "ci", "lifetime": 3600}, format="json"
    )
    assert response.status_code == 201
    key = response.json()["key"]
    token = ApiToken.objects.get(id=key.split("-")[0], name="ci")
    assert dt.timedelta(minutes=59) < token.expires_at - timezone.now() <= dt.timedelta(hours=1)
    assert APIClient().get(LIST, HTTP_CODER_SESSION_TOKEN=key).status_code == 200


def test_only_owners_create_tokens_for_others(alice, owner, client_for):
    bob = UserFactory(username="bob")
    assert client_for(alice).post(f"/api/v2/users/{bob.id}/keys/tokens").status_code == 403
    assert client_for(owner).post("/api/v2/users/bob/keys/tokens").status_code == 201
    assert client_for(owner).post("/api/v2/users/nobody/keys/tokens").status_code == 404


def test_expired_token_is_401(alice):
    key = login().json()["session_token"]
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = APIClient().get(LIST, HTTP_CODER_SESSION_TOKEN=key)
    assert response.status_code == 401 and response.json() == {"message": SIGNED_OUT}


def test_last_seen_is_written_at_most_once_a_minute(alice, client_for):
    client = client_for(alice)
    stale = timezone.now() - dt.timedelta(hours=1)
    User.objects.filter(pk=alice.pk).update(last_seen_at=stale)
    client.get(LIST)
    first = User.objects.get(pk=alice.pk).last_seen_at
    assert first > stale
    client.get(LIST)
    assert User.objects.get(pk=alice.pk).last_seen_at == first
