"""The value of each search key as a form field: parsing, lookups and the contract's sentences.

Each ``q`` key's value is cleaned by one of these fields (django-filter binds them to the
FilterSet's filters), so a bad value becomes the contract's validation, word for word, and
never reaches the database: NUL characters included, which PostgreSQL refuses in text.

A listable field reads ``a,b`` as either value and cleans to a tuple of items (empty items
are skipped); the others clean to one value. The sentences of Coder's keys are Coder's; the
keys that are ours add what a good value looks like.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import uuid
from dataclasses import dataclass

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.utils import timezone

from connlogs import values
from connlogs.models import Organization
from connlogs.search import grammar


@dataclass(frozen=True)
class CodeRange:
    """Inclusive bounds on a status or exit code; ``None`` is open (``>=400``: 400, None)."""

    low: int | None
    high: int | None


@dataclass(frozen=True)
class WorkspaceName:
    """``workspace:name`` or ``workspace:owner/name`` (lower-case, as ``q`` is)."""

    owner: str | None
    name: str


@dataclass(frozen=True)
class LengthComparison:
    """``duration:>8h``: ``operator`` is ``<``, ``<=``, ``>`` or ``>=``."""

    operator: str
    length: dt.timedelta


class KeyedField(forms.CharField):
    """A search-key value; its errors name the key as the contract's sentences do."""

    listable = True
    # The most items one value may list; None: as many as ``q`` takes (``grammar.MAX_VALUES``).
    max_items: int | None = None

    def __init__(self, *args, query_key: str = "", hint: str = "", **kwargs):
        self.query_key = query_key
        self.hint = hint
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        # Checked here, not by the validators that run after ``to_python``: subclasses look
        # values up in the database, and PostgreSQL refuses NUL in text (a 500, not a 400).
        if isinstance(value, str) and "\x00" in value:
            raise forms.ValidationError(ProhibitNullCharactersValidator.message)
        if value in self.empty_values:
            return None
        if not self.listable:
            return self.clean_item(value)
        parts = [part for part in value.split(",") if part]
        if self.max_items is not None and len(parts) > self.max_items:
            raise forms.ValidationError(
                f"Query param {grammar.quote(self.query_key)} lists {len(parts)} values: "
                f"at most {self.max_items} are compared at once"
            )
        items = tuple(self.clean_item(part) for part in parts)
        return items or None

    def clean_item(self, text: str):
        return text

    def invalid_value(self, value: str) -> forms.ValidationError:
        sentence = (
            f"Query param {grammar.quote(self.query_key)} has invalid value: "
            f"{grammar.quote(value)} is not a valid value"
        )
        return forms.ValidationError(f"{sentence} ({self.hint})" if self.hint else sentence)


class UUIDValueField(KeyedField):
    def to_python(self, value):
        self.in_list = isinstance(value, str) and "," in value
        return super().to_python(value)

    def clean_item(self, text):
        try:
            return values.parse_uuid(text)
        except ValueError:
            sentence = f"Query param {grammar.quote(self.query_key)} must be a valid uuid"
            if self.in_list:
                sentence += f": {grammar.quote(text)} is not one"
            raise forms.ValidationError(sentence) from None


class TimeValueField(KeyedField):
    """A time: RFC 3339 (Coder's form), a relative time or a bare date (ours).

    ``now`` is the search's one clock; ``end_of_day`` makes a bare date its last microsecond
    (``…_before`` keys, which are inclusive).
    """

    listable = False

    def __init__(self, *args, now: dt.datetime | None = None, end_of_day=False, **kwargs):
        self.now = now
        self.end_of_day = end_of_day
        super().__init__(*args, **kwargs)

    def clean_item(self, text):
        try:
            return values.parse_search_time(
                text, self.now or timezone.now(), end_of_day=self.end_of_day
            )
        except ValueError as error:
            raise forms.ValidationError(
                f"Query param {grammar.quote(self.query_key)} must be a valid date format "
                f"({values.RFC3339_LAYOUT}): {error}"
            ) from None


