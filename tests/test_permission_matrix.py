"""The permission matrix: every door (API endpoint, page, admin) × every role → the answer.

One table, ``DOORS``: a row per door (a route and a method, with the objects it names), a
column per role, and in each cell the expected status and, for reads of connection logs,
whose rows the answer shows. ``test_the_permission_matrix`` checks each row for all roles
and reports every wrong cell of the row at once.

``test_every_route_has_a_row`` enumerates the URL resolver: a new route without a row in the
table fails, so nobody adds a door without deciding who may open it.

Roles: anonymous; a plain member of acme; the auditor and the admin of acme (the rows'
organization); the auditor and the admin of globex (another organization); a site auditor; a
connection reporter; a site owner. The data: two log rows in acme, two in globex.
The chart has no address of its own: it is drawn inside the list page (its counts are
checked in tests/web/test_permissions.py).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from connlogs import feed, roles
from connlogs.savedviews.models import SavedView, Sharing
from tests.factories import (
    PASSWORD,
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    auth_header,
    member,
)

ROLES = (
    "anonymous",
    "member",
    "acme_auditor",
    "acme_admin",
    "globex_auditor",
    "globex_admin",
    "site_auditor",
    "reporter",
    "owner",
)
ACME = frozenset({"acme"})
GLOBEX = frozenset({"globex"})
BOTH = ACME | GLOBEX
NONE = frozenset()


# --- the world ---------------------------------------------------------------------------


@pytest.fixture
def world(db):
    cache.clear()  # sign-in counters
    acme = OrganizationFactory(name="acme")
    globex = OrganizationFactory(name="globex")
    target = member(acme, username="target", email="target@example.com")  # the object acted on
    gus = member(globex, username="gus")
    people = {
        "member": member(acme, username="plain"),
        "acme_auditor": member(acme, roles.ORGANIZATION_AUDITOR, username="acme-auditor"),
        "acme_admin": member(acme, roles.ORGANIZATION_ADMIN, username="acme-admin"),
        "globex_auditor": member(globex, roles.ORGANIZATION_AUDITOR, username="globex-auditor"),
        "globex_admin": member(globex, roles.ORGANIZATION_ADMIN, username="globex-admin"),
        "site_auditor": UserFactory(username="site-auditor", site_roles=[roles.AUDITOR]),
        "reporter": UserFactory(username="reporter", site_roles=[roles.CONNECTION_REPORTER]),
        "owner": UserFactory(username="root", site_roles=[roles.OWNER]),
    }
    acme_ws = WorkspaceFactory(organization=acme, owner=target, name="dev")
    globex_ws = WorkspaceFactory(organization=globex, owner=gus, name="api")
    rows = {
        "acme": [
            ConnectionLogFactory(workspace=acme_ws, type="ssh"),
            ConnectionLogFactory(workspace=acme_ws, type="workspace_app", user=target, code=200),
        ],
        "globex": [
            ConnectionLogFactory(workspace=globex_ws, type="vscode"),
            ConnectionLogFactory(workspace=globex_ws, type="tunnel", code=101),
        ],
    }
    # The rows' entries in the change feed, as ingest would have written them.
    feed.record("default", created=[row.id for found in rows.values() for row in found], updated=[])
    return SimpleNamespace(
        acme=acme,
        globex=globex,
        target=target,
        outsider=UserFactory(username="outsider"),
        acme_ws=acme_ws,
        rows=rows,
        people=people,
    )


def client_for(world, role: str) -> Client:
    """The role's client: an API token and a signed-in session (pages), or nothing."""
    if role == "anonymous":
        return Client()
    user = world.people[role]
    client = Client(**auth_header(user))
    client.force_login(user)
    return client


# --- reading what an answer shows --------------------------------------------------------

ROW_LINK = re.compile(r'data-href="/connectionlog/([0-9a-f-]{36})"')


def ids_from_json(response) -> set[str]:
    return {entry["id"] for entry in response.json()["connection_logs"]}


def ids_from_csv(response) -> set[str]:
    text = b"".join(response.streaming_content).decode()
    return {row[0] for row in list(csv.reader(io.StringIO(text)))[1:]}


def ids_from_changes(response) -> set[str]:
    return {change["connection_log"]["id"] for change in response.json()["changes"]}


def ids_from_followed_rows(response) -> set[str]:
    return {row["id"] for row in response.json()["rows"]}


