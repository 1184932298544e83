"""Who may see and change a stream: each answer asks ``connlogs.roles``.

Streams are scoped like readers who manage: a site owner sees and changes every stream and
may send any organization's rows (or all of them); an organization admin sees and changes the
streams of the organizations they administer, and every stream they create names one of them.
A stream reads in its creator's scope, narrowed to its organization.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from connlogs import roles
from connlogs.streams.models import Stream


def may_manage_streams(user: roles.User) -> bool:
    """Site owners and organization admins (of at least one organization)."""
    administered = roles.administered_organization_ids(user)
    return administered is None or bool(administered)


def visible_streams(user: roles.User) -> QuerySet:
    """The streams ``user`` may see, change, pause and delete."""
    administered = roles.administered_organization_ids(user)
    streams = Stream.objects.select_related("organization", "created_by")
    if administered is None:
        return streams
    return streams.filter(organization_id__in=administered or [roles.NO_ID])


def may_target(user: roles.User, organization_id: uuid.UUID | None) -> bool:
    """May ``user`` keep a stream of ``organization_id``'s rows (``None``: every
    organization's, site owners only)."""
    if organization_id is None:
        return roles.is_owner(user)
    return roles.may_manage_organization(user, organization_id)


def may_send_identities(user: roles.User) -> bool:
    """May ``user`` turn a stream's ``pseudonymised`` off (send protected rows' people and
    addresses in clear): a site owner who may see identities themselves."""
    return roles.is_owner(user) and roles.may_reveal_identities(user)