class ChoiceValueField(KeyedField):
    def __init__(self, *args, allowed: tuple[str, ...] = (), **kwargs):
        self.allowed = allowed
        super().__init__(*args, **kwargs)

    def clean_item(self, text):
        if text not in self.allowed:
            raise self.invalid_value(text)
        return text


class OrganizationValueField(KeyedField):
    """An organization UUID (any: scoping hides what the caller may not read) or a name
    looked up among the organizations the caller may see."""

    def __init__(self, *args, visible_ids: list[uuid.UUID] | None = None, **kwargs):
        self.visible_ids = visible_ids
        super().__init__(*args, **kwargs)

    def clean_item(self, text):
        try:
            return values.parse_uuid(text)
        except ValueError:
            pass
        organizations = Organization.objects.filter(name=text)
        if self.visible_ids is not None:
            organizations = organizations.filter(id__in=self.visible_ids)
        found = organizations.values_list("id", flat=True).first()
        if found is None:
            raise forms.ValidationError(
                f"Query param {grammar.quote(self.query_key)} has invalid value: organization "
                f"{grammar.quote(text)} either does not exist, or you are unauthorized to view it"
            )
        return found


class IPValueField(KeyedField):
    """An address (``10.1.2.3``, ``2001:db8::1``; ``localhost``) or a CIDR block, as a network
    (an address is its /32 or /128)."""

    def clean_item(self, text):
        try:
            if "/" in text:
                return values.parse_network(text)
            return ipaddress.ip_network(values.normalize_ip(text))
        except (ValueError, TypeError):
            raise self.invalid_value(text) from None


class WorkspaceValueField(KeyedField):
    def clean_item(self, text):
        parts = text.split("/")
        if len(parts) == 1:
            return WorkspaceName(None, text)
        if len(parts) == 2 and all(parts):
            return WorkspaceName(parts[0], parts[1])
        raise self.invalid_value(text)


_CODE_CLASS = re.compile(r"^([1-9])xx$")
_INTEGER = re.compile(r"^-?[0-9]{1,9}\Z")


class CodeValueField(KeyedField):
    """``404``, ``>=400`` (also ``>``, ``<``, ``<=``) and, with ``classes``, ``4xx``."""

    def __init__(self, *args, classes: bool = False, **kwargs):
        self.classes = classes
        super().__init__(*args, **kwargs)

    def clean_item(self, text):
        operator, number = values.split_comparison(text)
        code_class = _CODE_CLASS.match(number) if self.classes else None
        if code_class and operator == "=":
            low = int(code_class[1]) * 100
            return CodeRange(low, low + 99)
        if not _INTEGER.match(number):
            raise self.invalid_value(text)
        n = int(number)
        return {
            "=": CodeRange(n, n),
            ">": CodeRange(n + 1, None),
            ">=": CodeRange(n, None),
            "<": CodeRange(None, n - 1),
            "<=": CodeRange(None, n),
        }[operator]


class DurationValueField(KeyedField):
    # Each length is two conditions nested in the SQL (completed and ongoing sessions):
    # SQLite refused 500 of them (an expression 1,000 deep); no one compares 50 lengths.
    max_items = 50

    def clean_item(self, text):
        operator, length = values.split_comparison(text)
        if operator == "=":
            raise self.invalid_value(text)
        try:
            return LengthComparison(operator, values.parse_length(length))
        except ValueError:
            raise self.invalid_value(text) from None


class FreeTextField(KeyedField):
    """Words without a key: each word must match; ``a,b`` in a word is either."""

    listable = False

    def clean_item(self, text):
        words = tuple(tuple(part for part in word.split(",") if part) for word in text.split(" "))
        return tuple(word for word in words if word) or None


def form_validations(filterset, parse_errors: list) -> list[grammar.Validation]:
    """A bound FilterSet's validations in the contract's order: each key's value errors,
    then ``parse_errors`` (unknown keys, from the grammar)."""
    found = [
        grammar.Validation(field, str(message))
        for field, messages in filterset.form.errors.items()
        for message in messages
    ]
    return found + parse_errors