def ids_from_page(response) -> set[str]:
    return set(ROW_LINK.findall(response.content.decode()))


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    route: str  # the URL name (with its namespace)
    method: str
    expect: dict[str, int | tuple[int, frozenset]]
    kwargs: Callable = lambda world: {}
    body: Callable | None = None  # JSON for /api/, a form for pages
    query: dict = field(default_factory=dict)
    shows: Callable | None = None  # response -> ids of the log rows it shows
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}{' ' + self.label if self.label else ''}"


def everyone(status: int, **exceptions: int) -> dict[str, int]:
    return {role: exceptions.get(role, status) for role in ROLES}


def signed_in(status: int, **exceptions: int) -> dict[str, int]:
    return everyone(status, anonymous=401, **exceptions)


def log_readers(anonymous: int, others: int, **extra) -> dict:
    """Reads of the log: readers see their organizations' rows; the rest get ``others``."""
    return {
        "anonymous": anonymous,
        "member": others,
        "acme_auditor": (200, ACME),
        "acme_admin": (200, ACME),
        "globex_auditor": (200, GLOBEX),
        "globex_admin": (200, GLOBEX),
        "site_auditor": (200, BOTH),
        "reporter": others,
        "owner": (200, BOTH),
        **extra,
    }


# Managing acme's members and workspaces: its admins and site owners; those who see acme
# but may not manage it get 403; those who may not even see it get 404.
def acme_managers(status: int) -> dict[str, int]:
    return {
        "anonymous": 401,
        "member": 403,
        "acme_auditor": 403,
        "acme_admin": status,
        "globex_auditor": 404,
        "globex_admin": 404,
        "site_auditor": 403,
        "reporter": 404,
        "owner": status,
    }


def only_owner(status: int) -> dict[str, int]:
    return signed_in(403, owner=status)


def admin_site(status: int) -> dict[str, int]:
    return everyone(302, owner=status)


NEW_EVENT = lambda world: {  # noqa: E731 - a table cell
    "events": [
        {
            "action": "connect",
            "time": "2025-07-10T10:00:00Z",
            "type": "ssh",
            "workspace_id": str(world.acme_ws.id),
            "agent_name": "main",
            "connection_id": str(uuid.uuid4()),
        }
    ]
}
TARGET = lambda world: {"user": "target"}  # noqa: E731
ACME_TARGET = lambda world: {"org": "acme", "user": "target"}  # noqa: E731
ACME_ROW = lambda world: {"pk": world.rows["acme"][0].pk}  # noqa: E731
GLOBEX_ROW = lambda world: {"pk": world.rows["globex"][0].pk}  # noqa: E731
WORKSPACE = lambda world: {"workspace": str(world.acme_ws.id)}  # noqa: E731
ADMIN_ROW = lambda world: {"object_id": str(world.rows["acme"][0].pk)}  # noqa: E731


def acme_view(world) -> dict:
    """A view acme's admin shared with acme (made in the role's rolled-back transaction)."""
    view = SavedView.objects.create(
        name="acme",
        sharing=Sharing.ORGANIZATION,
        organization=world.acme,
        owner=world.people["acme_admin"],
    )
    return {"view": str(view.id)}


def targets_view(world) -> dict:
    return {"view": str(SavedView.objects.create(name="mine", owner=world.target).id)}


