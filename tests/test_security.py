"""Abuse and secrets: deployment checks, browser policy, error answers that leak nothing,
database outages, sign-in throttling, tokens and sessions, body limits, hostile input."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from connlogs import roles, tokens
from connlogs.export import slots as export_slots
from connlogs.middleware import DB_UNAVAILABLE
from connlogs.models import ApiToken
from tests.e2e.conftest import browser_type_launch_args  # noqa: F401 - Debian's Chromium
from tests.factories import (
    PASSWORD,
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    auth_header,
    member,
)

ROOT = Path(__file__).resolve().parent.parent
LIST = "/api/v2/connectionlog"
SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."


@pytest.fixture
def auditor(db):
    return UserFactory(username="audrey", email="audrey@example.com", site_roles=[roles.AUDITOR])


def api_login(email="audrey@example.com", password=PASSWORD, **extra):
    return APIClient().post(
        "/api/v2/users/login", {"email": email, "password": password}, format="json", **extra
    )


def page_sign_in(client: Client, username="audrey", password=PASSWORD, **extra):
    return client.post("/login", {"username": username, "password": password}, **extra)


# --- manage.py check --deploy -----------------------------------------------------------


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        and not key.startswith("CONNLOGS_")
    }
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="connlogs.example.com",
        CONNLOGS_HTTPS="true",
        CONNLOGS_TRUST_X_FORWARDED_PROTO="true",
        CONNLOGS_SECRETS_KEY=Fernet.generate_key().decode(),
    )
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_environment():
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


def test_check_deploy_names_what_is_missing_without_https():
    result = check_deploy(production_env(CONNLOGS_HTTPS=""))
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_check_deploy_warns_without_a_secrets_key_and_refuses_a_malformed_one():
    unset = check_deploy(production_env(CONNLOGS_SECRETS_KEY=""))
    malformed = check_deploy(production_env(CONNLOGS_SECRETS_KEY="not-a-key"))

    assert unset.returncode != 0 and "connlogs.W101" in unset.stderr + unset.stdout
    assert malformed.returncode != 0 and "connlogs.E101" in malformed.stderr + malformed.stdout


def test_settings_refuse_to_start_without_a_secret_key_in_production():
    env = production_env(SECRET_KEY="")
    result = check_deploy(env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


# --- headers and the browser policy ------------------------------------------------------


@pytest.fixture
def reader(db):
    acme = OrganizationFactory(name="acme")
    user = member(acme, roles.ORGANIZATION_AUDITOR, username="reader")
    ConnectionLogFactory(workspace=WorkspaceFactory(organization=acme))
    return user


def csp_of(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()
    }


def test_pages_allow_only_our_own_scripts_and_styles(reader):
    client = Client()
    client.force_login(reader)
    for path in ("/connectionlog", "/login", "/no-such-page"):
        response = client.get(path)
        policy = csp_of(response)
        assert policy["script-src"] == "'self'", path
        assert policy["style-src"] == "'self'", path
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"


def test_our_pages_carry_no_inline_script_the_policy_would_block(reader):
    client = Client()
    client.force_login(reader)
    html = client.get("/connectionlog").content.decode()
    assert "<script>" not in html and "<script " in html
    assert "<script src=" in html or "<script defer" in html
    assert ' style="' not in html and " onclick=" not in html


def test_api_docs_run_swagger_from_our_own_files(db):
    """Swagger UI needs inline styles, never inline or third-party scripts."""
    response = Client().get("/api/v2/docs/")
    assert response.status_code == 200
    policy = csp_of(response)
    assert policy["script-src"] == "'self'"
    assert "'unsafe-inline'" in policy["style-src"]
    html = response.content.decode()
    assert "<script>" not in html
    # The start-up script is served from our own address (the split view).
    script = Client().get("/api/v2/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()
    assert "/api/v2/openapi.json" in script.content.decode()


def test_json_answers_forbid_any_rendering(reader):
    response = APIClient(**auth_header(reader)).get(LIST)
    assert csp_of(response)["default-src"] == "'none'"


@pytest.fixture
def https_settings(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    return settings


def test_behind_https_plain_http_is_redirected_except_the_health_check(https_settings, db):
    client = Client()
    response = client.get("/connectionlog")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/connectionlog"
    assert client.get("/healthz").status_code == 200  # load balancers probe over HTTP


def test_behind_https_hsts_and_secure_cookies(https_settings, auditor):
    client = Client()
    page = client.get("/login", HTTP_X_FORWARDED_PROTO="https")
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert page.cookies["csrftoken"]["secure"]
    signed_in = page_sign_in(client, HTTP_X_FORWARDED_PROTO="https")
    assert signed_in.status_code == 302
    assert signed_in.cookies["sessionid"]["secure"] and signed_in.cookies["sessionid"]["httponly"]
    token = api_login(HTTP_X_FORWARDED_PROTO="https")
    cookie = token.cookies["coder_session_token"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


# --- error answers leak nothing ----------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/v2/no-such-thing", "/api/v2/connectionlog/x/y", "/api/v2/"])
def test_unknown_api_path_is_a_json_404_in_the_contract_shape(db, settings, debug, path):
    """Also with ``DEBUG`` on, as the README's first command runs the app."""
    settings.DEBUG = debug
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "message": "Resource not found or you do not have access to this resource"
    }


