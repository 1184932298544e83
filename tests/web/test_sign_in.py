"""Sign-in and sign-out pages, the lockout they share with the API, and the header."""

from __future__ import annotations

import pytest
from django.test import Client

from connlogs import roles
from connlogs.models import User
from tests.factories import PASSWORD, OrganizationFactory, UserFactory, member
from tests.web.conftest import signed_in


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", site_roles=[roles.AUDITOR])


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post("/login", {"username": username, "password": password}, **extra)


def test_sign_in_page_renders_with_a_csrf_token(db):
    response = Client(enforce_csrf_checks=True).get("/login")
    assert response.status_code == 200
    html = response.content.decode()
    assert "csrfmiddlewaretoken" in html
    assert "Username or email" in html
    assert "/static/connlogs/app.css" in html


@pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.com", "Alice@Example.com"])
def test_sign_in_by_username_or_email(alice, identifier):
    client = Client()
    response = sign_in(client, identifier)
    assert response.status_code == 302
    assert response["Location"] == "/connectionlog"
    assert client.get("/connectionlog").status_code == 200


def test_sign_in_follows_next_but_not_off_site(alice):
    client = Client()
    response = client.post(
        "/login", {"username": "alice", "password": PASSWORD, "next": "/connectionlog?q=type%3Assh"}
    )
    assert response["Location"] == "/connectionlog?q=type%3Assh"
    client = Client()
    response = client.post(
        "/login", {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/connectionlog"


def test_wrong_password_says_so(alice):
    response = sign_in(Client(), "alice", "wrong")
    assert response.status_code == 200
    assert "Incorrect username, email or password." in response.content.decode()


def test_lockout_after_repeated_wrong_passwords(alice, settings):
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert sign_in(client, "alice", "wrong").status_code == 200
    locked = sign_in(client, "alice")  # even the right password, for now
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert "Too many failed sign-in attempts. Try again in" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_shared_with_the_api_login(alice, settings, api):
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        response = api.post(
            "/api/v2/users/login",
            {"email": "alice@example.com", "password": "wrong"},
            format="json",
            REMOTE_ADDR="10.0.0.9",
        )
        assert response.status_code == 401
    # From another address, by username: the account is locked all the same.
    response = sign_in(Client(), "alice", REMOTE_ADDR="10.0.0.10")
    assert response.status_code == 429


def test_suspended_users_cannot_sign_in(db):
    UserFactory(username="sus", status=User.Status.SUSPENDED)
    client = Client()
    response = sign_in(client, "sus")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_sign_out_is_a_post_with_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 403  # no CSRF token
    client.get("/connectionlog")  # the page's sign-out form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/logout", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == "/login"
    assert client.get("/connectionlog").status_code == 302


def test_header_names_the_user_and_roles_and_links_the_log_for_readers(db):
    acme = OrganizationFactory(name="acme", display_name="Acme")
    admin = member(acme, roles.ORGANIZATION_ADMIN, username="ada")
    html = signed_in(admin).get("/connectionlog").content.decode()
    assert ">ada<" in html.replace("</svg>", ">")
    assert "Organization Admin · Acme" in html
    assert 'href="/connectionlog" aria-current="page">Connection log</a>' in html


def test_header_has_no_log_link_for_a_plain_member(db):
    acme = OrganizationFactory(name="acme", display_name="Acme")
    plain = member(acme, username="pat")
    html = signed_in(plain).get("/connectionlog").content.decode()
    assert "Member · Acme" in html
    assert ">Connection log</a>" not in html


def test_home_goes_to_the_list(db):
    assert Client().get("/")["Location"] == "/connectionlog"


def test_a_signed_in_user_opening_sign_in_goes_to_the_list(alice):
    assert signed_in(alice).get("/login")["Location"] == "/connectionlog"
