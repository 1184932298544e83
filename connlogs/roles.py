"""Role names and the questions asked of them: the only module that knows what a role may do."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connlogs.models import User

OWNER = "owner"
AUDITOR = "auditor"
CONNECTION_REPORTER = "connection-reporter"
ORGANIZATION_ADMIN = "organization-admin"
ORGANIZATION_AUDITOR = "organization-auditor"

SITE_ROLES: dict[str, str] = {
    OWNER: "Owner",
    AUDITOR: "Auditor",
    CONNECTION_REPORTER: "Connection Reporter",
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
    return [
        membership.organization_id
        for membership in _memberships(user)
        if _ORGANIZATION_READERS.intersection(membership.roles or [])
    ]


def may_read_connection_logs(user: User) -> bool:
    readable = readable_organization_ids(user)
    return readable is None or bool(readable)


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


def role_objects(names: list[str]) -> list[dict[str, str]]:
    """Site roles as the contract shows them: ``[{"name", "display_name"}]``."""
    return [{"name": name, "display_name": SITE_ROLES.get(name, name)} for name in names]
