"""The permission matrix: every door (API endpoint, page, admin) × every role → the answer.

One table, ``DOORS``: a row per door (a route and a method, with the objects it names), a
column per role, and in each cell the expected status and, for reads of connection logs,
whose rows the answer shows. ``test_the_permission_matrix`` checks each row for all roles
and reports every wrong cell of the row at once.

``test_every_route_has_a_row`` enumerates the URL resolver: a new route without a row in the
table fails, so nobody adds a door without deciding who may open it.

Roles: anonymous; a plain member of acme; the auditor and the admin of acme (the rows'
organization); the auditor and the admin of globex (another organization); a site auditor; a
connection reporter; a site owner; an identity viewer (an acme auditor with the site role
``identity-viewer``: wherever no cell names it, it is answered as the acme auditor is). The
data: two log rows in acme, two in globex, and access-log entries of reads of each.
The chart has no address of its own: it is drawn inside the list page (its counts are
checked in tests/web/test_permissions.py).

The mode axis: every row is checked with data protection mode off and on. The answers and
the rows shown are the same (but for the user directory, which names to a reader shown
pseudonyms only the people shown to them by name: ``expect_protected``); with the mode on,
a door that shows log rows shows no real identity (no username, name, email or address of
the rows' people, in its bytes) except to the roles that reveal them (site owners and
identity viewers), and every read of the log leaves one access-log entry naming its door
and whether it revealed identities.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from connlogs import feed, roles
from connlogs.alerts.models import AlertRule
from connlogs.models import AccessLogEntry
from connlogs.savedviews.models import SavedView, Sharing
from connlogs.streams.models import Stream
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
    "identity_viewer",
)
# Data protection mode off and on (CONNLOGS_DATA_PROTECTION).
MODES = ("off", "on")
# Who sees real identities where the mode hides them (roles.may_reveal_identities).
REVEALERS = frozenset({"owner", "identity_viewer"})
ACME = frozenset({"acme"})
GLOBEX = frozenset({"globex"})
BOTH = ACME | GLOBEX
NONE = frozenset()
Entry = AccessLogEntry
EXPORT_NAME = "connection-log-20250710T101438Z-0a1b2c3d.csv"
# What of the world's people and addresses a door could show: none of it may appear in the
# bytes of an answer to a role that may not reveal identities while the mode is on.
IDENTITIES = {
    "acme": ("zoe-quill", "Zoe-Quill", "198.51.100.71", "198.51.100.72"),
    "globex": ("gus-vexley", "198.51.100.91", "198.51.100.92"),
}


# --- the world ---------------------------------------------------------------------------


@pytest.fixture
def world(db):
    cache.clear()  # sign-in counters
    acme = OrganizationFactory(name="acme")
    globex = OrganizationFactory(name="globex")
    # The object acted on; both names are distinctive, so that a page showing them is caught.
    target = member(acme, username="zoe-quill", email="zoe-quill@example.com")
    gus = member(globex, username="gus-vexley")
    people = {
        "member": member(acme, username="plain"),
        "acme_auditor": member(acme, roles.ORGANIZATION_AUDITOR, username="acme-auditor"),
        "acme_admin": member(acme, roles.ORGANIZATION_ADMIN, username="acme-admin"),
        "globex_auditor": member(globex, roles.ORGANIZATION_AUDITOR, username="globex-auditor"),
        "globex_admin": member(globex, roles.ORGANIZATION_ADMIN, username="globex-admin"),
        "site_auditor": UserFactory(username="site-auditor", site_roles=[roles.AUDITOR]),
        "reporter": UserFactory(username="reporter", site_roles=[roles.CONNECTION_REPORTER]),
        "owner": UserFactory(username="root", site_roles=[roles.OWNER]),
        "identity_viewer": member(
            acme,
            roles.ORGANIZATION_AUDITOR,
            username="idviewer",
            site_roles=[roles.IDENTITY_VIEWER],
        ),
    }
    acme_ws = WorkspaceFactory(organization=acme, owner=target, name="dev")
    globex_ws = WorkspaceFactory(organization=globex, owner=gus, name="api")
    rows = {
        "acme": [
            ConnectionLogFactory(workspace=acme_ws, type="ssh", ip="198.51.100.71"),
            ConnectionLogFactory(
                workspace=acme_ws, type="workspace_app", user=target, code=200, ip="198.51.100.72"
            ),
        ],
        "globex": [
            ConnectionLogFactory(workspace=globex_ws, type="vscode", ip="198.51.100.91"),
            ConnectionLogFactory(workspace=globex_ws, type="tunnel", code=101, ip="198.51.100.92"),
        ],
    }
    # Reads already on record: a detail read of every row, and a CSV export of acme's.
    for name, organization in (("acme", acme), ("globex", globex)):
        for row in rows[name]:
            AccessLogEntry.objects.create(
                door=AccessLogEntry.Door.DETAIL,
                username="site-auditor",
                row_id=row.id,
                rows=1,
                organizations=str(organization.id),
            )
    AccessLogEntry.objects.create(
        door=AccessLogEntry.Door.API_EXPORT,
        user_id=people["acme_auditor"].pk,
        username="acme-auditor",
        rows=2,
        organizations=str(acme.id),
        export_name=EXPORT_NAME,
        export_sha256="0" * 64,
        export_status=AccessLogEntry.ExportStatus.COMPLETE,
    )
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
ACCESS_ROW = re.compile(r'data-row="([0-9a-f-]{36})"')
ADMIN_ROW_LINK = re.compile(r'href="/admin/connlogs/connectionlog/([0-9a-f-]{36})/change/')


def content(response) -> bytes:
    """The answer's bytes (a download's too: reading it to the end records its entry)."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def ids_from_json(body: bytes) -> set[str]:
    return {entry["id"] for entry in json.loads(body)["connection_logs"]}