def test_the_api_docs_without_a_slash_lead_to_them(db):
    response = Client().get("/api/v2/docs")
    assert response.status_code in (301, 302) and response["Location"] == "/api/v2/docs/"


def test_unknown_page_is_a_plain_404_page(db):
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Traceback" not in response.content


SECRET_DETAIL = "SELECT password FROM connlogs_user -- internal detail"


@pytest.mark.parametrize(
    "path,target",
    [
        (LIST, "connlogs.api.views.LogSearch.from_request"),
        ("/connectionlog", "connlogs.web.views.logs.LogSearch.from_request"),
    ],
)
def test_a_crash_answers_500_without_traceback_or_sql(reader, monkeypatch, path, target):
    def crash(*args, **kwargs):
        raise RuntimeError(SECRET_DETAIL)

    monkeypatch.setattr(target, crash)
    client = Client(raise_request_exception=False, **auth_header(reader))
    client.force_login(reader)
    response = client.get(path)
    assert response.status_code == 500
    body = response.content.decode()
    assert "SELECT" not in body and "Traceback" not in body and "RuntimeError" not in body
    if path.startswith("/api/"):
        assert response.json() == {
            "message": "Something went wrong on our side; it has been logged."
        }


# --- the database going away ------------------------------------------------------------


def unreachable(*args, **kwargs):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


@pytest.mark.parametrize(
    "path,target",
    [
        (LIST, "connlogs.api.views.LogSearch.from_request"),
        ("/api/v2/connectionlog/export", "connlogs.api.export_views.LogSearch.from_request"),
        ("/connectionlog", "connlogs.web.views.logs.LogSearch.from_request"),
    ],
)
def test_database_outage_is_a_503_with_retry_after(reader, monkeypatch, path, target):
    monkeypatch.setattr(target, unreachable)
    client = Client(raise_request_exception=False, **auth_header(reader))
    client.force_login(reader)
    response = client.get(path)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "Connection refused" not in response.content.decode()
    if path.startswith("/api/"):
        assert response.json() == {"message": DB_UNAVAILABLE}
    else:
        assert DB_UNAVAILABLE in response.content.decode()


@pytest.mark.parametrize(
    "path,target",
    [
        ("/api/v2/connectionlog/export", "connlogs.api.row_entries.RowReader._read"),
        ("/connectionlog/export?format=ndjson", "connlogs.api.row_entries.RowReader._read"),
        ("/accesslog/export?format=csv", "connlogs.api.access_views._entries_in_batches"),
        ("/api/v2/accesslog/export", "connlogs.api.access_views._entries_in_batches"),
    ],
)
def test_database_outage_at_a_downloads_first_read_is_a_503_not_the_servers_500(
    owner, monkeypatch, path, target
):
    # The rows of a download are read while the server sends the body; the first read
    # happens in the view, so that an outage there is answered as one (seen in the lab's
    # drill: a bare 500 from gunicorn while the primary crashed).
    monkeypatch.setattr(target, unreachable)
    client = Client(raise_request_exception=False, **auth_header(owner))
    client.force_login(owner)
    response = client.get(path)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert not response.streaming
    assert export_slots.streaming() == 0  # the export slot was given back


