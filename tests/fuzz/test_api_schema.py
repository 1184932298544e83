"""Schema-driven fuzzing of every API operation with schemathesis, in-process over WSGI.

The OpenAPI document is read from the app itself (``/api/v2/openapi.json``) and every
operation in it is called with generated requests, valid ones and invalid ones, as a site
owner (who reaches the most code). Each answer must:

* never be a server error (5xx);
* have a documented status code, content type, headers and a body that matches the schema;
* reject what the schema calls invalid, and be a 401 when the credentials are taken away.

Not checked: ``positive_data_acceptance`` (schemathesis expects 2xx for every request the
schema admits). The schema cannot say what the contract answers with 400, 404 or 409 on
purpose: a ``q`` that does not parse, a reference to a user or organization that does not
exist, a name that is taken, a password that is too short.

The budget is ``tests/fuzz/conftest.py``'s: small and derandomized in CI.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from connlogs import roles
from connlogs.alerts.models import AlertRule
from connlogs.models import AccessLogEntry
from connlogs.savedviews.models import SavedView
from connlogs.streams.models import Stream
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
    token_for,
)
from tests.fuzz.conftest import fuzz_settings

APP = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_wsgi("/api/v2/openapi.json", APP)
# Credentials are ours (a real token, below); generated security headers would only add
# noise such as a malformed ``Authorization`` next to a valid ``Coder-Session-Token``.
SCHEMA.config.generation.update(with_security_parameters=False)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Routes that serve the API's description, not the API.
# Not operations of the API: its description, its docs (and their address without the
# slash), and the JSON 404 every other address answers.
NOT_OPERATIONS = {"api-schema", "api-docs", "api-docs-without-slash", "api-not-found"}


@pytest.fixture
def wsgi_in_test_transaction(db):
    """Let requests through the real WSGI handler share the test's transaction.

    The handler closes "old" database connections when a request starts and ends; inside a
    test transaction that would close the test's own connection (PostgreSQL). Django's test
    client disconnects the same handler for the same reason.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def known(db):
    """Objects that path parameters may name, so requests also get past the lookups."""
    owner = UserFactory(username="root", site_roles=[roles.OWNER])
    acme = OrganizationFactory(name="acme")
    alice = member(acme, roles.ORGANIZATION_AUDITOR, username="alice")
    workspace = WorkspaceFactory(organization=acme, owner=alice, name="dev")
    ConnectionLogFactory(workspace=workspace, type="ssh")
    ConnectionLogFactory(workspace=workspace, type="workspace_app", user=alice, code=200)
    export = AccessLogEntry.objects.create(
        user_id=owner.pk,
        username=owner.username,
        door=AccessLogEntry.Door.API_EXPORT,
        export_name="connection-log-20250710T101438Z-0a1b2c3d.csv",
        export_sha256="0" * 64,
        export_status=AccessLogEntry.ExportStatus.COMPLETE,
    )
    view = SavedView.objects.create(name="ssh", q="type:ssh", owner=owner)
    stream = Stream.objects.create(
        name="siem", kind="http", url="http://127.0.0.1:9/", created_by=owner
    )
    rule = AlertRule.objects.create(
        name="watch", kind="each_match", channel="webhook", url="http://127.0.0.1:9/",
        created_by=owner,
    )  # fmt: skip
    return {
        "token": token_for(owner),
        "path": {
            "org": "acme",
            "user": "alice",
            "workspace": str(workspace.id),
            "name": export.export_name,
            "view": str(view.id),
            "stream": str(stream.id),
            "rule": str(rule.id),
        },
    }


def cases(operation, mode: GenerationMode, known_paths: dict[str, str]):
    """Generated cases, half of them with path parameters that name real objects."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [parameter.name for parameter in operation.path_parameters]
    if not names:
        return generated
    real = {name: known_paths[name] for name in names}
    return st.one_of(generated, operation.as_strategy(generation_mode=mode, path_parameters=real))


def negatable(operation) -> bool:
    """Whether a request can break the schema: only query parameters and bodies can
    (path parameters are free text, and credentials are ours)."""
    definition = operation.definition.raw
    parameters = definition.get("parameters", [])
    return "requestBody" in definition or any(p.get("in") == "query" for p in parameters)


RUNS = [
    pytest.param(operation, mode, id=f"{operation.label} {mode.value}")
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or negatable(operation)
]


@pytest.mark.usefixtures("wsgi_in_test_transaction")
@pytest.mark.parametrize("operation,mode", RUNS)
def test_every_operation_answers_as_its_schema_says(operation, mode, known):
    headers = {"Coder-Session-Token": known["token"]}

    @fuzz_settings(scale=0.5)
    @given(case=cases(operation, mode, known["path"]))
    def check(case):
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()


def api_route_names(resolver=None, prefix: str = "") -> set[str]:
    names = set()
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            names |= api_route_names(entry, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/") and entry.name:
            names.add(entry.name)
    return names


def test_the_fuzzed_schema_covers_every_api_route():
    """An API route missing from the OpenAPI document would never be fuzzed."""
    from django.urls import reverse

    documented = {operation.path for operation in OPERATIONS}
    for name in sorted(api_route_names() - NOT_OPERATIONS):
        pattern = get_resolver().reverse_dict.getlist(name)[0][0][0][0]
        path = "/" + pattern.replace("%(", "{").replace(")s", "}")
        assert path in documented, f"{name} ({path}) is not in /api/v2/openapi.json"
    assert reverse("api-schema") == "/api/v2/openapi.json"
