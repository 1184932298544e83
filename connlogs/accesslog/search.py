"""Reading the access log: who may see which entries, and its own small search language.

Site owners see every entry; an organization admin sees the entries of reads that returned
their organization's rows (``roles.access_log_organization_ids``). ``q`` is written as the
connection log's is (``key:value`` terms, the same grammar), with these keys:

| key | value | matches |
|---|---|---|
| ``user`` | a username | reads by that account (case-insensitive) |
| ``door`` | ``api``, ``page``, ``detail``, ``api-export``, ... | reads through that door |
| ``revealed`` | ``true`` / ``false`` | reads that showed real identities in protected rows |
| ``organization`` | an organization's name or id | reads that returned its rows |
| ``row`` | a connection log's id | detail reads of that row |
| ``export`` | a file name or a SHA-256 | that export |
| ``after`` / ``before`` | RFC 3339 time, quoted | entries recorded then or later / earlier |
"""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import In

from connlogs import roles
from connlogs.models import AccessLogEntry, Organization, User
from connlogs.search import grammar
from connlogs.search.fields import (
    ChoiceValueField,
    OrganizationValueField,
    TimeValueField,
    UUIDValueField,
    form_validations,
)
from connlogs.search.filterset import KeyFilter

BOOLEANS = ("true", "false")


def visible_entries(user: User) -> QuerySet:
    """The entries ``user`` may read, newest first (none for anyone else)."""
    scope = roles.access_log_organization_ids(user)
    entries = AccessLogEntry.objects.order_by("-id")
    if scope is None:
        return entries
    if not scope:
        return entries.none()
    match = Q()
    for organization_id in scope:
        match |= Q(organizations__contains=str(organization_id))
    return entries.filter(match)


class AccessLogFilterSet(django_filters.FilterSet):
    """The access log's ``q``: each key's value may be a list, ``key:a,b`` (either), as in the
    connection log's; the meaning of each key is its ``q_<key>`` method."""

    user = KeyFilter()
    door = KeyFilter(ChoiceValueField, allowed=tuple(AccessLogEntry.Door.values))
    revealed = KeyFilter(ChoiceValueField, allowed=BOOLEANS)
    organization = KeyFilter(OrganizationValueField)
    row = KeyFilter(UUIDValueField)
    export = KeyFilter()
    after = KeyFilter(TimeValueField)
    before = KeyFilter(TimeValueField, end_of_day=True)

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.parse_errors: list[grammar.Validation] = []
        for name, declared in self.filters.items():
            declared.extra["query_key"] = name
        user = getattr(request, "user", None)
        self.filters["organization"].extra["visible_ids"] = (
            roles.visible_organization_ids(user) if user is not None else []
        )

    @classmethod
    def from_query(cls, q: str | None, request) -> AccessLogFilterSet:
        """``q`` parsed and bound to the entries the caller may read."""
        parsed = grammar.parse(q, cls.base_filters)
        filterset = cls(parsed.terms, visible_entries(request.user), request=request)
        filterset.parse_errors = parsed.errors
        return filterset

    @property
    def validations(self) -> list[grammar.Validation]:
        return form_validations(self, self.parse_errors)

    def condition(self, key: str, value) -> Q:
        """What ``key`` with its cleaned ``value`` matches (``KeyFilter`` asks)."""
        return getattr(self, f"q_{key}")(value)

    def q_user(self, names):
        # Compared case-insensitively.
        return Q(In(Lower("username"), [name.lower() for name in names]))

    def q_door(self, doors):
        return Q(door__in=doors)

    def q_revealed(self, flags):
        return Q(revealed__in=[flag == "true" for flag in flags])

    def q_organization(self, ids):
        either = Q()
        for organization_id in ids:
            either |= Q(organizations__contains=str(organization_id))
        return either

    def q_row(self, ids):
        return Q(row_id__in=ids)

    def q_export(self, names):
        return Q(export_sha256__in=names) | Q(export_name__in=names)

    def q_after(self, time):
        return Q(time__gte=time)

    def q_before(self, time):
        return Q(time__lte=time)


def organization_names(entries: list[AccessLogEntry]) -> dict[str, str]:
    """``{organization id: name}`` of the organizations these entries name (one query)."""
    ids = {pk for entry in entries for pk in entry.organization_ids}
    if not ids:
        return {}
    return {
        str(pk): name
        for pk, name in Organization.objects.filter(pk__in=ids).values_list("pk", "name")
    }
