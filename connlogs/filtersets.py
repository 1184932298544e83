"""One FilterSet for connection logs: one filter per search key of the ``q`` language.

The API, the pages, the chart and the exports all build their rows with
``ConnectionLogFilterSet.from_query``; the error sentences are the contract's, word for word.
"""

from __future__ import annotations

import uuid

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import QueryDict

from connlogs import roles, search, values
from connlogs.models import AGENT_TYPES, ConnectionType, Organization, User


class KeyedField(forms.CharField):
    """A search-key value; its errors name the key as the contract's sentences do."""

    def __init__(self, *args, query_key: str = "", **kwargs):
        self.query_key = query_key
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        # Checked here, not by the validators that run after ``to_python``: subclasses look
        # values up in the database, and PostgreSQL refuses NUL in text (a 500, not a 400).
        if isinstance(value, str) and "\x00" in value:
            raise forms.ValidationError(ProhibitNullCharactersValidator.message)
        return value

    def invalid_value(self, value: str) -> forms.ValidationError:
        return forms.ValidationError(
            f"Query param {search.quote(self.query_key)} has invalid value: "
            f"{search.quote(value)} is not a valid value"
        )


class UUIDValueField(KeyedField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return values.parse_uuid(value)
        except ValueError:
            raise forms.ValidationError(
                f"Query param {search.quote(self.query_key)} must be a valid uuid"
            ) from None


class TimeValueField(KeyedField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return values.parse_rfc3339(value)
        except ValueError as error:
            raise forms.ValidationError(
                f"Query param {search.quote(self.query_key)} must be a valid date format "
                f"({values.RFC3339_LAYOUT}): {error}"
            ) from None


class ChoiceValueField(KeyedField):
    def __init__(self, *args, allowed: tuple[str, ...] = (), **kwargs):
        self.allowed = allowed
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        if value not in self.allowed:
            raise self.invalid_value(value)
        return value


class OrganizationValueField(KeyedField):
    """An organization UUID (any: scoping hides what the caller may not read) or a name
    looked up among the organizations the caller may see."""

    def __init__(self, *args, visible_ids: list[uuid.UUID] | None = None, **kwargs):
        self.visible_ids = visible_ids
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return values.parse_uuid(value)
        except ValueError:
            pass
        organizations = Organization.objects.filter(name=value)
        if self.visible_ids is not None:
            organizations = organizations.filter(id__in=self.visible_ids)
        found = organizations.values_list("id", flat=True).first()
        if found is None:
            raise forms.ValidationError(
                f"Query param {search.quote(self.query_key)} has invalid value: organization "
                f"{search.quote(value)} either does not exist, or you are unauthorized to view it"
            )
        return found


class KeyFilter(django_filters.Filter):
    field_class = KeyedField


class UUIDKeyFilter(KeyFilter):
    field_class = UUIDValueField


class TimeKeyFilter(KeyFilter):
    field_class = TimeValueField


class ChoiceKeyFilter(KeyFilter):
    field_class = ChoiceValueField


class OrganizationKeyFilter(KeyFilter):
    field_class = OrganizationValueField


STATUS_VALUES = ("ongoing", "completed")


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
        self.parse_errors: list[search.Validation] = []
        user = getattr(request, "user", None)
        for name, declared in self.filters.items():
            declared.extra["query_key"] = name
        self.filters["organization"].extra["visible_ids"] = (
            roles.visible_organization_ids(user) if user is not None else []
        )

    @classmethod
    def from_query(cls, q: str | None, queryset: QuerySet, request) -> ConnectionLogFilterSet:
        """Parse ``q`` and bind its terms; check ``validations`` before reading ``qs``."""
        parsed = search.parse(q, cls.base_filters)
        filterset = cls(parsed.terms, queryset, request=request)
        filterset.parse_errors = parsed.errors
        filterset.q = q or ""
        return filterset

    @property
    def validations(self) -> list[search.Validation]:
        """The contract's validations: each key's value errors, then unknown keys."""
        found = [
            search.Validation(field, str(message))
            for field, messages in self.form.errors.items()
            for message in messages
        ]
        return found + self.parse_errors

    @property
    def terms(self) -> dict[str, str]:
        return dict(self.data)

    # --- keys that resolve people first, so the main query filters on an indexed id ---

    def _caller_or_usernames(self, value: str) -> list:
        if value == "me":
            user = getattr(self.request, "user", None)
            return [user.pk] if getattr(user, "is_authenticated", False) else []
        # lower(username) = value uses the case-insensitive unique index (iexact's UPPER()
        # would scan every user); the q string is lower-cased already.
        found = User.objects.annotate(username_lower=Lower("username"))
        return list(found.filter(username_lower=value.lower()).values_list("id", flat=True))

    def _emails(self, value: str) -> list:
        return list(User.objects.filter(email=value.lower()).values_list("id", flat=True))

    def filter_workspace_owner(self, queryset, name, value):
        return queryset.filter(workspace_owner_id__in=self._caller_or_usernames(value))

    def filter_workspace_owner_email(self, queryset, name, value):
        return queryset.filter(workspace_owner_id__in=self._emails(value))

    def filter_username(self, queryset, name, value):
        return queryset.filter(user_id__in=self._caller_or_usernames(value))

    def filter_user_email(self, queryset, name, value):
        return queryset.filter(user_id__in=self._emails(value))

    def filter_status(self, queryset, name, value):
        # Web rows are point-in-time events: neither ongoing nor completed.
        return queryset.filter(
            type__in=sorted(AGENT_TYPES), disconnect_time__isnull=(value == "ongoing")
        )


def q_param(params: QueryDict) -> str:
    """The ``q`` of a query string, ``""`` when absent: the one place it is read.

    Given more than once, the first counts, as in Coder, whose handlers read it with Go's
    ``url.Values.Get`` (the first value); Django's ``QueryDict.get`` would take the last.
    """
    given = params.getlist("q")
    return given[0] if given else ""


def search_visible(request) -> ConnectionLogFilterSet:
    """The start of every read (API, export, list page, download): the rows the caller may
    see, narrowed by the request's ``q`` (``q_param``), which the result keeps as ``q``."""
    from connlogs.models import ConnectionLog

    visible = ConnectionLog.objects.visible_to(request.user)
    return ConnectionLogFilterSet.from_query(q_param(request.GET), visible, request)
