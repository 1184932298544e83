"""A batch of raw events in, validated events or the contract's errors out.

``validate_events`` checks the envelope (a list of 1 to ``max_events``), lets the schema
(``connlogs.ingest.schema``) read every event in one pass, and on failure turns every error
pydantic found into a ``Validation`` named ``events[i].field`` with the sentence the API has
always answered (tests/api/test_events_api.py pins them). Within an event the errors come
in the order of the fields, then unknown fields, then fields that do not apply.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import pydantic
from django.conf import settings
from django.utils import timezone

from connlogs.ingest import schema
from connlogs.search import Validation

REQUIRED = "This field is required."
NOT_A_STRING = "Must be a string."
NOT_STORABLE = "Must be valid UTF-8 text without NUL characters."
UNKNOWN_FIELD = "Unknown field."
ACTION_ERROR = 'Must be "connect" or "disconnect".'
WEB_ACTION_ERROR = 'Web events are point-in-time: action must be "connect".'
TYPE_ERROR = "Must be one of " + ", ".join(schema.TYPE_VALUES) + "."
NOT_AN_ADDRESS = "Not an IPv4 or IPv6 address: recorded as unknown."

# Where an event's errors go in its list: its fields in this order, with unknown fields,
# fields that do not apply and a web event's disconnect between the common fields and the
# fields that depend on the type.
_ORDER = ["action", "time", "type", "workspace_id", "agent_name", "ip"]
_UNKNOWN, _NOT_APPLICABLE, _WEB_DISCONNECT = len(_ORDER), len(_ORDER) + 1, len(_ORDER) + 2
_ORDER += ["", "", ""]
_ORDER += ["connection_id", "reason", "exit_code", "user_id"]
_ORDER += ["user_agent", "slug_or_port", "status_code"]
_RANK = {name: rank for rank, name in enumerate(_ORDER) if name}


class EventValidationError(Exception):
    """A batch with bad events; ``validations`` names each as ``events[i].field``."""

    def __init__(self, validations: list[Validation]):
        self.validations = validations
        super().__init__("; ".join(f"{v.field}: {v.detail}" for v in validations))


class ValidatedBatch(NamedTuple):
    """A batch that may be recorded: its events in order, and the warnings about their
    cosmetic fields (``events[i].field``: an address stored as unknown, text cut)."""

    events: list[schema.Event]
    warnings: list[Validation]


def validate_events(raw_events: Any, *, max_events: int = 1000) -> ValidatedBatch:
    """Every event of a batch (``schema.Event`` instances, in order), with its warnings.

    ``raw_events`` is the decoded JSON of ``"events"``. An event time may be at most
    ``CONNLOGS_MAX_CLOCK_SKEW`` seconds ahead of the server's clock. Raises
    ``EventValidationError`` listing every bad field of every event, or the envelope's one
    error.
    """
    if not isinstance(raw_events, list):
        raise EventValidationError([Validation("events", "Must be a list of events.")])
    if not 1 <= len(raw_events) <= max_events:
        raise EventValidationError(
            [Validation("events", f"Send from 1 to {max_events} events in one batch.")]
        )
    now = timezone.now()
    context = schema.BatchContext(
        now=now, latest=now + dt.timedelta(seconds=settings.CONNLOGS_MAX_CLOCK_SKEW)
    )
    try:
        events = schema.read_batch(raw_events, context)
    except pydantic.ValidationError as error:
        raise EventValidationError(validations(error.errors(), raw_events)) from None
    if not context.cosmetic:
        return ValidatedBatch(events, [])
    return _cosmetic(events, raw_events)


def _cosmetic(events: list[schema.Event], raw_events: list) -> ValidatedBatch:
    """The batch with its cut events marked, and a warning for each field that was changed.

    Only batches in which the schema changed a cosmetic field come here (a valid batch's
    raw events are all objects).
    """
    warnings = []
    for index, raw in enumerate(raw_events):
        event = events[index]
        address = raw.get("ip")
        if event.ip is None and address and not address.isspace():
            warnings.append(Validation(f"events[{index}].ip", NOT_AN_ADDRESS))
        cut = set()
        for name, limit in schema.CUT_AT.items():
            text = raw.get(name)
            if isinstance(text, str) and len(text) > limit:
                cut.add(name)
                warnings.append(
                    Validation(
                        f"events[{index}].{name}",
                        f"Longer than {limit} characters ({len(text)} sent): recorded cut to "
                        f"{limit}, and the connection log is marked as truncated.",
                    )
                )
        if cut:
            events[index] = event.model_copy(update={"truncated": frozenset(cut)})
    return ValidatedBatch(events, warnings)


def validations(errors: list[dict], raw_events: list) -> list[Validation]:
    """pydantic's ``errors()`` of a batch as the contract's validations, in order."""
    ranked = []
    for error in errors:
        index, *where = error["loc"]
        if not where:  # the event itself (not an object)
            ranked.append(((index, -1, ""), Validation(f"events[{index}]", error["msg"])))
            continue
        shape, name = where[0], where[1]
        rank, detail = _explain(error, shape, str(name), raw_events[index])
        shown = _field_name(name)
        ranked.append(((index, rank, shown), Validation(f"events[{index}].{shown}", detail)))
    ranked.sort(key=lambda item: item[0])
    return [validation for _, validation in ranked]


def _explain(error: dict, shape: str, name: str, raw: dict) -> tuple[int, str]:
    """(rank, sentence) of one field's error."""
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return _UNKNOWN, UNKNOWN_FIELD
    if kind == "none_required":
        action, event_type = _text_or_empty(raw.get("action")), raw.get("type")
        return _NOT_APPLICABLE, f"Not allowed on a {action or 'this'} event of type {event_type}."
    rank = _RANK.get(name, len(_ORDER))
    if kind == "missing":
        return rank, REQUIRED
    if name in schema.INTEGER_RANGES:
        low, high = schema.INTEGER_RANGES[name]
        return rank, f"Must be an integer from {low} to {high}."
    problem = text_problem(value, schema.MAX_LENGTHS.get(name, schema.MAX_TEXT))
    if problem:
        return rank, problem
    if kind == schema.VALUE_ERROR:
        return rank, error["ctx"]["detail"]
    if name == "action":
        if shape == schema.WEB and value == schema.DISCONNECT:
            return _WEB_DISCONNECT, WEB_ACTION_ERROR
        return rank, ACTION_ERROR
    if name == "type":
        return rank, TYPE_ERROR
    return rank, error["msg"]


def storable(text: str) -> bool:
    """Whether PostgreSQL can store ``text``: no NUL, no lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return False
    if text.isascii():  # a flag of the string: no need to encode a huge one
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(value: Any, max_length: int) -> str | None:
    """What is wrong with a text field's value as text, or None."""
    if value is None or value == "":
        return REQUIRED
    if not isinstance(value, str):
        return NOT_A_STRING
    if not storable(value):
        return NOT_STORABLE
    if len(value) > max_length:
        return f"Must be at most {max_length} characters."
    return None


def _text_or_empty(value: Any) -> str:
    return value if isinstance(value, str) and storable(value) else ""


def _field_name(name: Any) -> str:
    """A key as it can be shown back in an error (and encoded as UTF-8)."""
    text = str(name)[:100]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
