"""Who may see, change and share a saved view: each answer asks ``connlogs.roles``.

* a personal view: its owner only (site owners included: personal means personal);
* a view shared with an organization: seen by whoever may see that organization (its members,
  site owners and auditors), changed by those who manage it (its admins, site owners);
* a view shared with everyone: seen by every signed-in user, changed by site owners;
* built-in views (``presets``): seen by everyone, changed by no one.

Seeing a view never widens what its rows are: a view is a ``q``, read in the reader's scope.
"""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from connlogs import roles
from connlogs.savedviews.models import SavedView, Sharing


def visible_views(user: roles.User) -> QuerySet:
    """The saved views ``user`` may see (open, list, choose as their start view)."""
    if not getattr(user, "is_authenticated", False):
        return SavedView.objects.none()
    organizations = roles.visible_organization_ids(user)
    in_organization = Q(sharing=Sharing.ORGANIZATION)
    if organizations is not None:
        in_organization &= Q(organization_id__in=organizations or [roles.NO_ID])
    return SavedView.objects.filter(
        Q(sharing=Sharing.PERSONAL, owner_id=user.pk)
        | Q(sharing=Sharing.EVERYONE)
        | in_organization
    )


def may_share(user: roles.User, sharing: str, organization_id: uuid.UUID | None) -> bool:
    """May ``user`` keep a view with this sharing: anyone signed in keeps personal views; an
    organization's admins (and site owners) share with it; site owners share with everyone."""
    if not getattr(user, "is_authenticated", False):
        return False
    if sharing == Sharing.PERSONAL:
        return True
    if sharing == Sharing.ORGANIZATION:
        return organization_id is not None and roles.may_manage_organization(user, organization_id)
    return roles.is_owner(user)


def may_change(user: roles.User, view: SavedView) -> bool:
    """May ``user`` rename, edit, reassign or delete ``view`` (one they can see)."""
    if view.sharing == Sharing.PERSONAL:
        return view.owner_id == user.pk
    return may_share(user, view.sharing, view.organization_id)


def may_see(user: roles.User, view: SavedView) -> bool:
    """``visible_views`` as a question about one view, saved or not yet: may ``user`` (a new
    owner, say) see ``view`` with its current sharing?"""
    if not getattr(user, "is_authenticated", False):
        return False
    if view.sharing == Sharing.PERSONAL:
        return view.owner_id == user.pk
    if view.sharing == Sharing.EVERYONE:
        return True
    organizations = roles.visible_organization_ids(user)
    return organizations is None or view.organization_id in organizations
