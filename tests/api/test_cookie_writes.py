"""Writes authenticated by the session cookie must come from this site; every API answer
is ``Cache-Control: no-store``.

The unsafe endpoints are read from the URL conf, so a new one is covered without a line
here. Each is called as a site owner (who may do everything, so the answer is not a 403 of
roles) whose session token rides in the ``coder_session_token`` cookie.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from connlogs import tokens
from connlogs.alerts.models import AlertRule
from connlogs.api import urls as api_urls
from connlogs.api.origin import CROSS_SITE
from connlogs.models import Membership, User
from connlogs.streams.models import Stream
from tests.factories import OrganizationFactory, UserFactory, WorkspaceFactory, member

UNSAFE = ("post", "put", "patch", "delete")
OURS = "http://testserver"


def unsafe_endpoints() -> list[tuple[str, str, bool]]:
    """(route name, method, authenticates anyone?) for every unsafe method of the API."""
    found = []
    for pattern in api_urls.urlpatterns:
        view = getattr(pattern.callback, "view_class", None)
        for method in UNSAFE:
            if view is not None and hasattr(view, method):
                authenticates = getattr(view, "authentication_classes", None) != []
                found.append((pattern.name, method.upper(), authenticates))
    return found


ENDPOINTS = unsafe_endpoints()
IDS = [f"{method} {name}" for name, method, _ in ENDPOINTS]
BODIES = {
    "api-login": {"email": "root@example.com", "password": "wrong"},
    "api-users": {"username": "newbie", "email": "newbie@example.com"},
    "api-user-roles": {"roles": ["auditor"]},
    "api-organizations": {"name": "initech"},
    "api-organization-member-roles": {"roles": []},
    "api-organization-member-workspaces": {"name": "new-ws"},
    "api-connectionlog-events": {"events": []},
    "api-saved-views": {"name": "mine", "q": "type:ssh"},
    "api-start-view": {"view": "stale-sessions"},
    "api-streams": {"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/"},
}


@pytest.fixture
def world(db):
    acme = OrganizationFactory(name="acme")
    target = member(acme, username="target")
    UserFactory(username="outsider")
    workspace = WorkspaceFactory(organization=acme, owner=target, name="dev")
    owner = UserFactory(username="root", email="root@example.com", site_roles=["owner"])
    stream = Stream.objects.create(
        name="siem", kind="http", url="http://127.0.0.1:9/", created_by=owner
    )
    rule = AlertRule.objects.create(
        name="watch", kind="each_match", channel="webhook", url="http://127.0.0.1:9/",
        created_by=owner,
    )  # fmt: skip
    return {"owner": owner, "workspace": workspace, "stream": stream, "rule": rule}


def url_for(name: str, world) -> str:
    kwargs = {
        "user": "outsider" if name == "api-organization-member" else "target",
        "org": "acme",
        "workspace": str(world["workspace"].id),
        "name": "connection-log-20250710T101438Z-0a1b2c3d.csv",
        "view": "stale-sessions",  # a built-in view: changing it is a 403 of its own
        "stream": str(world["stream"].id),
        "rule": str(world["rule"].id),
    }
    pattern = next(p for p in api_urls.urlpatterns if p.name == name)
    wanted = {key: value for key, value in kwargs.items() if key in pattern.pattern.converters}
    return reverse(name, kwargs=wanted)


def send(world, name: str, method: str, *, cookie=True, header=False, **extra):
    # As a browser is: the test client skips Django's CSRF check unless told not to.
    client = APIClient(enforce_csrf_checks=True)
    key = tokens.issue(world["owner"], name="browser")
    if cookie:
        client.cookies["coder_session_token"] = key
    if header:
        extra["HTTP_CODER_SESSION_TOKEN"] = key
    return client.generic(
        method,
        url_for(name, world),
        json.dumps(BODIES.get(name, {})),
        content_type="application/json",
        **extra,
    )


def refused(response) -> bool:
    return response.status_code == 403 and response.json() == {"message": CROSS_SITE}


def test_the_url_conf_has_unsafe_endpoints():
    assert len(ENDPOINTS) >= 12


@pytest.mark.parametrize("name, method, authenticates", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "http://sub.testserver"},  # a sibling on the same site
        {"HTTP_ORIGIN": "https://testserver"},  # another scheme is another origin
        {"HTTP_ORIGIN": "null"},
        {"HTTP_REFERER": "https://evil.example/page"},
        {"HTTP_ORIGIN": "https://evil.example", "HTTP_REFERER": f"{OURS}/connectionlog"},
    ],
    ids=["other-site", "sibling", "other-scheme", "null", "referer", "origin-wins"],
)
def test_a_cross_site_write_by_cookie_is_refused(world, name, method, authenticates, headers):
    users, memberships = User.objects.count(), Membership.objects.count()
    response = send(world, name, method, **headers)
    assert refused(response), (response.status_code, response.content)
    assert (User.objects.count(), Membership.objects.count()) == (users, memberships)


@pytest.mark.parametrize("name, method, authenticates", ENDPOINTS, ids=IDS)
def test_a_cookie_write_without_origin_or_token_is_refused(world, name, method, authenticates):
    response = send(world, name, method)
    if authenticates:
        assert refused(response), (response.status_code, response.content)
    else:
        # Signing in authenticates nobody: a script posting a password needs no proof.
        assert not refused(response)


@pytest.mark.parametrize("name, method, authenticates", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "headers",
    [{"HTTP_ORIGIN": OURS}, {"HTTP_REFERER": f"{OURS}/connectionlog?q=type%3Assh"}],
    ids=["origin", "referer"],
)
def test_a_same_origin_write_by_cookie_is_accepted(world, name, method, authenticates, headers):
    response = send(world, name, method, **headers)
    assert not refused(response)
    assert response.status_code < 500


@pytest.mark.parametrize("name, method, authenticates", ENDPOINTS, ids=IDS)
def test_a_cookie_write_with_a_csrf_token_is_accepted(world, name, method, authenticates):
    client = Client(enforce_csrf_checks=True)
    client.get("/login")  # the sign-in page sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    client.cookies["coder_session_token"] = tokens.issue(world["owner"], name="browser")
    response = client.generic(
        method,
        url_for(name, world),
        json.dumps(BODIES.get(name, {})),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert not refused(response)


@pytest.mark.parametrize(
    "name, method, authenticates",
    [e for e in ENDPOINTS if e[2]],
    ids=[i for i, e in zip(IDS, ENDPOINTS, strict=True) if e[2]],
)
@pytest.mark.parametrize("how", ["header", "bearer"])
def test_header_and_bearer_tokens_are_unaffected(world, name, method, authenticates, how):
    foreign = {"HTTP_ORIGIN": "https://evil.example"}
    if how == "header":
        response = send(world, name, method, cookie=False, header=True, **foreign)
    else:
        key = tokens.issue(world["owner"], name="cli")
        response = send(world, name, method, cookie=False, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert not refused(response)
    assert response.status_code < 500


def test_trusted_origins_may_write_by_cookie(world, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://connlogs.example.com", "https://*.example.org"]
    for origin, ok in [
        ("https://connlogs.example.com", True),
        ("https://app.example.org", True),
        ("http://app.example.org", False),
        ("https://example.org.evil.example", False),
    ]:
        response = send(world, "api-organizations", "POST", HTTP_ORIGIN=origin)
        assert refused(response) != ok, origin


def test_the_example_of_the_issue_a_form_adding_a_member_is_refused(world):
    client = Client()
    client.cookies["coder_session_token"] = tokens.issue(world["owner"], name="browser")
    response = client.post(
        "/api/v2/organizations/acme/members/outsider",
        HTTP_ORIGIN="https://intranet.example",
        content_type="application/x-www-form-urlencoded",
    )
    assert refused(response)
    assert not Membership.objects.filter(user__username="outsider").exists()


# --- Cache-Control: no-store on every API answer -----------------------------------------


def api_routes() -> list[str]:
    return [pattern.name for pattern in api_urls.urlpatterns]


@pytest.mark.parametrize("name", api_routes())
def test_every_api_route_answers_no_store(world, name):
    client = APIClient()
    client.credentials(HTTP_CODER_SESSION_TOKEN=tokens.issue(world["owner"]))
    response = client.get(url_for(name, world))
    assert "no-store" in response["Cache-Control"], (name, response.status_code)


@pytest.mark.parametrize(
    "request_args",
    [
        ("get", "/api/v2/connectionlog", {}),  # 401
        ("get", "/api/v2/no-such-endpoint", {}),  # 404
        ("get", "/api/v2/connectionlog?q=bogus:1", {"auth": True}),  # 400
        ("put", "/api/v2/connectionlog", {"auth": True}),  # 405
        ("get", "/api/v2/users/nobody", {"auth": True}),  # 404 of the API
        ("post", "/api/v2/users/login", {}),  # 400
        ("get", "/api/v2/docs", {}),  # a redirect to the slash
    ],
    ids=["401", "404-route", "400", "405", "404-object", "400-login", "redirect"],
)
def test_api_errors_and_redirects_answer_no_store(world, request_args):
    method, url, options = request_args
    client = APIClient()
    if options.get("auth"):
        client.credentials(HTTP_CODER_SESSION_TOKEN=tokens.issue(world["owner"]))
    response = getattr(client, method)(url)
    assert response.status_code >= 300
    assert "no-store" in response["Cache-Control"]
