"""One FilterSet for connection logs: one filter per search key of the ``q`` language.

Every door (the API list, the export, the list page, the chart, the download) reaches it
through ``connlogs.search.request.LogSearch``; the error sentences are the contract's, word
for word (the value fields in ``connlogs.search.fields``).
"""

from __future__ import annotations

import uuid

import django_filters
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from connlogs import roles
from connlogs.models import AGENT_TYPES, ConnectionType, User
from connlogs.privacy.resolve import resolve_person
from connlogs.search import grammar
from connlogs.search.fields import (
    ChoiceKeyFilter,
    KeyFilter,
    OrganizationKeyFilter,
    TimeKeyFilter,
    UUIDKeyFilter,
    form_validations,
)

STATUS_VALUES = ("ongoing", "completed")


def nobody(value: str) -> list[uuid.UUID]:
    """The ids to filter on when a person key names nobody: one id no user has (a version-5
    UUID; users' are version 4), derived from the value. The query then runs as it does for
    a real person with no rows (an empty ``IN ()`` would skip it and answer sooner, telling
    who exists), and each made-up name has its own id, as each person does (the chart's
    cache keys on the query's values)."""
    return [uuid.uuid5(roles.NO_ID, value)]


class ConnectionLogFilterSet(django_filters.FilterSet):
    organization = OrganizationKeyFilter(field_name="organization_id")
    workspace_owner = KeyFilter(method="filter_workspace_owner")
    workspace_owner_email = KeyFilter(method="filter_workspace_owner_email")
    type = ChoiceKeyFilter(field_name="type", allowed=tuple(ConnectionType.values))
    username = KeyFilter(method="filter_username")
    user_email = KeyFilter(method="filter_user_email")
    connected_after = TimeKeyFilter(field_name="connect_time", lookup_expr="gte")
    connected_before = TimeKeyFilter(field_name="connect_time", lookup_expr="lte")
    workspace_id = UUIDKeyFilter(field_name="workspace_id")
    connection_id = UUIDKeyFilter(field_name="connection_id")
    status = ChoiceKeyFilter(method="filter_status", allowed=STATUS_VALUES)

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.parse_errors: list[grammar.Validation] = []
        user = getattr(request, "user", None)
        for name, declared in self.filters.items():
            declared.extra["query_key"] = name
        self.filters["organization"].extra["visible_ids"] = (
            roles.visible_organization_ids(user) if user is not None else []
        )

    @classmethod
    def from_query(cls, q: str | None, queryset: QuerySet, request) -> ConnectionLogFilterSet:
        """Parse ``q`` and bind its terms; check ``validations`` before reading ``qs``."""
        parsed = grammar.parse(q, cls.base_filters)
        filterset = cls(parsed.terms, queryset, request=request)
        filterset.parse_errors = parsed.errors
        return filterset

    @property
    def validations(self) -> list[grammar.Validation]:
        """The contract's validations: each key's value errors, then unknown keys."""
        return form_validations(self, self.parse_errors)

    @property
    def terms(self) -> dict[str, str]:
        return dict(self.data)

    # --- keys that resolve people first, so the main query filters on an indexed id ---
    # Each returns at least one id (``nobody`` when nobody matches): the same query shape,
    # and the same cost, whether or not the person exists.

    def _caller_or_usernames(self, value: str) -> list:
        if value == "me":
            user = getattr(self.request, "user", None)
            return [user.pk] if getattr(user, "is_authenticated", False) else nobody(value)
        # lower(username) = value uses the case-insensitive unique index (iexact's UPPER()
        # would scan every user); the q string is lower-cased already.
        found = User.objects.annotate(username_lower=Lower("username"))
        ids = found.filter(username_lower=value.lower()).values_list("id", flat=True)
        return list(ids) or nobody(value)

    def _emails(self, value: str) -> list:
        ids = User.objects.filter(email=value.lower()).values_list("id", flat=True)
        return list(ids) or nobody(value)

    def _person(self, column: str, value: str, real_ids) -> Q:
        # ``me`` is the caller, whoever may see what; any other value may be a pseudonym
        # (data protection mode, connlogs.privacy.resolve).
        if value == "me":
            return Q(**{f"{column}__in": real_ids(value)})
        viewer = getattr(self.request, "user", None)
        return resolve_person(value, viewer, column=column, real_ids=real_ids)

    def filter_workspace_owner(self, queryset, name, value):
        return queryset.filter(self._person("workspace_owner_id", value, self._caller_or_usernames))

    def filter_workspace_owner_email(self, queryset, name, value):
        return queryset.filter(self._person("workspace_owner_id", value, self._emails))

    def filter_username(self, queryset, name, value):
        return queryset.filter(self._person("user_id", value, self._caller_or_usernames))

    def filter_user_email(self, queryset, name, value):
        return queryset.filter(self._person("user_id", value, self._emails))

    def filter_status(self, queryset, name, value):
        # Web rows are point-in-time events: neither ongoing nor completed.
        return queryset.filter(
            type__in=sorted(AGENT_TYPES), disconnect_time__isnull=(value == "ongoing")
        )
