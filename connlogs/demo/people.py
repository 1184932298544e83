"""The demo cast: organizations, people with every role, their memberships and workspaces.

``ensure_cast`` creates what is missing and never rewrites an existing account.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connlogs import roles
from connlogs.models import Membership, Organization, User, Workspace

DEMO_PASSWORD = "connlogs-demo"
DEMO_OWNER = "admin"
DEMO_OWNER_EMAIL = "admin@example.com"

ORGANIZATIONS = (
    ("acme", "Acme Corp", "Product engineering."),
    ("globex", "Globex", "Payments and mobile."),
    ("labs", "Research Labs", "Machine learning research."),
)

ORG_ADMIN, ORG_AUDITOR = roles.ORGANIZATION_ADMIN, roles.ORGANIZATION_AUDITOR


@dataclass(frozen=True)
class Person:
    """One demo account: its site roles, organization roles by organization name, and its
    workspaces; ``activity`` weighs how many connections its workspaces get."""

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


@dataclass
class DemoWorkspace:
    """A stored workspace, its agent names and its share (``weight``) of the connections."""

    workspace: Workspace
    agents: tuple[str, ...]
    weight: float
    # The workspace was deleted at this time: no connection after it.
    until: dt.datetime | None = None


@dataclass
class Cast:
    """The demo's organizations and users by name, its workspaces, and what was created
    (``created``: a count per kind, zero for what already existed)."""

    organizations: dict[str, Organization]
    users: dict[str, User]
    workspaces: list[DemoWorkspace]
    created: Counter = field(default_factory=Counter)

    def members_of(self, organization_id) -> list[User]:
        """The demo users who are members of the organization with this id."""
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
