"""Demo data: a realistic installation, its people, and a month of connections.

Everything here is seeded (``random.Random(seed)``) except row and connection ids, which are
always fresh so that loading twice never collides. Rows are produced once, as ``DemoRow``
tuples, and written one of two ways:

* ``write_through_events``: as connect/disconnect events through ``events.record_events``,
  the single writer (the default, and what the tests compare against);
* ``write_bulk``: for large loads, straight into the table (PostgreSQL ``COPY``, or
  ``bulk_create`` elsewhere). Each ``DemoRow`` is already what the merging rules make of its
  events (see ``DemoRow.events``), so both ways store the same rows; a test checks it.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from connlogs import roles, values
from connlogs.ingest import CONNECT, DISCONNECT, record_events
from connlogs.models import (
    CONNECTION_LOG_COLUMNS,
    WEB_TYPES,
    ConnectionLog,
    ConnectionType,
    Membership,
    Organization,
    User,
    Workspace,
)

DEMO_PASSWORD = "connlogs-demo"
DEMO_OWNER = "admin"
DEMO_OWNER_EMAIL = "admin@example.com"
DEFAULT_ROWS = 3000
DEFAULT_DAYS = 30
# Above this many rows the loader writes rows directly instead of through record_events.
DEFAULT_FAST_OVER = 20_000
EVENT_BATCH = 1000
HOSTILE_USER_AGENT = "<script>alert(1)</script>"

ORGANIZATIONS = (
    ("acme", "Acme Corp", "Product engineering."),
    ("globex", "Globex", "Payments and mobile."),
    ("labs", "Research Labs", "Machine learning research."),
)

ORG_ADMIN, ORG_AUDITOR = roles.ORGANIZATION_ADMIN, roles.ORGANIZATION_AUDITOR


@dataclass(frozen=True)
class Person:
    username: str
    name: str
    site_roles: tuple[str, ...] = ()
    memberships: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # (workspace name, organization, agent names)
    workspaces: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    activity: float = 1.0
    status: str = User.Status.ACTIVE

    @property
    def email(self) -> str:
        return DEMO_OWNER_EMAIL if self.username == DEMO_OWNER else f"{self.username}@example.com"


# Every role appears: site owner, auditor and reporter; organization admins and auditors of
# different organizations; plain members, one of them in two organizations.
PEOPLE = (
    Person(
        DEMO_OWNER,
        "Demo Admin",
        (roles.OWNER,),
        {"acme": ()},
        (("sandbox", "acme", ("main",)),),
        activity=0.5,
    ),
    Person("audrey", "Audrey Auditor", (roles.AUDITOR,)),
    Person("reporter", "Edge Gateway", (roles.CONNECTION_REPORTER,)),
    Person(
        "alice",
        "Alice Anders",
        memberships={"acme": (ORG_ADMIN,)},
        workspaces=(("api-server", "acme", ("main", "db")), ("frontend", "acme", ("main",))),
        activity=3,
    ),
    Person(
        "bob",
        "Bob Brown",
        memberships={"acme": ()},
        workspaces=(("monorepo", "acme", ("main", "gpu")),),
        activity=5,
    ),
    Person(
        "carol",
        "Carol Chen",
        memberships={"acme": ()},
        workspaces=(("data-pipeline", "acme", ("main",)),),
        activity=2,
    ),
    Person(
        "dave",
        "Dave Diaz",
        memberships={"acme": (), "labs": ()},
        workspaces=(("dotfiles", "acme", ("main",)), ("experiments", "labs", ("main", "gpu"))),
        activity=2,
    ),
    Person(
        "erin",
        "Erin Evans",
        memberships={"globex": (ORG_ADMIN,)},
        workspaces=(("billing", "globex", ("main",)),),
        activity=2,
    ),
    Person(
        "frank",
        "Frank Fischer",
        memberships={"globex": ()},
        workspaces=(("mobile-app", "globex", ("main", "emulator")),),
        activity=4,
    ),
    Person(
        "grace",
        "Grace Green",
        memberships={"globex": (ORG_AUDITOR,)},
        workspaces=(("reports", "globex", ("main",)),),
        activity=0.5,
    ),
    Person(
        "heidi",
        "Heidi Hall",
        memberships={"globex": ()},
        workspaces=(("legacy-api", "globex", ("main",)),),
        activity=1,
        status=User.Status.SUSPENDED,
    ),
    Person(
        "ivan",
        "Ivan Ivanov",
        memberships={"labs": (ORG_ADMIN,)},
        workspaces=(("ml-training", "labs", ("main", "gpu")),),
        activity=4,
    ),
    Person("judy", "Judy Jones", memberships={"labs": (ORG_AUDITOR,)}),
    Person(
        "kim",
        "Kim Kowalski",
        memberships={"labs": ()},
        workspaces=(("notebooks", "labs", ("main",)),),
        activity=2,
    ),
    Person(
        "leo",
        "Leo Lopez",
        memberships={"globex": ()},
        workspaces=(("infra", "globex", ("main", "bastion")),),
        activity=1,
        status=User.Status.DORMANT,
    ),
)
# A workspace carol deleted twelve days ago: its older logs stay readable.
DELETED_WORKSPACE = ("carol", "old-prototype", "acme", ("main",), dt.timedelta(days=12))


# --- the people and places ------------------------------------------------------------


@dataclass
class DemoWorkspace:
    workspace: Workspace
    agents: tuple[str, ...]
    weight: float
    # The workspace was deleted at this time: no connection after it.
    until: dt.datetime | None = None


@dataclass
class Cast:
    organizations: dict[str, Organization]
    users: dict[str, User]
    workspaces: list[DemoWorkspace]
    created: Counter = field(default_factory=Counter)

    def members_of(self, organization_id) -> list[User]:
        return [
            self.users[person.username]
            for person in PEOPLE
            if any(self.organizations[org].id == organization_id for org in person.memberships)
        ]


def _user(person: Person, password_hash: str, created: Counter) -> User:
    found = User.objects.filter(Q(username__iexact=person.username) | Q(email=person.email)).first()
    if found is not None:
        return found  # never rewrite an existing account (its password, its roles)
    created["users"] += 1
    return User.objects.create(
        username=person.username,
        email=person.email,
        name=person.name,
        site_roles=sorted(person.site_roles),
        status=person.status,
        password=password_hash,
    )


def ensure_cast() -> Cast:
    """Create (or find) the demo organizations, users, memberships and workspaces."""
    created: Counter = Counter()
    # One hash for every demo account: hashing is deliberately slow, and it is one password.
    password_hash = make_password(DEMO_PASSWORD)
    with transaction.atomic():
        organizations = {}
        for name, display_name, description in ORGANIZATIONS:
            organizations[name], made = Organization.objects.get_or_create(
                name=name, defaults={"display_name": display_name, "description": description}
            )
            created["organizations"] += made
        users = {person.username: _user(person, password_hash, created) for person in PEOPLE}
        workspaces = []
        for person in PEOPLE:
            user = users[person.username]
            for org_name, org_roles in person.memberships.items():
                _, made = Membership.objects.get_or_create(
                    user=user,
                    organization=organizations[org_name],
                    defaults={"roles": sorted(org_roles)},
                )
                created["memberships"] += made
            for ws_name, org_name, agents in person.workspaces:
                workspace, made = Workspace.objects.get_or_create(
                    owner=user,
                    name=ws_name,
                    deleted=False,
                    defaults={"organization": organizations[org_name]},
                )
                created["workspaces"] += made
                weight = person.activity / len(person.workspaces)
                workspaces.append(DemoWorkspace(workspace, agents, weight))

        owner_name, ws_name, org_name, agents, age = DELETED_WORKSPACE
        workspace, made = Workspace.objects.get_or_create(
            owner=users[owner_name],
            name=ws_name,
            deleted=True,
            defaults={
                "organization": organizations[org_name],
                "deleted_at": timezone.now() - age,
            },
        )
        created["workspaces"] += made
        workspaces.append(DemoWorkspace(workspace, agents, 1.0, until=workspace.deleted_at))
    return Cast(organizations, users, workspaces, created)


# --- rows -----------------------------------------------------------------------------


class DemoRow(NamedTuple):
    """One connection-log row, as the merging rules store it."""

    type: str
    workspace: Workspace
    agent_name: str
    connect_time: dt.datetime
    disconnect_time: dt.datetime | None = None
    reason: str = ""
    code: int | None = None  # exit code (agent rows), HTTP status (web rows)
    ip: str | None = None
    connection_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    user_agent: str = ""
    slug_or_port: str = ""

    @property
    def is_web(self) -> bool:
        return self.type in WEB_TYPES

    @property
    def is_ongoing(self) -> bool:
        return not self.is_web and self.disconnect_time is None

    def events(self) -> list[dict]:
        """The events a reporter sends for this row; merged, they make exactly this row."""
        common = {
            "type": self.type,
            "workspace_id": str(self.workspace.id),
            "agent_name": self.agent_name,
        }
        if self.ip is not None:
            common["ip"] = self.ip
        if self.is_web:
            event = {**common, "action": CONNECT, "time": values.format_time(self.connect_time)}
            if self.user_id is not None:
                event["user_id"] = str(self.user_id)
            if self.user_agent:
                event["user_agent"] = self.user_agent
            if self.slug_or_port:
                event["slug_or_port"] = self.slug_or_port
            if self.code != 200:  # a missing status is stored as 200
                event["status_code"] = self.code
            return [event]
        common["connection_id"] = str(self.connection_id)
        sent = []
        if self.disconnect_time != self.connect_time:
            # A disconnect alone (its connect lost) makes a row with both times equal.
            sent.append(
                {**common, "action": CONNECT, "time": values.format_time(self.connect_time)}
            )
        if self.disconnect_time is not None:
            event = {
                **common,
                "action": DISCONNECT,
                "time": values.format_time(self.disconnect_time),
            }
            if self.reason:
                event["reason"] = self.reason
            if self.code is not None:
                event["exit_code"] = self.code
            sent.append(event)
        return sent


def _weighted(pairs: Iterable[tuple[object, float]]) -> tuple[list, list[float]]:
    """Items and cumulative weights, for ``Random.choices(items, cum_weights=…)``."""
    items, cumulative, total = [], [], 0.0
    for item, weight in pairs:
        total += weight
        items.append(item)
        cumulative.append(total)
    return items, cumulative


TYPE_MIX = _weighted(
    [
        (ConnectionType.SSH.value, 45),
        (ConnectionType.VSCODE.value, 20),
        (ConnectionType.JETBRAINS.value, 8),
        (ConnectionType.RECONNECTING_PTY.value, 5),
        (ConnectionType.WORKSPACE_APP.value, 14),
        (ConnectionType.PORT_FORWARDING.value, 5),
        (ConnectionType.TUNNEL.value, 3),
    ]
)
# Median session length in seconds and its spread (log-normal), per agent type.
DURATIONS = {
    "ssh": (15 * 60, 1.4),
    "vscode": (2 * 3600, 1.0),
    "jetbrains": (3 * 3600, 0.9),
    "reconnecting_pty": (5 * 60, 1.2),
}
REASONS = _weighted(
    [
        ("normal closure", 50),
        ("client disconnected", 20),
        ("connection reset by peer", 8),
        ("agent shutting down", 5),
        ("workspace stopped", 6),
        ("idle timeout", 8),
        ("", 3),
    ]
)
# Shells report exit codes; IDE sessions mostly do not.
SHELL_EXIT_CODES = _weighted([(0, 70), (1, 10), (130, 8), (255, 5), (137, 3), (2, 2), (None, 2)])
IDE_EXIT_CODES = _weighted([(None, 80), (0, 20)])
STATUS_CODES = _weighted(
    [
        (200, 78),
        (101, 4),
        (204, 2),
        (302, 4),
        (304, 3),
        (401, 2),
        (403, 2),
        (404, 2.5),
        (500, 1),
        (502, 1.5),
        (503, 0.5),
    ]
)
ANONYMOUS_STATUS_CODES = _weighted([(302, 40), (401, 35), (403, 20), (404, 5)])
SLUGS = {
    "workspace_app": ["code-server", "jupyter", "grafana", "filebrowser", "terminal"],
    "port_forwarding": ["3000", "5173", "8000", "8080", "8888", "9090"],
    "tunnel": ["22", "443", "5432", "6379"],
}
USER_AGENTS = _weighted(
    [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            35,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
            20,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            12,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            10,
        ),
        ("curl/8.8.0", 8),
        ("Go-http-client/1.1", 5),
        ("python-requests/2.32.3", 4),
        ("Coder VS Code Extension/1.3.0", 4),
        (HOSTILE_USER_AGENT, 1),
        ('"><img src=x onerror=alert(document.domain)>', 1),
    ]
)
# Share of a day's connections per UTC hour (teams in Europe and the Americas).
HOUR_WEIGHTS = [
    0.15, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.0, 1.0, 0.9,
    0.8, 0.9, 1.0, 1.0, 1.0, 0.95, 0.8, 0.6, 0.45, 0.35, 0.25, 0.2,
]  # fmt: skip
WEEKEND_WEIGHT = 0.3
LOST_DISCONNECT = 0.003  # an agent that died without reporting: an old "ongoing" row
LOST_CONNECT = 0.005  # a disconnect whose connect never arrived
MAX_SESSION = 3 * 86400.0


def _addresses(rng: random.Random, index: int) -> tuple[list, list[float]]:
    """A person's usual addresses: office and home IPv4, an IPv6 one, rarely unknown."""
    office = f"203.0.113.{10 + index}"
    home = f"198.51.100.{rng.randrange(2, 250)}"
    v6 = f"2001:db8:{index + 1:x}::{rng.randrange(1, 0xFFFF):x}"
    vpn = f"10.{rng.randrange(0, 255)}.{rng.randrange(0, 255)}.{rng.randrange(2, 250)}"
    return _weighted([(office, 40), (home, 25), (v6, 22), (vpn, 10), (None, 3)])