DOORS = [
    # --- the read API and its export (connection-log-api.md section 5) -------------------
    Door("api-connectionlog", "GET", log_readers(401, (200, NONE)), shows=ids_from_json),
    Door(
        "api-connectionlog-export",
        "GET",
        log_readers(401, (200, NONE)),
        query={"format": "csv"},
        shows=ids_from_csv,
    ),
    Door(
        "api-connectionlog-changes",
        "GET",
        log_readers(401, (200, NONE)),
        query={"after": "0"},
        shows=ids_from_changes,
    ),
    # --- saved views: acme's shared view is seen by acme and the site readers, changed by
    # its admins and site owners; a personal view is its owner's alone --------------------
    Door("api-saved-views", "GET", signed_in(200)),
    Door("api-saved-views", "POST", signed_in(201), body=lambda world: {"name": "mine"}),
    Door(
        "api-saved-view",
        "GET",
        signed_in(404, member=200, acme_auditor=200, acme_admin=200, site_auditor=200, owner=200),
        kwargs=acme_view,
        label="acme's",
    ),
    Door(
        "api-saved-view",
        "PATCH",
        acme_managers(200),
        kwargs=acme_view,
        body=lambda world: {"name": "renamed"},
        label="acme's",
    ),
    Door(
        "api-saved-view",
        "DELETE",
        acme_managers(204),
        kwargs=acme_view,
        label="acme's",
    ),
    Door("api-saved-view", "GET", signed_in(404), kwargs=targets_view, label="someone's own"),
    Door("api-saved-view", "DELETE", signed_in(404), kwargs=targets_view, label="someone's own"),
    Door("api-start-view", "GET", signed_in(200)),
    Door("api-start-view", "PUT", signed_in(200), body=lambda world: {"view": "stale-sessions"}),
    Door("api-start-view", "DELETE", signed_in(204)),
    # --- writes (write-api.md) ----------------------------------------------------------
    Door(
        "api-connectionlog-events",
        "POST",
        signed_in(403, reporter=200, owner=200),
        body=NEW_EVENT,
    ),
    Door(
        "api-users",
        "POST",
        only_owner(201),
        body=lambda world: {"username": "newbie", "email": "newbie@example.com"},
    ),
    Door(
        "api-user",
        "GET",
        signed_in(404, acme_auditor=200, acme_admin=200, site_auditor=200, owner=200),
        kwargs=TARGET,
        label="someone",
    ),
    Door("api-user", "GET", signed_in(200), kwargs=lambda world: {"user": "me"}, label="me"),
    Door(
        "api-user-roles",
        "PUT",
        only_owner(200),
        kwargs=TARGET,
        body=lambda world: {"roles": ["auditor"]},
    ),
    Door(
        "api-user-tokens",
        "POST",
        # Those who may see the target are told "no" (403), the others "no such user" (404).
        signed_in(404, acme_auditor=403, acme_admin=403, site_auditor=403, owner=201),
        kwargs=TARGET,
        body=lambda world: {},
        label="someone",
    ),
    Door(
        "api-user-tokens",
        "POST",
        signed_in(201),
        kwargs=lambda world: {"user": "me"},
        body=lambda world: {},
        label="me",
    ),
    Door(
        "api-login",
        "POST",
        everyone(201),
        body=lambda world: {"email": "target@example.com", "password": PASSWORD},
    ),
    Door("api-logout", "POST", signed_in(200)),
    Door("api-organizations", "POST", only_owner(201), body=lambda world: {"name": "initech"}),
    Door(
        "api-organization",
        "GET",
        signed_in(200, globex_auditor=404, globex_admin=404, reporter=404),
        kwargs=lambda world: {"org": "acme"},
    ),
    Door(
        "api-organization-member",
        "POST",
        # The outsider is in no organization: acme's admin cannot see them (404, as for a
        # made-up name); site owners add anyone.
        {**acme_managers(200), "acme_admin": 404},
        kwargs=lambda world: {"org": "acme", "user": "outsider"},
    ),
    Door("api-organization-member", "DELETE", acme_managers(204), kwargs=ACME_TARGET),
    Door(
        "api-organization-member-roles",
        "PUT",
        acme_managers(200),
        kwargs=ACME_TARGET,
        body=lambda world: {"roles": ["organization-auditor"]},
    ),
    Door(
        "api-organization-member-workspaces",
        "POST",
        acme_managers(201),
        kwargs=ACME_TARGET,
        body=lambda world: {"name": "new-ws"},
    ),
    Door(
        "api-workspace",
        "GET",
        signed_in(404, acme_auditor=200, acme_admin=200, site_auditor=200, owner=200),
        kwargs=WORKSPACE,
    ),
    Door(
        "api-workspace",
        "DELETE",
        signed_in(404, acme_auditor=403, acme_admin=200, site_auditor=403, owner=200),
        kwargs=WORKSPACE,
    ),
    # The API's description holds no data: public, like Coder's.
    Door("api-schema", "GET", everyone(200)),
    Door("api-docs", "GET", everyone(200)),
    Door("healthz", "GET", everyone(200)),
    # The icon browsers ask for on every site: public, like the static files.
    Door("favicon", "GET", everyone(200)),
    # --- pages ----------------------------------------------------------------------------
    Door("home", "GET", everyone(302)),
    Door("login", "GET", everyone(302, anonymous=200)),
    Door("logout", "POST", everyone(302)),
    Door("set-timezone", "POST", everyone(302), body=lambda world: {"tz": "Europe/Paris"}),
    # Signed in without a readable organization: a 403 page that says why, not an empty table.
    Door("connectionlog-list", "GET", log_readers(302, 403), shows=ids_from_page),
    Door(
        "connectionlog-changes",
        "GET",
        log_readers(302, 403),
        query={"after": "0"},
        shows=ids_from_followed_rows,
    ),
    Door(
        "connectionlog-export",
        "GET",
        log_readers(302, 403),
        query={"format": "csv"},
        shows=ids_from_csv,
    ),
    Door(
        "connectionlog-detail",
        "GET",
        log_readers(302, 403, globex_auditor=404, globex_admin=404)
        | {
            "acme_auditor": 200,
            "acme_admin": 200,
            "site_auditor": 200,
            "owner": 200,
        },
        kwargs=ACME_ROW,
        label="acme row",
    ),
    Door(
        "connectionlog-detail",
        "GET",
        log_readers(302, 403, acme_auditor=404, acme_admin=404)
        | {
            "globex_auditor": 200,
            "globex_admin": 200,
            "site_auditor": 200,
            "owner": 200,
        },
        kwargs=GLOBEX_ROW,
        label="globex row",
    ),
    # --- the admin: site owners only; anyone else is sent to the admin's sign-in -----------
    Door("admin:index", "GET", admin_site(200)),
    # The admin's sign-in form: owners are already in; others see the form (with "you are
    # not authorized" when signed in).
    Door("admin:login", "GET", everyone(200, owner=302)),
    Door("admin:connlogs_connectionlog_changelist", "GET", admin_site(200)),
    Door("admin:connlogs_connectionlog_change", "GET", admin_site(200), kwargs=ADMIN_ROW),
    Door("admin:connlogs_user_changelist", "GET", admin_site(200)),
]

