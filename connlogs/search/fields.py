"""The value of each search key as a form field: parsing, lookups and the contract's sentences.

Each ``q`` key's value is cleaned by one of these fields (django-filter binds them to the
FilterSet's filters), so a bad value becomes the contract's validation, word for word, and
never reaches the database: NUL characters included, which PostgreSQL refuses in text.
"""

from __future__ import annotations

import uuid

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator

from connlogs import values
from connlogs.models import Organization
from connlogs.search import grammar


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
            f"Query param {grammar.quote(self.query_key)} has invalid value: "
            f"{grammar.quote(value)} is not a valid value"
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
                f"Query param {grammar.quote(self.query_key)} must be a valid uuid"
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
                f"Query param {grammar.quote(self.query_key)} must be a valid date format "
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
                f"Query param {grammar.quote(self.query_key)} has invalid value: organization "
                f"{grammar.quote(value)} either does not exist, or you are unauthorized to view it"
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


def form_validations(filterset, parse_errors: list) -> list[grammar.Validation]:
    """A bound FilterSet's validations in the contract's order: each key's value errors,
    then ``parse_errors`` (unknown keys, from the grammar)."""
    found = [
        grammar.Validation(field, str(message))
        for field, messages in filterset.form.errors.items()
        for message in messages
    ]
    return found + parse_errors