class RowGenerator:
    """Seeded connection-log rows over the ``days`` before ``now``."""

    def __init__(self, cast: Cast, *, seed: int, now: dt.datetime, days: int = DEFAULT_DAYS):
        self.rng = random.Random(seed)
        # Ids come from a separately, randomly seeded source: a second load never collides.
        self.ids = random.Random()
        self.cast = cast
        self.now = now
        self.now_ts = now.timestamp()
        self.window = days * 86400.0
        self.workspaces, self.workspace_weights = _weighted(
            (ws, ws.weight) for ws in cast.workspaces if ws.weight > 0
        )
        people = {person.username: index for index, person in enumerate(PEOPLE)}
        self.addresses = {
            user.id: _addresses(self.rng, people.get(name, 0)) for name, user in cast.users.items()
        }
        self.members = {
            org.id: [user.id for user in cast.members_of(org.id)]
            for org in cast.organizations.values()
        }

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.ids.getrandbits(128), version=4)

    def _time(self, demo_ws: DemoWorkspace) -> float:
        """A connect time: busier on weekday working hours, never after the workspace died."""
        rng, now_ts, window = self.rng, self.now_ts, self.window
        while True:
            ts = now_ts - rng.random() * window
            hour = int(ts // 3600) % 24
            weekday = (int(ts // 86400) + 3) % 7  # 1970-01-01 was a Thursday
            weight = HOUR_WEIGHTS[hour] * (WEEKEND_WEIGHT if weekday >= 5 else 1.0)
            if rng.random() < weight:
                break
        if demo_ws.until is not None:
            # Squeeze the window so it ends when the workspace was deleted.
            until_ts = demo_ws.until.timestamp()
            start = now_ts - window
            ts = start + (ts - start) * max(0.0, until_ts - start) / window
        return ts

    def _address(self, user_id) -> str | None:
        items, cumulative = self.addresses[user_id]
        return self.rng.choices(items, cum_weights=cumulative)[0]

    def row(self) -> DemoRow:
        rng = self.rng
        demo_ws = rng.choices(self.workspaces, cum_weights=self.workspace_weights)[0]
        workspace = demo_ws.workspace
        kind = rng.choices(TYPE_MIX[0], cum_weights=TYPE_MIX[1])[0]
        agent = demo_ws.agents[0] if rng.random() < 0.75 else rng.choice(demo_ws.agents)
        ts = self._time(demo_ws)
        connect = dt.datetime.fromtimestamp(ts, dt.UTC)
        if kind in WEB_TYPES:
            return self._web_row(kind, workspace, agent, connect)

        owner_id = workspace.owner_id
        ip = self._address(owner_id)
        if rng.random() < LOST_CONNECT:
            # Only the disconnect arrived: connect and disconnect times are equal.
            return DemoRow(
                kind,
                workspace,
                agent,
                connect,
                connect,
                rng.choices(REASONS[0], cum_weights=REASONS[1])[0],
                self._exit_code(kind),
                ip,
                self.new_id(),
            )
        median, spread = DURATIONS[kind]
        duration = min(rng.lognormvariate(math.log(median), spread), MAX_SESSION)
        end_ts = ts + duration
        limit_ts = demo_ws.until.timestamp() if demo_ws.until is not None else self.now_ts
        if demo_ws.until is not None and end_ts > limit_ts:
            end_ts, reason = limit_ts, "workspace deleted"
        elif end_ts > limit_ts or rng.random() < LOST_DISCONNECT:
            return DemoRow(kind, workspace, agent, connect, None, "", None, ip, self.new_id())
        else:
            reason = rng.choices(REASONS[0], cum_weights=REASONS[1])[0]
        disconnect = dt.datetime.fromtimestamp(max(end_ts, ts + 0.001), dt.UTC)
        return DemoRow(
            kind,
            workspace,
            agent,
            connect,
            disconnect,
            reason,
            self._exit_code(kind),
            ip,
            self.new_id(),
        )

    def _exit_code(self, kind: str) -> int | None:
        codes = SHELL_EXIT_CODES if kind in ("ssh", "reconnecting_pty") else IDE_EXIT_CODES
        return self.rng.choices(codes[0], cum_weights=codes[1])[0]

    def _web_row(self, kind, workspace, agent, connect) -> DemoRow:
        rng = self.rng
        roll = rng.random()
        if roll < 0.85:
            user_id = workspace.owner_id
        elif roll < 0.95:
            user_id = rng.choice(self.members[workspace.organization_id] or [workspace.owner_id])
        else:
            user_id = None  # not signed in
        if user_id is None:
            status = rng.choices(ANONYMOUS_STATUS_CODES[0], cum_weights=ANONYMOUS_STATUS_CODES[1])
            ip = rng.choice(["192.0.2.77", "2001:db8:ffff::17", "198.51.100.250"])
        else:
            status = rng.choices(STATUS_CODES[0], cum_weights=STATUS_CODES[1])
            ip = self._address(user_id)
        user_agent = rng.choices(USER_AGENTS[0], cum_weights=USER_AGENTS[1])[0]
        return DemoRow(
            kind,
            workspace,
            agent,
            connect,
            code=status[0],
            ip=ip,
            user_id=user_id,
            user_agent=user_agent,
            slug_or_port=rng.choice(SLUGS[kind]),
        )

    def showcase(self) -> list[DemoRow]:
        """A fixed handful so every kind of row is present however few rows are asked for."""
        live = [demo_ws.workspace for demo_ws in self.cast.workspaces if demo_ws.until is None]
        one, two, three = live[1 % len(live)], live[3 % len(live)], live[5 % len(live)]
        chrome = USER_AGENTS[0][0]

        def ago(minutes: float) -> dt.datetime:
            return self.now - dt.timedelta(minutes=minutes)

        def session(kind, ws, start, end=None, reason="", code=None, ip=None) -> DemoRow:
            return DemoRow(kind, ws, "main", start, end, reason, code, ip, self.new_id())

        def request(kind, ws, at, code, ip=None, signed_in=True, agent="", slug="") -> DemoRow:
            user_id = ws.owner_id if signed_in else None
            return DemoRow(
                kind,
                ws,
                "main",
                at,
                code=code,
                ip=ip,
                user_id=user_id,
                user_agent=agent,
                slug_or_port=slug,
            )

        return [
            session("ssh", one, ago(20), ip="2001:db8:1::42"),  # ongoing, IPv6
            session("vscode", two, ago(95), ip="203.0.113.24"),  # ongoing
            session(
                "jetbrains", three, ago(600), ago(420), "client disconnected", None, "198.51.100.7"
            ),
            session(
                "reconnecting_pty", one, ago(300), ago(290), "normal closure", 130, "10.20.30.40"
            ),
            session(
                "ssh", two, ago(200), ago(150), "connection reset by peer", 255, "2001:db8:2::7"
            ),
            session("ssh", three, ago(180), ago(180), "agent shutting down", 0),  # connect lost
            request(
                "workspace_app", one, ago(12), 200, "203.0.113.24", agent=chrome, slug="code-server"
            ),
            request(
                "workspace_app",
                two,
                ago(30),
                502,
                "192.0.2.66",
                agent=HOSTILE_USER_AGENT,
                slug="jupyter",
            ),
            request(
                "workspace_app", three, ago(45), 403, "192.0.2.77", False, "curl/8.8.0", "grafana"
            ),
            request(
                "port_forwarding", one, ago(60), 200, "2001:db8:1::42", agent=chrome, slug="8080"
            ),
            request(
                "port_forwarding",
                two,
                ago(75),
                404,
                "198.51.100.7",
                agent="Go-http-client/1.1",
                slug="3000",
            ),
            request("tunnel", three, ago(90), 200, slug="5432"),  # address unknown
            request(
                "workspace_app", one, ago(100), 500, "203.0.113.24", agent=chrome, slug="jupyter"
            ),
        ]

    def rows(self, count: int) -> Iterator[DemoRow]:
        showcase = self.showcase()[:count]
        yield from showcase
        for _ in range(count - len(showcase)):
            yield self.row()


# --- writers --------------------------------------------------------------------------


@dataclass
class LoadReport:
    rows: int = 0
    by_type: Counter = field(default_factory=Counter)
    ongoing: int = 0
    web_failures: int = 0
    ipv6: int = 0
    ipv4: int = 0
    method: str = ""

    def count(self, row: DemoRow) -> None:
        self.rows += 1
        self.by_type[row.type] += 1
        if row.is_ongoing:
            self.ongoing += 1
        if row.is_web and row.code >= 400:
            self.web_failures += 1
        if row.ip is not None:
            if ":" in row.ip:
                self.ipv6 += 1
            else:
                self.ipv4 += 1


def _counted(rows: Iterable[DemoRow], report: LoadReport) -> Iterator[DemoRow]:
    for row in rows:
        report.count(row)
        yield row


def write_through_events(rows: Iterable[DemoRow], report: LoadReport) -> None:
    """Send the rows as events, oldest first, through the single writer."""
    sent = []
    for row in _counted(rows, report):
        sent.extend(row.events())
    # Reporters stream events as they happen; a connect always precedes its disconnect.
    sent.sort(key=lambda event: (event["time"], event["action"] != CONNECT))
    for start in range(0, len(sent), EVENT_BATCH):
        record_events(sent[start : start + EVENT_BATCH], max_events=EVENT_BATCH)
    report.method = "record_events"


COPY_COLUMNS = CONNECTION_LOG_COLUMNS
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_CHUNK = 20_000


class _CopyText:
    """Rows in PostgreSQL's COPY text format (tab separated, ``\\N`` for NULL)."""

    def __init__(self) -> None:
        self._escaped: dict[str, str] = {}
        self._workspace: dict = {}

    def text(self, value: str) -> str:
        found = self._escaped.get(value)
        if found is None:
            found = self._escaped[value] = value.translate(_COPY_ESCAPES)
        return found

    def line(self, row: DemoRow, row_id: uuid.UUID) -> str:
        ws = row.workspace
        where = self._workspace.get((ws.id, row.agent_name))
        if where is None:
            where = self._workspace[(ws.id, row.agent_name)] = "\t".join(
                [
                    str(ws.organization_id),
                    str(ws.owner_id),
                    str(ws.id),
                    self.text(ws.name),
                    self.text(row.agent_name),
                ]
            )
        null = "\\N"
        return "\t".join(
            [
                str(row_id),
                row.connect_time.isoformat(),
                where,
                row.ip or null,
                row.type,
                null if row.code is None else str(row.code),
                self.text(row.user_agent),
                null if row.user_id is None else str(row.user_id),
                self.text(row.slug_or_port),
                null if row.connection_id is None else str(row.connection_id),
                null if row.disconnect_time is None else row.disconnect_time.isoformat(),
                self.text(row.reason),
            ]
        )


def _model(row: DemoRow, row_id: uuid.UUID) -> ConnectionLog:
    ws = row.workspace
    return ConnectionLog(
        id=row_id,
        connect_time=row.connect_time,
        organization_id=ws.organization_id,
        workspace_owner_id=ws.owner_id,
        workspace_id=ws.id,
        workspace_name=ws.name,
        agent_name=row.agent_name,
        ip=row.ip,
        type=row.type,
        code=row.code,
        user_agent=row.user_agent,
        user_id=row.user_id,
        slug_or_port=row.slug_or_port,
        connection_id=row.connection_id,
        disconnect_time=row.disconnect_time,
        disconnect_reason=row.reason,
    )


def write_bulk(
    rows: Iterable[DemoRow], report: LoadReport, new_id: Callable[[], uuid.UUID]
) -> None:
    """Write rows straight into the table, in one transaction: COPY on PostgreSQL."""
    rows = _counted(rows, report)
    table = ConnectionLog._meta.db_table
    # VACUUM cannot run inside a transaction (the tests run in one): ANALYZE alone then.
    outer_transaction = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            fmt = _CopyText()
            columns = ", ".join(COPY_COLUMNS)
            with connection.cursor() as cursor:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    chunk = []
                    for row in rows:
                        chunk.append(fmt.line(row, new_id()))
                        if len(chunk) >= COPY_CHUNK:
                            copy.write("\n".join(chunk) + "\n")
                            chunk = []
                    if chunk:
                        copy.write("\n".join(chunk) + "\n")
                if outer_transaction:
                    cursor.execute(f"ANALYZE {table}")
            report.method = "COPY"
        else:
            batch = []
            for row in rows:
                batch.append(_model(row, new_id()))
                if len(batch) >= 2000:
                    ConnectionLog.objects.bulk_create(batch)
                    batch = []
            if batch:
                ConnectionLog.objects.bulk_create(batch)
            report.method = "bulk_create"
    if connection.vendor == "postgresql" and not outer_transaction:
        # Fresh statistics so the planner knows the table is big now, and a visibility map
        # so counts and id lookups can be index-only scans from the first request.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def load(
    cast: Cast,
    count: int,
    *,
    seed: int,
    days: int = DEFAULT_DAYS,
    fast_over: int = DEFAULT_FAST_OVER,
    now: dt.datetime | None = None,
) -> LoadReport:
    """Add ``count`` rows: through record_events, or directly above ``fast_over`` rows."""
    generator = RowGenerator(cast, seed=seed, now=now or timezone.now(), days=days)
    report = LoadReport()
    rows = generator.rows(count)
    if count > fast_over:
        write_bulk(rows, report, generator.new_id)
    else:
        write_through_events(rows, report)
    return report
