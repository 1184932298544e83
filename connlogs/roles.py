"""Role names and the questions asked of them: the only module that knows what a role may do.

The bottom of the house: the rules read only a user's stored site roles and memberships, so
this module imports no model. ``models`` (Django's staff flags) and ``querysets`` (the scope
of every read) ask it; nothing here asks them.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Q

# Whoever asks or is asked about: a ``connlogs.models.User``, or Django's ``AnonymousUser``
# (every question checks ``is_authenticated`` first).
User = AbstractBaseUser

OWNER = "owner"
AUDITOR = "auditor"
CONNECTION_REPORTER = "connection-reporter"
# Sees real identities where data protection mode shows pseudonyms (docs/privacy.md).
IDENTITY_VIEWER = "identity-viewer"
ORGANIZATION_ADMIN = "organization-admin"
ORGANIZATION_AUDITOR = "organization-auditor"

SITE_ROLES: dict[str, str] = {
    OWNER: "Owner",
    AUDITOR: "Auditor",
    CONNECTION_REPORTER: "Connection Reporter",
    IDENTITY_VIEWER: "Identity Viewer",
}
ORGANIZATION_ROLES: dict[str, str] = {
    ORGANIZATION_ADMIN: "Organization Admin",
    ORGANIZATION_AUDITOR: "Organization Auditor",
}

# Site roles that read every organization's connection log.
_SITE_READERS = frozenset({OWNER, AUDITOR})
# Organization roles that read that organization's connection log.
_ORGANIZATION_READERS = frozenset({ORGANIZATION_ADMIN, ORGANIZATION_AUDITOR})


def _memberships(user: User) -> list:
    # One query per request object: several role questions are asked while answering one read.
    cached = getattr(user, "_connlogs_memberships", None)
    if cached is None:
        cached = list(user.memberships.all())
        user._connlogs_memberships = cached
    return cached


def forget_memberships(user: User) -> None:
    """Drop the cached memberships after they were changed."""
    user.__dict__.pop("_connlogs_memberships", None)


def has_site_role(user: User, role: str) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and role in (user.site_roles or [])


def is_owner(user: User) -> bool:
    return has_site_role(user, OWNER)


def may_report_events(user: User) -> bool:
    return is_owner(user) or has_site_role(user, CONNECTION_REPORTER)


def readable_organization_ids(user: User) -> list[uuid.UUID] | None:
    """The organizations whose connection logs ``user`` may read.

    ``None`` means every organization (site owners and auditors); otherwise a list, possibly
    empty, of organization ids. Every read of connection logs goes through this answer.
    """
    if not getattr(user, "is_authenticated", False):
        return []
    if _SITE_READERS.intersection(user.site_roles or []):
        return None
    # Sorted: the same list is the same SQL (organization ids are written into it).
    return sorted(
        membership.organization_id
        for membership in _memberships(user)
        if _ORGANIZATION_READERS.intersection(membership.roles or [])
    )


def may_read_connection_logs(user: User) -> bool:
    readable = readable_organization_ids(user)
    return readable is None or bool(readable)


def may_reveal_identities(user: User) -> bool:
    """Whether ``user`` sees real identities in rows that data protection mode covers.

    Users with the site role ``identity-viewer`` do; so do site owners unless
    ``CONNLOGS_OWNERS_SEE_IDENTITIES`` is off. The role reveals; it does not grant reading:
    which rows a user reads is still ``readable_organization_ids``.
    """
    if has_site_role(user, IDENTITY_VIEWER):
        return True
    return is_owner(user) and settings.CONNLOGS_OWNERS_SEE_IDENTITIES


def access_log_organization_ids(user: User) -> list[uuid.UUID] | None:
    """The organizations whose reads ``user`` may see in the access log.

    ``None`` means every read (site owners); otherwise the organizations ``user`` administers
    (possibly none): an organization admin sees the reads that returned their organization's
    rows.
    """
    return administered_organization_ids(user)


def may_read_access_log(user: User) -> bool:
    scope = access_log_organization_ids(user)
    return scope is None or bool(scope)


def visible_organization_ids(user: User) -> list[uuid.UUID] | None:
    """Organizations ``user`` may see by name (members see their own); ``None`` means all."""
    if not getattr(user, "is_authenticated", False):
        return []
    if _SITE_READERS.intersection(user.site_roles or []):
        return None
    return [membership.organization_id for membership in _memberships(user)]


def may_manage_organization(user: User, organization_id: uuid.UUID) -> bool:
    """Site owners manage everything; an organization admin manages their organization."""
    if is_owner(user):
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    return any(
        membership.organization_id == organization_id
        and ORGANIZATION_ADMIN in (membership.roles or [])
        for membership in _memberships(user)
    )


def administered_organization_ids(user: User) -> list[uuid.UUID] | None:
    """The organizations ``user`` administers; ``None`` means all (site owners)."""
    if is_owner(user):
        return None
    if not getattr(user, "is_authenticated", False):
        return []
    return [
        membership.organization_id
        for membership in _memberships(user)
        if ORGANIZATION_ADMIN in (membership.roles or [])
    ]


def role_objects(names: list[str]) -> list[dict[str, str]]:
    """Site roles as the contract shows them: ``[{"name", "display_name"}]``."""
    return [{"name": name, "display_name": SITE_ROLES.get(name, name)} for name in names]


# --- the directory: users, organizations, members, workspaces ------------------------------
# Reads of directory objects answer 404 (not 403) to a caller who may not see the object, so
# that names cannot be probed; these questions decide what "may see" means.


def may_manage_users(user: User) -> bool:
    """Create users and set site roles: site owners only."""
    return is_owner(user)


def may_create_organizations(user: User) -> bool:
    return is_owner(user)


# Each ``visible_*`` answer is a filter (a ``Q``) on that model, or ``None`` for "all of
# them". Lookups by name or id apply it in the query itself, so an object the caller may not
# see is not found by the same query, at the same cost, as one that does not exist.
# ``NO_ID`` stands in for an empty list: ``IN ()`` would skip the query altogether.
NO_ID = uuid.UUID(int=0)


def visible_users(viewer: User) -> Q | None:
    """Users ``viewer`` may see: themselves; every user for site owners and auditors; the
    members of organizations whose log ``viewer`` reads (organization admins and auditors
    already see those members in the log)."""
    if not getattr(viewer, "is_authenticated", False):
        return Q(pk=None)
    readable = readable_organization_ids(viewer)
    if readable is None:
        return None
    themselves = Q(pk=viewer.pk)
    return themselves | Q(memberships__organization_id__in=readable) if readable else themselves


def visible_organizations(viewer: User) -> Q | None:
    """Organizations ``viewer`` may see by name (``visible_organization_ids``)."""
    visible = visible_organization_ids(viewer)
    return None if visible is None else Q(pk__in=visible or [NO_ID])


def visible_workspaces(viewer: User) -> Q | None:
    """Workspaces ``viewer`` may see: their own, and those of organizations whose log they
    read."""
    if not getattr(viewer, "is_authenticated", False):
        return Q(pk=None)
    readable = readable_organization_ids(viewer)
    if readable is None:
        return None
    return Q(owner_id=viewer.pk) | Q(organization_id__in=readable or [NO_ID])


def unknown_site_roles(names: list[str]) -> list[str]:
    return [name for name in names if name not in SITE_ROLES]


def unknown_organization_roles(names: list[str]) -> list[str]:
    return [name for name in names if name not in ORGANIZATION_ROLES]


def organization_role_objects(names: list[str], organization_id: uuid.UUID) -> list[dict[str, str]]:
    """Organization roles as a member object shows them."""
    return [
        {
            "name": name,
            "display_name": ORGANIZATION_ROLES.get(name, name),
            "organization_id": str(organization_id),
        }
        for name in names
    ]