def ids_from_csv(body: bytes) -> set[str]:
    return {row[0] for row in list(csv.reader(io.StringIO(body.decode())))[1:]}


def ids_from_page(body: bytes) -> set[str]:
    return set(ROW_LINK.findall(body.decode()))


def ids_from_admin(body: bytes) -> set[str]:
    return set(ADMIN_ROW_LINK.findall(body.decode()))


# The access log shows reads of rows (the world's entries name one row each): what it shows
# is the rows whose reads it lists.
def read_rows_from_json(body: bytes) -> set[str]:
    return {entry["row_id"] for entry in json.loads(body)["entries"] if entry["row_id"]}


def read_rows_from_csv(body: bytes) -> set[str]:
    return {row["row_id"] for row in csv.DictReader(io.StringIO(body.decode())) if row["row_id"]}


def read_rows_from_page(body: bytes) -> set[str]:
    return set(ACCESS_ROW.findall(body.decode()))


def ids_from_changes(body: bytes) -> set[str]:
    return {change["connection_log"]["id"] for change in json.loads(body)["changes"]}


def ids_from_followed_rows(body: bytes) -> set[str]:
    return {row["id"] for row in json.loads(body)["rows"]}


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    route: str  # the URL name (with its namespace)
    method: str
    expect: dict[str, int | tuple[int, frozenset]]
    kwargs: Callable = lambda world: {}
    body: Callable | None = None  # JSON for /api/, a form for pages
    query: dict = field(default_factory=dict)
    shows: Callable | None = None  # the answer's bytes -> ids of the log rows it shows
    label: str = ""
    # A read of connection logs: the door its access-log entry names (and the answer is
    # checked for identities in protected mode).
    records: str | None = None
    # False: a read that returned no rows is not recorded (the change feed, polled).
    records_empty: bool = True
    # The answers that differ with data protection mode on (the roles named).
    expect_protected: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}{' ' + self.label if self.label else ''}"


def everyone(status: int, **exceptions: int) -> dict[str, int]:
    """``status`` for every role but those named; the identity viewer only when named (else
    ``cell`` answers it as the acme auditor)."""
    cells = {role: exceptions.get(role, status) for role in ROLES if role != "identity_viewer"}
    if "identity_viewer" in exceptions:
        cells["identity_viewer"] = exceptions["identity_viewer"]
    return cells


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


