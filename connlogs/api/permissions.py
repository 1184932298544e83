"""DRF permission classes: thin doors onto the questions answered in ``connlogs.roles``.

DRF answers a failed permission with 401 when nobody signed in and 403 otherwise.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from connlogs import roles


class _SignedIn(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated) and self.allows(user)

    def allows(self, user) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError


class MayReportEvents(_SignedIn):
    message = "Only site owners and connection reporters may send connection events."

    def allows(self, user) -> bool:
        return roles.may_report_events(user)


class MayManageUsers(_SignedIn):
    message = "Only site owners may create users or change site roles."

    def allows(self, user) -> bool:
        return roles.may_manage_users(user)


class MayCreateOrganizations(_SignedIn):
    message = "Only site owners may create organizations."

    def allows(self, user) -> bool:
        return roles.may_create_organizations(user)


class MayReadAccessLog(_SignedIn):
    message = "Only site owners and organization admins may read the access log."

    def allows(self, user) -> bool:
        return roles.may_read_access_log(user)
