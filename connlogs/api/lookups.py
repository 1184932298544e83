"""Path references: ``{user}`` is a UUID, a username or ``me``; ``{org}`` a UUID or a name."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from connlogs import values
from connlogs.models import Organization, User, Workspace


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
    if ref == "me":
        return request.user
    return _by_uuid_or(User.objects.all(), ref, username__iexact=ref)


def resolve_organization(ref: str) -> Organization:
    return _by_uuid_or(Organization.objects.all(), ref, name=ref.lower())


def resolve_workspace(ref: str) -> Workspace:
    try:
        workspace_id = values.parse_uuid(ref)
    except ValueError:
        raise NotFound() from None
    found = (
        Workspace.objects.select_related("owner", "organization").filter(id=workspace_id).first()
    )
    if found is None:
        raise NotFound()
    return found
