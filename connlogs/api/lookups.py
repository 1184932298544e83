"""Path references: ``{user}`` is a UUID, a username or ``me``; ``{org}`` a UUID or a name;
``{workspace}`` a UUID.

Each lookup is scoped to what the caller may see (``roles.visible_*``) in the query itself:
an object the caller may not see answers 404 exactly as one that does not exist, from the
same query, so neither the answer nor its time tells that it exists.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from rest_framework.exceptions import NotFound

from connlogs import roles, values
from connlogs.models import Organization, User, Workspace
from connlogs.privacy.resolve import users_in_clear


def _scoped(queryset: QuerySet, visible: Q | None) -> QuerySet:
    return queryset if visible is None else queryset.filter(visible)


def _by_uuid_or(queryset: QuerySet, ref: str, **by_name):
    if "\x00" in ref:
        # No name holds NUL, and PostgreSQL would refuse it in the query (a 500).
        raise NotFound()
    try:
        found = queryset.filter(id=values.parse_uuid(ref)).first()
    except ValueError:
        found = queryset.filter(**by_name).first()
    if found is None:
        raise NotFound()
    return found


def resolve_user(request, ref: str) -> User:
    """The user ``ref`` names among those the caller may see, and under data protection mode
    may be shown by real name (``privacy.resolve.users_in_clear``); 404 otherwise, exactly
    as for a name no one has."""
    if ref == "me":
        return request.user
    users = _scoped(User.objects.all(), roles.visible_users(request.user))
    users = _scoped(users, users_in_clear(request.user))
    # lower(username) uses the case-insensitive unique index (iexact's UPPER() would not).
    users = users.annotate(username_lower=Lower("username"))
    return _by_uuid_or(users, ref, username_lower=ref.lower())


def resolve_organization(request, ref: str) -> Organization:
    """The organization ``ref`` names among those the caller may see; 404 otherwise."""
    organizations = _scoped(Organization.objects.all(), roles.visible_organizations(request.user))
    return _by_uuid_or(organizations, ref, name=ref.lower())


def resolve_workspace(request, ref: str) -> Workspace:
    """The workspace with id ``ref`` (deleted or not) if the caller may see it; 404 otherwise."""
    try:
        workspace_id = values.parse_uuid(ref)
    except ValueError:
        raise NotFound() from None
    workspaces = _scoped(
        Workspace.objects.select_related("owner", "organization"),
        roles.visible_workspaces(request.user),
    )
    found = workspaces.filter(id=workspace_id).first()
    if found is None:
        raise NotFound()
    return found