# Pages without rows of their own that every reader of the log may open.
READERS_200 = {
    role: 200
    for role in ("acme_auditor", "acme_admin", "globex_auditor", "globex_admin", "site_auditor")
} | {"owner": 200}


def access_readers(anonymous: int, others: int) -> dict:
    """Reads of the access log: site owners see every read, an organization's admins the
    reads of its rows; the rest get ``others``."""
    return everyone(others, anonymous=anonymous) | {
        "acme_admin": (200, ACME),
        "globex_admin": (200, GLOBEX),
        "owner": (200, BOTH),
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
TARGET = lambda world: {"user": "zoe-quill"}  # noqa: E731
ACME_TARGET = lambda world: {"org": "acme", "user": "zoe-quill"}  # noqa: E731
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


def acme_stream(world) -> dict:
    """A stream of acme's rows made by acme's admin (in the role's rolled-back transaction)."""
    stream = Stream.objects.create(
        name="acme-siem",
        kind="http",
        url="http://127.0.0.1:9/",
        organization=world.acme,
        created_by=world.people["acme_admin"],
    )
    return {"stream": str(stream.id)}


def acme_stream_managers(status: int) -> dict[str, int]:
    """Streams: site owners and organization admins only (403 for the rest); globex's admin
    manages streams but may not see acme's (404)."""
    return signed_in(403, acme_admin=status, owner=status, globex_admin=404)


def acme_rule(world) -> dict:
    """An alert rule on acme's rows made by acme's admin (in the role's rolled-back
    transaction)."""
    rule = AlertRule.objects.create(
        name="acme-ssh",
        kind="each_match",
        q="type:ssh",
        channel="webhook",
        url="http://127.0.0.1:9/",
        organization=world.acme,
        created_by=world.people["acme_admin"],
    )
    return {"rule": str(rule.id)}


def acme_rule_form(world) -> dict:
    """The alerts page's form for an each-match rule on acme's rows."""
    return {
        "name": "acme-ssh",
        "kind": "each_match",
        "q": "type:ssh",
        "organization": str(world.acme.id),
        "threshold": "1",
        "window_minutes": "5",
        "new_address_days": "30",
        "cooldown_minutes": "0",
        "channel": "webhook",
        "url": "http://127.0.0.1:9/",
    }


def alert_pages(status: int, **exceptions: int) -> dict[str, int]:
    """The alerts pages: site owners and organization admins (others 403, sign-in first)."""
    cells = {"acme_admin": status, "globex_admin": status, "owner": status}
    return everyone(403, anonymous=302, **{**cells, **exceptions})


def acme_stream_page(status: int) -> dict[str, int]:
    """The streams' pages: as ``acme_stream_managers``, signed-out visitors sent to sign in."""
    return everyone(403, anonymous=302, acme_admin=status, owner=status, globex_admin=404)


def stream_form(world) -> dict:
    """The stream form's fields, for acme's rows."""
    return {
        "name": "siem",
        "kind": "http",
        "url": "http://127.0.0.1:9/",
        "organization": str(world.acme.id),
        "start": "now",
    }


def targets_view(world) -> dict:
    return {"view": str(SavedView.objects.create(name="mine", owner=world.target).id)}


DOORS = [
    # --- the read API and its export (connection-log-api.md section 5) -------------------
    Door(
        "api-connectionlog",
        "GET",
        log_readers(401, (200, NONE)),
        shows=ids_from_json,
        records=Entry.Door.API,
    ),
    Door(
        "api-connectionlog-export",
        "GET",
        log_readers(401, (200, NONE)),
        query={"format": "csv"},
        shows=ids_from_csv,
        records=Entry.Door.API_EXPORT,
    ),
    # The checksum file of a CSV export: its caller's (and site owners'); others: no such.
    Door(
        "api-connectionlog-export-checksum",
        "GET",
        signed_in(404, acme_auditor=200, owner=200, identity_viewer=404),
        kwargs=lambda world: {"name": EXPORT_NAME},
    ),
    # --- the access log: site owners, and organization admins for their organizations ----
    Door(
        "api-accesslog",
        "GET",
        access_readers(401, 403),
        shows=read_rows_from_json,
    ),
    Door(
        "api-accesslog-export",
        "GET",
        access_readers(401, 403),
        query={"format": "csv"},
        shows=read_rows_from_csv,
    ),
    Door(
        "api-connectionlog-changes",
        "GET",
        log_readers(401, (200, NONE)),
        query={"after": "0"},
        shows=ids_from_changes,
        records=Entry.Door.FEED,
        records_empty=False,
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
    # --- streams: site owners and organization admins, each their organizations' -------
    Door("api-streams", "GET", signed_in(403, acme_admin=200, globex_admin=200, owner=200)),
    Door(
        "api-streams",
        "POST",
        # globex's admin cannot see acme: the organization they name is not one (400).
        signed_in(403, acme_admin=201, globex_admin=400, owner=201),
        body=lambda world: {
            "name": "siem",
            "kind": "http",
            "url": "http://127.0.0.1:9/",
            "organization": "acme",
        },
    ),
    Door("api-stream", "GET", acme_stream_managers(200), kwargs=acme_stream),
    Door(
        "api-stream",
        "PATCH",
        acme_stream_managers(200),
        kwargs=acme_stream,
        body=lambda world: {"name": "renamed"},
    ),
    Door("api-stream", "DELETE", acme_stream_managers(204), kwargs=acme_stream),
    Door("api-stream-pause", "POST", acme_stream_managers(200), kwargs=acme_stream),
    Door("api-stream-resume", "POST", acme_stream_managers(200), kwargs=acme_stream),
    # --- alert rules: scoped as streams --------------------------------------------------
    Door("api-alert-rules", "GET", signed_in(403, acme_admin=200, globex_admin=200, owner=200)),
    Door(
        "api-alert-rules",
        "POST",
        signed_in(403, acme_admin=201, globex_admin=400, owner=201),
        body=lambda world: {
            "name": "ssh",
            "kind": "each_match",
            "channel": "webhook",
            "url": "http://127.0.0.1:9/",
            "organization": "acme",
        },
    ),
    Door("api-alert-rule", "GET", acme_stream_managers(200), kwargs=acme_rule),
    Door(
        "api-alert-rule",
        "PATCH",
        acme_stream_managers(200),
        kwargs=acme_rule,
        body=lambda world: {"paused": True},
    ),
    Door("api-alert-rule", "DELETE", acme_stream_managers(204), kwargs=acme_rule),
    Door("api-alert-firings", "GET", signed_in(403, acme_admin=200, globex_admin=200, owner=200)),
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
        # Auditors are shown zoe's pseudonym in her rows; her admin manages her account.
        expect_protected={"acme_auditor": 404, "site_auditor": 404, "identity_viewer": 200},
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
        # Who is shown zoe's pseudonym may not name her either.
        expect_protected={"acme_auditor": 404, "site_auditor": 404, "identity_viewer": 403},
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
        body=lambda world: {"email": "zoe-quill@example.com", "password": PASSWORD},
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
        # A workspace made for a member named here would pair them with their pseudonym.
        expect_protected={"acme_admin": 403},
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
    Door("api-docs-without-slash", "GET", everyone(302)),
    Door("healthz", "GET", everyone(200)),
    # The icon browsers ask for on every site: public, like the static files.
    Door("favicon", "GET", everyone(200)),
    # --- pages ----------------------------------------------------------------------------
    Door("home", "GET", everyone(302)),
    Door("login", "GET", everyone(302, anonymous=200)),
    Door("logout", "POST", everyone(302)),
    Door("set-timezone", "POST", everyone(302), body=lambda world: {"tz": "Europe/Paris"}),
    Door(
        "streams-page",
        "GET",
        everyone(403, anonymous=302, acme_admin=200, globex_admin=200, owner=200),
    ),
    Door("alerts-page", "GET", alert_pages(200)),
    Door("alert-new", "GET", alert_pages(200)),
    # globex's admin cannot pick acme: not one of the form's choices (400).
    Door("alert-new", "POST", alert_pages(302, globex_admin=400), body=acme_rule_form),
    Door("alert-edit", "GET", alert_pages(200, globex_admin=404), kwargs=acme_rule),
    Door(
        "alert-edit",
        "POST",
        alert_pages(302, globex_admin=404),
        kwargs=acme_rule,
        body=acme_rule_form,
    ),
    Door("alert-delete", "POST", alert_pages(302, globex_admin=404), kwargs=acme_rule),
    Door(
        "stream-create",
        "GET",
        everyone(403, anonymous=302, acme_admin=200, globex_admin=200, owner=200),
    ),
    Door(
        "stream-create",
        "POST",
        # globex's admin cannot see acme: the organization they name is refused (400).
        everyone(403, anonymous=302, acme_admin=302, globex_admin=400, owner=302),
        body=stream_form,
    ),
    Door("stream-edit", "GET", acme_stream_page(200), kwargs=acme_stream),
    Door("stream-edit", "POST", acme_stream_page(302), kwargs=acme_stream, body=stream_form),
    Door("stream-delete", "GET", acme_stream_page(200), kwargs=acme_stream),
    Door("stream-delete", "POST", acme_stream_page(302), kwargs=acme_stream),
    Door("stream-pause", "POST", acme_stream_page(302), kwargs=acme_stream),
    Door("stream-resume", "POST", acme_stream_page(302), kwargs=acme_stream),
    # Signed in without a readable organization: a 403 page that says why, not an empty table.
    Door(
        "connectionlog-list",
        "GET",
        log_readers(302, 403),
        shows=ids_from_page,
        records=Entry.Door.PAGE,
    ),
    Door(
        "connectionlog-changes",
        "GET",
        log_readers(302, 403),
        query={"after": "0"},
        shows=ids_from_followed_rows,
        records=Entry.Door.FEED,
        records_empty=False,
    ),
    Door(
        "connectionlog-export",
        "GET",
        log_readers(302, 403),
        query={"format": "csv"},
        shows=ids_from_csv,
        records=Entry.Door.PAGE_EXPORT,
    ),
    Door("connectionlog-exports", "GET", log_readers(302, 403, **READERS_200)),
    Door(
        "connectionlog-export-checksum",
        "GET",
        everyone(404, anonymous=302, acme_auditor=200, owner=200, identity_viewer=404),
        kwargs=lambda world: {"name": EXPORT_NAME},
    ),
    Door("accesslog", "GET", access_readers(302, 403), shows=read_rows_from_page),
    Door(
        "accesslog-export",
        "GET",
        access_readers(302, 403),
        query={"format": "csv"},
        shows=read_rows_from_csv,
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
        records=Entry.Door.DETAIL,
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
        records=Entry.Door.DETAIL,
    ),
    # --- the admin: site owners only; anyone else is sent to the admin's sign-in -----------
    Door("admin:index", "GET", admin_site(200)),
    # The admin's sign-in form: owners are already in; others see the form (with "you are
    # not authorized" when signed in).
    Door("admin:login", "GET", everyone(200, owner=302)),
    Door(
        "admin:connlogs_connectionlog_changelist",
        "GET",
        admin_site((200, BOTH)),
        shows=ids_from_admin,
        records=Entry.Door.ADMIN,
    ),
    Door(
        "admin:connlogs_connectionlog_change",
        "GET",
        admin_site(200),
        kwargs=ADMIN_ROW,
        records=Entry.Door.ADMIN_DETAIL,
    ),
    Door("admin:connlogs_accesslogentry_changelist", "GET", admin_site(200)),
    Door("admin:connlogs_user_changelist", "GET", admin_site(200)),
]

# Named routes without a row of their own, and why.
NOT_IN_TABLE = {
    "admin:*": (
        "every admin view is wrapped by AdminSite.admin_view, the one staff gate that the "
        "admin rows above (index, sign-in, log and user lists, a change page) exercise"
    ),
    "api-not-found": (
        "names nothing: every caller, signed in or not, gets the contract's JSON 404 "
        "(tests/test_security.py)"
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


def cell(door: Door, role: str, mode: str = "off"):
    """The answer ``role`` expects; an identity viewer that a row does not name is answered
    as the acme auditor it also is (the role reveals identities, it grants no access)."""
    if mode == "on" and role in door.expect_protected:
        return door.expect_protected[role]
    if role in door.expect:
        return door.expect[role]
    assert role == "identity_viewer", (door.id, role)
    return door.expect["acme_auditor"]


def organizations_of(world, ids: set[str]) -> set[str]:
    return {name for name, rows in world.rows.items() if {str(r.id) for r in rows} & ids}


def answered_organizations(world, door: Door, shown: set[str] | None) -> set[str]:
    """The organizations whose rows an answer shows: those listed, or the one row asked for."""
    if shown is not None:
        return organizations_of(world, shown)
    kwargs = door.kwargs(world)
    asked = kwargs.get("pk") or kwargs.get("object_id")
    return organizations_of(world, {str(asked)}) if asked else set()


def identities_in(body: bytes) -> set[str]:
    """The organizations some real identity of whose rows appears in ``body``."""
    return {name for name, found in IDENTITIES.items() if any(v.encode() in body for v in found)}


def check_read(world, door, role, mode, body, shown, entries) -> list[str]:
    """What is wrong with a read of connection logs: identities shown to a role that may not
    see them (or hidden from one that may), its access-log entry."""
    answered = answered_organizations(world, door, shown)
    reveals = mode == "off" or role in REVEALERS
    wrong = []
    expected = answered if reveals else set()
    if identities_in(body) != expected:
        wrong.append(
            f"{role}: real identities of {sorted(identities_in(body))} in the answer, "
            f"expected {sorted(expected)}"
        )
    recorded = [door.records] if shown or door.records_empty else []
    if [entry.door for entry in entries] != recorded:
        wrong.append(f"{role}: access-log entries {[e.door for e in entries]}, not {recorded}")
    elif entries and entries[0].revealed != (mode == "on" and role in REVEALERS and bool(answered)):
        wrong.append(f"{role}: the entry says revealed={entries[0].revealed}")
    return wrong


def newest_entry_id() -> int:
    return AccessLogEntry.objects.aggregate(newest=Max("id"))["newest"] or 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.id)
def test_the_permission_matrix(world, door, mode, settings):
    settings.CONNLOGS_DATA_PROTECTION = mode
    wrong = []
    for role in ROLES:
        expected = cell(door, role, mode)
        status, visible = expected if isinstance(expected, tuple) else (expected, None)
        with transaction.atomic():  # each role acts on the same, untouched world
            before = newest_entry_id()
            response = send(client_for(world, role), door, world)
            got = response.status_code
            body = content(response)
            entries = list(AccessLogEntry.objects.filter(id__gt=before).order_by("id"))
            transaction.set_rollback(True)
        shown = door.shows(body) if door.shows and got == 200 else None
        if got != status:
            wrong.append(f"{role}: expected {status}, got {got}")
            continue
        if visible is not None and shown != row_ids(world, visible):
            names = sorted(organizations_of(world, shown))
            wrong.append(f"{role}: expected rows of {sorted(visible)}, got rows of {names}")
        if door.records and got == 200:
            wrong += check_read(world, door, role, mode, body, shown, entries)
        elif entries:
            wrong.append(f"{role}: {len(entries)} access-log entries for what is no read")
    assert not wrong, f"{door.id} (data protection {mode}):\n" + "\n".join(wrong)


def test_every_door_has_a_cell_for_every_role():
    for door in DOORS:
        assert set(door.expect) | {"identity_viewer"} == set(ROLES), door.id


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