# Named routes without a row of their own, and why.
NOT_IN_TABLE = {
    "admin:*": (
        "every admin view is wrapped by AdminSite.admin_view, the one staff gate that the "
        "admin rows above (index, sign-in, log and user lists, a change page) exercise"
    ),
    "metrics": (
        "not a door for users: no account or role opens it, only the scrape token or an "
        "allowed network (tests/test_metrics.py: refused without, served with)"
    ),
}


def send(client: Client, door: Door, world):
    path = reverse(door.route, kwargs=door.kwargs(world))
    body = door.body(world) if door.body else None
    method = getattr(client, door.method.lower())
    if path.startswith("/api/"):
        if body is None:
            return method(path, door.query or None)
        return method(path, body, content_type="application/json")
    if body is None:
        return method(path, door.query or None)
    return method(path, body)


def row_ids(world, organizations: frozenset) -> set[str]:
    return {str(row.id) for name in organizations for row in world.rows[name]}


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.id)
def test_the_permission_matrix(world, door):
    wrong = []
    for role in ROLES:
        expected = door.expect[role]
        status, visible = expected if isinstance(expected, tuple) else (expected, None)
        with transaction.atomic():  # each role acts on the same, untouched world
            response = send(client_for(world, role), door, world)
            got = response.status_code
            shown = door.shows(response) if door.shows and got == 200 else None
            transaction.set_rollback(True)
        if got != status:
            wrong.append(f"{role}: expected {status}, got {got}")
        elif visible is not None and shown != row_ids(world, visible):
            names = sorted(
                name for name, rows in world.rows.items() if {str(r.id) for r in rows} & shown
            )
            wrong.append(f"{role}: expected rows of {sorted(visible)}, got rows of {names}")
    assert not wrong, f"{door.id}:\n" + "\n".join(wrong)


def test_every_door_has_a_cell_for_every_role():
    for door in DOORS:
        assert set(door.expect) == set(ROLES), door.id


def named_routes(resolver=None, namespace: str = "") -> set[str]:
    names = set()
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            names |= named_routes(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(f"{namespace}{entry.name}")
    return names


def excluded(name: str) -> bool:
    return name in NOT_IN_TABLE or any(
        key.endswith(":*") and name.startswith(key[:-1]) for key in NOT_IN_TABLE
    )


def test_every_route_has_a_row():
    """A route added without a row in DOORS (or a reason in NOT_IN_TABLE) fails here."""
    routes = named_routes()
    in_table = {door.route for door in DOORS}
    missing = sorted(name for name in routes - in_table if not excluded(name))
    assert not missing, f"routes without a row in the permission matrix: {missing}"
    stale = sorted(in_table - routes)
    assert not stale, f"rows for routes that no longer exist: {stale}"
