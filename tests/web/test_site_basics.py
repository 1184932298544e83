"""What a newcomer trips over first: the favicon, the docs link, the docs' auth and summaries."""

from __future__ import annotations

import pytest

from tests.web.conftest import signed_in


@pytest.fixture
def schema(api, db):
    return api.get("/api/v2/openapi.json").json()


def test_favicon_ico_is_an_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # the ICO header: reserved 0, type 1
    assert "max-age" in response["Cache-Control"]


def test_pages_link_the_api_docs(world):
    client = signed_in(world.people["owner"])
    for path in ("/connectionlog", f"/connectionlog/{world.acme_rows[0].id}"):
        html = client.get(path).content.decode()
        assert 'href="/api/v2/docs/"' in html, path
    assert 'href="/api/v2/docs/"' in signed_in(None).get("/login").content.decode()


def test_docs_page_is_served(client, db):
    assert client.get("/api/v2/docs/").status_code == 200


def test_each_auth_scheme_alone_authenticates_in_the_schema(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["CoderSessionToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Coder-Session-Token",
    }
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer"}
    assert schemes["CoderSessionCookie"]["in"] == "cookie"
    security = schema["paths"]["/api/v2/connectionlog"]["get"]["security"]
    # Alternatives (OR), one scheme each: Swagger UI sends the one that was authorized.
    assert {"CoderSessionToken": []} in security
    assert {"BearerToken": []} in security
    assert {"CoderSessionCookie": []} in security
    assert all(len(requirement) == 1 for requirement in security)


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/v2/users/login"),
        ("post", "/api/v2/users/logout"),
        ("post", "/api/v2/users/{user}/keys/tokens"),
    ],
)
def test_auth_operations_have_a_summary(schema, method, path):
    assert schema["paths"][path][method].get("summary")


def test_every_operation_has_a_summary(schema):
    missing = [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if not operation.get("summary")
    ]
    assert missing == []
