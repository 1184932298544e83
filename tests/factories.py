"""Factories for the test suite: users with roles, organizations, workspaces, log rows."""

from __future__ import annotations

import datetime as dt
import uuid

import factory
from django.utils import timezone

from connlogs import tokens
from connlogs.models import ConnectionLog, Membership, Organization, User, Workspace

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    name = factory.LazyAttribute(lambda u: u.username.title())
    site_roles = factory.LazyFunction(list)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"org{n}")
    display_name = factory.LazyAttribute(lambda o: o.name.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    roles = factory.LazyFunction(list)


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    organization = factory.SubFactory(OrganizationFactory)
    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"ws{n}")


class ConnectionLogFactory(factory.django.DjangoModelFactory):
    """A log row written directly (tests of reads); writes go through events.record_events."""

    class Meta:
        model = ConnectionLog

    workspace = factory.SubFactory(WorkspaceFactory)
    organization = factory.LazyAttribute(lambda r: r.workspace.organization)
    workspace_owner = factory.LazyAttribute(lambda r: r.workspace.owner)
    workspace_name = factory.LazyAttribute(lambda r: r.workspace.name)
    agent_name = "main"
    type = "ssh"
    connect_time = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(minutes=5))
    connection_id = factory.LazyAttribute(
        lambda r: (
            uuid.uuid4() if r.type not in ("workspace_app", "port_forwarding", "tunnel") else None
        )
    )
    ip = "127.0.0.1"


def member(organization: Organization, *roles: str, **user_fields) -> User:
    """A user who is a member of ``organization`` with the given organization roles."""
    user = UserFactory(**user_fields)
    Membership.objects.create(user=user, organization=organization, roles=list(roles))
    return user


def token_for(user: User) -> str:
    return tokens.issue(user, name="test")


def auth_header(user: User) -> dict[str, str]:
    """Headers for Django's test client that authenticate as ``user`` with an API token."""
    return {"HTTP_CODER_SESSION_TOKEN": token_for(user)}