def test_database_outage_during_sign_in_by_token_is_a_503_not_a_401(reader, monkeypatch):
    monkeypatch.setattr("connlogs.api.auth.tokens.find", unreachable)
    response = Client(raise_request_exception=False, **auth_header(reader)).get(LIST)
    assert response.status_code == 503
    assert response.json() == {"message": DB_UNAVAILABLE}


class OutageInMiddleware:
    """Stands for a middleware that reads the database (as session middleware does)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("server closed the connection unexpectedly")


def test_database_outage_outside_a_view_is_a_503_too(settings, db):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.OutageInMiddleware"]
    response = Client(raise_request_exception=False).get(LIST)
    assert response.status_code == 503
    assert response.json() == {"message": DB_UNAVAILABLE}


def test_health_check_answers_ok_without_credentials(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "no-cache" in response["Cache-Control"]
    assert Client().head("/healthz").status_code == 200
    assert Client().post("/healthz").status_code == 405


def test_health_check_is_503_when_the_database_is_unreachable(db, monkeypatch):
    from connlogs import health

    class Broken:
        def cursor(self):
            raise OperationalError("could not connect to server")

    monkeypatch.setattr(health, "connection", Broken())
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


# --- sign-in throttling (API and page share the counters) --------------------------------


def test_api_lockout_says_when_to_try_again(auditor, settings):
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert api_login(password="wrong").status_code == 401
    locked = api_login()  # even the right password
    assert locked.status_code == 429
    wait = int(locked["Retry-After"])
    assert 0 < wait <= settings.CONNLOGS_LOGIN_LOCKOUT_SECONDS + 1
    assert f"Try again in {wait} seconds" in locked.json()["message"]
    assert "session_token" not in locked.json()


def test_lockout_by_address_covers_every_account(auditor, settings):
    """Guessing across many accounts from one address is stopped too."""
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 3
    for number in range(3):
        response = api_login(email=f"nobody{number}@example.com", REMOTE_ADDR="10.9.9.9")
        assert response.status_code == 401
    assert api_login(REMOTE_ADDR="10.9.9.9").status_code == 429
    assert page_sign_in(Client(), REMOTE_ADDR="10.9.9.9").status_code == 429
    assert api_login(REMOTE_ADDR="10.9.9.10").status_code == 201  # others are not locked out


def test_behind_a_proxy_one_client_cannot_lock_out_the_others(auditor, settings):
    """Every request reaches the app from the proxy's address: count the forwarded one."""
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 3
    settings.CONNLOGS_CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for number in range(3):
        response = api_login(
            email=f"nobody{number}@example.com",
            HTTP_X_FORWARDED_FOR="203.0.113.5",
            **proxy,
        )
        assert response.status_code == 401
    attacker = api_login(HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy)
    assert attacker.status_code == 429
    # Another client behind the same proxy signs in, on either door.
    assert api_login(HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 201
    page = page_sign_in(Client(), HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    assert page.status_code == 302
    # A forged first entry does not help: the proxy appends the address it saw, last.
    forged = api_login(HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5", **proxy)
    assert forged.status_code == 429


def test_without_a_proxy_a_forwarded_header_is_ignored(auditor, settings):
    """Clients reaching the app directly cannot dodge the lockout with a made-up header."""
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 2
    for number in range(2):
        api_login(email=f"nobody{number}@example.com", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    assert api_login(HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_unknown_and_known_accounts_fail_alike(auditor):
    """The answer does not tell whether an account exists."""
    unknown = api_login(email="nobody@example.com", password="wrong")
    known = api_login(password="wrong")
    assert unknown.status_code == known.status_code == 401
    assert unknown.json() == known.json()


def test_lockout_ends_after_the_lockout_time(auditor, settings, monkeypatch):
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 2
    settings.CONNLOGS_LOGIN_LOCKOUT_SECONDS = 300
    for _ in range(2):
        page_sign_in(Client(), password="wrong")
    assert api_login().status_code == 429
    import time

    later = time.time() + 301
    monkeypatch.setattr("connlogs.throttle.time.time", lambda: later)
    assert api_login().status_code == 201


def test_page_sign_in_failures_lock_the_api_too(auditor, settings):
    settings.CONNLOGS_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        assert page_sign_in(Client(), "audrey@example.com", "wrong").status_code == 200
    assert api_login().status_code == 429


# --- tokens and sessions -----------------------------------------------------------------


def test_a_key_is_shown_once_and_never_stored(auditor):
    key = api_login().json()["session_token"]
    stored = ApiToken.objects.get(user=auditor)
    assert key not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert stored.hashed_secret != key.split("-", 1)[1]
    assert stored.expires_at is not None  # a sign-in session is never forever


def test_session_tokens_live_as_long_as_the_setting_says(auditor, settings):
    settings.CONNLOGS_SESSION_TOKEN_LIFETIME = 3600
    before = timezone.now()
    api_login()
    token = ApiToken.objects.get(user=auditor)
    assert token.kind == ApiToken.Kind.SESSION
    lifetime = token.expires_at - before
    assert dt.timedelta(seconds=3599) <= lifetime <= dt.timedelta(seconds=3601)


def test_an_api_token_with_a_lifetime_stops_working_when_it_ends(auditor):
    client = APIClient(**auth_header(auditor))
    key = client.post("/api/v2/users/me/keys/tokens", {"lifetime": 60}, format="json").json()["key"]
    assert APIClient(HTTP_CODER_SESSION_TOKEN=key).get(LIST).status_code == 200
    ApiToken.objects.filter(id=key.split("-")[0]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = APIClient(HTTP_CODER_SESSION_TOKEN=key).get(LIST)
    assert response.status_code == 401 and response.json() == {"message": SIGNED_OUT}


def test_logout_revokes_the_token_for_every_way_of_sending_it(auditor):
    key = api_login().json()["session_token"]
    bearer = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert bearer.post("/api/v2/users/logout").status_code == 200
    assert APIClient(HTTP_CODER_SESSION_TOKEN=key).get(LIST).status_code == 401
    by_cookie = APIClient()
    by_cookie.cookies["coder_session_token"] = key
    assert by_cookie.get(LIST).status_code == 401
    assert not ApiToken.objects.filter(id=key.split("-")[0]).exists()


def test_logout_clears_the_token_cookie(auditor):
    client = APIClient()
    key = client.post(
        "/api/v2/users/login", {"email": "audrey@example.com", "password": PASSWORD}, format="json"
    ).json()["session_token"]
    assert client.cookies["coder_session_token"].value == key
    response = client.post("/api/v2/users/logout")
    assert response.cookies["coder_session_token"].value == ""
    assert client.get(LIST).status_code == 401


def test_a_revoked_token_of_another_user_cannot_be_revived(auditor):
    key = tokens.issue(auditor)
    tokens.revoke(key)
    assert tokens.find(key) is None
    assert APIClient(HTTP_CODER_SESSION_TOKEN=key).get(LIST).status_code == 401


def test_page_sign_out_ends_the_session_for_a_replayed_cookie(auditor):
    client = Client()
    assert page_sign_in(client).status_code == 302
    old_session = client.cookies["sessionid"].value
    assert client.post("/logout").status_code == 302
    replay = Client()
    replay.cookies["sessionid"] = old_session
    response = replay.get("/connectionlog")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_suspending_a_user_ends_their_tokens_at_once(auditor):
    key = api_login().json()["session_token"]
    auditor.status = "suspended"
    auditor.save()
    assert APIClient(HTTP_CODER_SESSION_TOKEN=key).get(LIST).status_code == 401


# --- body limits -------------------------------------------------------------------------


@pytest.fixture
def reporter(db):
    return UserFactory(username="agent", site_roles=[roles.CONNECTION_REPORTER])


def test_an_events_body_over_the_limit_is_a_413_before_it_is_parsed(reporter, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"events": [{"agent_name": "x" * 2000}]})
    response = APIClient(**auth_header(reporter)).post(
        "/api/v2/connectionlog/events", body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["message"] == "Request body too large."


@pytest.mark.parametrize("path", ["/api/v2/users", "/api/v2/organizations", "/api/v2/users/login"])
def test_every_json_door_has_the_body_limit(owner_api, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = owner_api.post(path, body, content_type="application/json")
    assert response.status_code == 413


def test_a_form_body_over_the_limit_is_a_400_page(db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = Client(raise_request_exception=False).post(
        "/login", {"username": "x" * 2000, "password": "y"}
    )
    assert response.status_code == 400
    assert b"Traceback" not in response.content


def test_too_many_query_fields_is_a_400_not_a_500(reader):
    query = "&".join(f"f{number}=1" for number in range(1200))
    client = Client(raise_request_exception=False, **auth_header(reader))
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert response.json() == {"message": "Bad request."}


def test_deeply_nested_json_is_a_400(reporter):
    body = "[" * 100_000 + "]" * 100_000
    response = APIClient(**auth_header(reporter)).post(
        "/api/v2/connectionlog/events", body, content_type="application/json"
    )
    assert response.status_code == 400


# --- hostile input found by the fuzzers (500s on PostgreSQL before the fixes) --------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/users/a%00b",
        "/api/v2/organizations/a%00b",
        "/api/v2/workspaces/a%00b",
        "/api/v2/organizations/a%00b/members/a%00b",
    ],
)
def test_nul_in_a_path_reference_is_a_404(owner_api, path):
    method = owner_api.get if path.count("/") < 6 else owner_api.post
    assert method(path).status_code == 404


@pytest.mark.parametrize("key", ["organization", "workspace_owner", "user_email", "type"])
def test_nul_in_a_search_value_is_a_400_naming_the_key(owner_api, key):
    response = owner_api.get(LIST, {"q": f"{key}:a\x00b"})
    assert response.status_code == 400
    assert response.json()["validations"] == [
        {"field": key, "detail": "Null characters are not allowed."}
    ]


def test_nul_in_a_token_is_a_401(db):
    response = APIClient(HTTP_CODER_SESSION_TOKEN="abcdefghi\x00-secret").get(LIST)
    assert response.status_code == 401
    cookie = APIClient()
    cookie.cookies["coder_session_token"] = '"abcdefghi\\000-secret"'  # an octal escape
    assert cookie.get(LIST).status_code == 401


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/api/v2/organizations", {"name": "acme", "description": 123}, "description"),
        ("/api/v2/users", {"username": 12345, "email": "a@example.com"}, "username"),
        ("/api/v2/users/me/keys/tokens", {"lifetime": "60"}, "lifetime"),
        ("/api/v2/users/me/roles", {"roles": [1]}, "roles"),
    ],
)
def test_json_types_are_checked_not_coerced(owner_api, path, body, field):
    method = owner_api.put if path.endswith("/roles") else owner_api.post
    response = method(path, body, format="json")
    assert response.status_code == 400
    assert [v["field"] for v in response.json()["validations"]] == [field]


# --- the policy in a real browser -----------------------------------------------------------


def test_no_page_breaks_the_content_security_policy_in_chromium(
    page, live_server, transactional_db
):
    """The pages, the admin and Swagger UI run under their policies without a violation."""
    acme = OrganizationFactory(name="acme")
    row = ConnectionLogFactory(workspace=WorkspaceFactory(organization=acme), type="ssh")
    UserFactory(username="root", site_roles=[roles.OWNER])
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append((page.url, message.text))
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/connectionlog")
    for path in (
        "/connectionlog?q=type:ssh",
        f"/connectionlog/{row.id}",
        "/admin/",
        "/admin/connlogs/connectionlog/",
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/api/v2/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 17  # every operation is listed
    assert violations == []
