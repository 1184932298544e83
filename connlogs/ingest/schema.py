"""What a connection event is, declared once: its shapes, fields, limits and normalisation.

The rules are those of shared/spec/write-api.md section 1. An event takes one of three
shapes, chosen by its ``type`` and ``action``:

* ``AgentConnect`` (ssh, vscode, jetbrains, reconnecting_pty; ``connect``): needs
  ``connection_id``; ``reason`` and ``exit_code`` belong to the disconnect, and the web
  fields to web events, so sending one is refused;
* ``AgentDisconnect`` (the same types; ``disconnect``): also takes ``reason`` and
  ``exit_code``;
* ``WebConnect`` (workspace_app, port_forwarding, tunnel): point-in-time, ``connect`` only;
  takes ``user_id``, ``user_agent``, ``slug_or_port`` and ``status_code``, not
  ``connection_id``, ``reason`` or ``exit_code``.

An event of no known type is read as ``_UnknownType``, so that its other fields are still
checked and every problem of a batch is reported at once. A field that does not apply is
typed ``None``: a null is accepted (it says nothing), any value is refused. Unknown fields
are refused. Text must be storable (no NUL, which PostgreSQL text refuses; no lone
surrogate, which UTF-8 cannot encode).

pydantic validates a whole batch in one call (``validate_batch``) and lists every error;
``connlogs.ingest.errors`` turns them into the contract's ``events[i].field`` sentences.
Times, UUIDs and addresses are read by ``connlogs.values``, the parsers the search language
uses, so both doors accept exactly the same text.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import socket
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StringConstraints,
    Tag,
    TypeAdapter,
)
from pydantic_core import PydanticCustomError

from connlogs import values
from connlogs.models import AGENT_TYPES, WEB_TYPES, ConnectionType

CONNECT = "connect"
DISCONNECT = "disconnect"
MAX_AGENT_NAME = 64
MAX_SLUG_OR_PORT = 256
MAX_TEXT = 4096
EXIT_CODES = (-(2**31), 2**31 - 1)
STATUS_CODES = (100, 599)
DEFAULT_STATUS_CODE = 200

AGENT_TYPE_VALUES = tuple(sorted(str(kind) for kind in AGENT_TYPES))
WEB_TYPE_VALUES = tuple(sorted(str(kind) for kind in WEB_TYPES))
TYPE_VALUES = tuple(ConnectionType.values)

# The error type our validators raise; its context carries the contract's sentence.
VALUE_ERROR = "connlogs_value"


def refuse(detail: str) -> PydanticCustomError:
    """The error a validator raises: ``detail`` is the sentence the client reads."""
    return PydanticCustomError(VALUE_ERROR, "{detail}", {"detail": detail})


@dataclass
class BatchContext:
    """What reading a batch needs besides its events, and what it noticed.

    ``now`` is the server's clock and ``latest`` the latest event time accepted (``now``
    plus the allowed clock skew), both aware; ``cosmetic`` is set when a cosmetic field was
    normalised away (an address that is none, text cut to its limit), so the batch is
    looked at again for its warnings.
    """

    now: dt.datetime
    latest: dt.datetime
    cosmetic: bool = False


# The batch being read, for the validators. Not pydantic's ``context``: a validator that takes
# it gets a ValidationInfo built for every call (0.3 µs each, thousands per batch).
_BATCH: ContextVar[BatchContext | None] = ContextVar("connlogs_ingest_batch", default=None)


def _noticed() -> None:
    """Say that a cosmetic field of the batch was changed (it gets a warning)."""
    batch = _BATCH.get()
    if batch is not None:
        batch.cosmetic = True


def duration(span: dt.timedelta) -> str:
    """A time span in words, to the two largest units: "3 days 2 hours", "45 seconds"."""
    left = max(int(span.total_seconds()), 0)
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {name}{'s' if count > 1 else ''}")
    return " ".join(parts[:2]) or "0 seconds"


# --- field types --------------------------------------------------------------------------

_NO_NUL = r"^[^\x00]*$"


def _text(max_length: int | None = MAX_TEXT, *, required: bool = False) -> Any:
    return Annotated[
        str,
        StringConstraints(min_length=1 if required else 0, max_length=max_length, pattern=_NO_NUL),
    ]


RequiredText = _text(required=True)
OptionalText = _text() | None
# Text of any length: what is longer than its limit is cut, not refused.
AnyLengthText = _text(None) | None

# Reporters send the same workspace ids and addresses over and over; both parsers are pure
# (a bad value raises, and an exception is never cached).
_parse_uuid = functools.lru_cache(maxsize=8192)(values.parse_uuid)
# Plain IPv6 text (hex digits and colons): what agents on tailnets report.
_PLAIN_IPV6 = re.compile(r"[0-9A-Fa-f:]{2,39}")


@functools.lru_cache(maxsize=8192)
def normalize_ip(text: str) -> str | None:
    """``values.normalize_ip``, with plain IPv6 text parsed by the C library.

    ``ipaddress`` takes 6 µs for an IPv6 address, ``inet_pton``/``inet_ntop`` 0.3 µs. For
    hex-and-colon text both accept the same addresses and write them the same way
    (tests/test_ingest_speed_paths.py compares them); the C library writes an IPv4-mapped
    address with a dotted tail, so those, anything else and every error are left to
    ``values.normalize_ip``.
    """
    if _PLAIN_IPV6.fullmatch(text):
        try:
            shown = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
        except OSError:
            shown = ""
        if shown and "." not in shown:
            return shown
    return values.normalize_ip(text)


def _time(text: str) -> dt.datetime:
    try:
        time = values.parse_rfc3339(text)
    except ValueError as error:
        raise refuse(f"Must be an RFC 3339 time: {error}") from None
    batch = _BATCH.get()
    if batch is not None and time > batch.latest:
        raise refuse(
            f"Is in the future: {duration(time - batch.now)} ahead of the server's clock, "
            f"where at most {duration(batch.latest - batch.now)} is accepted."
        )
    return time


def _uuid(text: str | None) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return _parse_uuid(text)
    except ValueError:
        raise refuse("Must be a valid UUID.") from None


def _ip(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return normalize_ip(text)
    except ValueError:
        # Cosmetic: the event is recorded with the address unknown, and a warning.
        _noticed()
        return None


def _empty_if_null(text: str | None) -> str:
    return text or ""


def _cut(limit: int) -> Any:
    def cut(text: str | None) -> str:
        if text is None:
            return ""
        if len(text) <= limit:
            return text
        # Cosmetic: the text is recorded cut to its limit, marked so, with a warning.
        _noticed()
        return text[:limit]

    return AfterValidator(cut)


def _ok_if_null(code: int | None) -> int:
    return DEFAULT_STATUS_CODE if code is None else code


def _integer(low: int, high: int) -> Any:
    return Annotated[int, Field(ge=low, le=high)]


Time = Annotated[RequiredText, AfterValidator(_time)]
RequiredUUID = Annotated[RequiredText, AfterValidator(_uuid)]
OptionalUUID = Annotated[OptionalText, AfterValidator(_uuid)]
# Any text: what is no address (a NUL included) is stored as unknown, so nothing of it is kept.
Address = Annotated[str | None, AfterValidator(_ip)]
# Part of the merge key, so never cut: a longer name is refused.
AgentName = _text(MAX_AGENT_NAME, required=True)
FreeText = Annotated[AnyLengthText, _cut(MAX_TEXT)]  # reason, user_agent (CUT_AT)
SlugOrPort = Annotated[AnyLengthText, _cut(MAX_SLUG_OR_PORT)]
ExitCode = _integer(*EXIT_CODES) | None
StatusCode = Annotated[_integer(*STATUS_CODES) | None, AfterValidator(_ok_if_null)]
Action = Literal["connect", "disconnect"]
AgentType = Literal[AGENT_TYPE_VALUES]  # type: ignore[valid-type]
WebType = Literal[WEB_TYPE_VALUES]  # type: ignore[valid-type]
AnyType = Literal[TYPE_VALUES]  # type: ignore[valid-type]
# A field that does not apply to the event's type or action: null says nothing (the field
# keeps its empty value), a value is refused ("Not allowed on ...").
NotApplicable = None
NotApplicableText = Annotated[None, AfterValidator(_empty_if_null)]


def _not_an_input(value: Any) -> Any:
    raise PydanticCustomError("extra_forbidden", "Extra inputs are not permitted")


# Set by ``validation`` on the events it cut; a key of that name in the input is unknown.
Truncated = Annotated[frozenset[str], PlainValidator(_not_an_input)]

# The most characters a text field takes (``validation`` names the limit it was over).
MAX_LENGTHS = {"agent_name": MAX_AGENT_NAME}
# Free text longer than this is cut to it (the row says so, and the answer warns).
CUT_AT = {"reason": MAX_TEXT, "user_agent": MAX_TEXT, "slug_or_port": MAX_SLUG_OR_PORT}
INTEGER_RANGES = {"exit_code": EXIT_CODES, "status_code": STATUS_CODES}


# --- the shapes ---------------------------------------------------------------------------


class Event(BaseModel):
    """A validated connection event (immutable); one of the shapes below.

    Every shape has every field, those that do not apply at their empty value: ``reason``,
    ``user_agent`` and ``slug_or_port`` are ``""`` when not sent, ``connection_id``,
    ``exit_code``, ``user_id`` and ``ip`` ``None``; ``status_code`` is 200 when a web event
    does not say. ``time`` is in UTC; ``ip`` is normalised (``localhost`` is 127.0.0.1,
    ports, brackets and zones dropped, IPv4-mapped addresses unmapped), ``None`` when it is
    not an address. ``truncated`` names the free-text fields that were cut to their limit
    (``CUT_AT``).
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    action: Action
    time: Time
    type: AnyType
    workspace_id: RequiredUUID
    agent_name: AgentName
    ip: Address = None
    connection_id: Any = None
    reason: Any = ""
    exit_code: Any = None
    user_id: Any = None
    user_agent: Any = ""
    slug_or_port: Any = ""
    status_code: Any = None
    truncated: Truncated = frozenset()

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID, str]:
        """What agent events merge on: (connection_id, workspace_id, agent_name)."""
        return (self.connection_id, self.workspace_id, self.agent_name)

    @property
    def is_web(self) -> bool:
        return self.type in WEB_TYPE_VALUES


class AgentConnect(Event):
    type: AgentType
    connection_id: RequiredUUID
    reason: NotApplicableText = ""
    exit_code: NotApplicable = None
    user_id: NotApplicable = None
    user_agent: NotApplicableText = ""
    slug_or_port: NotApplicableText = ""
    status_code: NotApplicable = None


class AgentDisconnect(AgentConnect):
    reason: FreeText = ""
    exit_code: ExitCode = None


class WebConnect(Event):
    action: Literal["connect"]
    type: WebType
    connection_id: NotApplicable = None
    reason: NotApplicableText = ""
    exit_code: NotApplicable = None
    user_id: OptionalUUID = None
    user_agent: FreeText = ""
    slug_or_port: SlugOrPort = ""
    status_code: StatusCode = DEFAULT_STATUS_CODE


class _UnknownType(Event):
    """An event whose ``type`` is missing or unknown: never valid, read for its other errors.

    The fields that depend on the type are not checked, except the agent's disconnect
    fields, whose rules are the same whatever the type.
    """

    reason: FreeText = ""
    exit_code: ExitCode = None


AGENT_CONNECT, AGENT_DISCONNECT, WEB, UNKNOWN_TYPE = "agent", "agent_disconnect", "web", "unknown"
_AGENT_SET, _WEB_SET = frozenset(AGENT_TYPE_VALUES), frozenset(WEB_TYPE_VALUES)


def shape_of(raw: Any) -> str | None:
    """Which shape reads ``raw``: by its type, and for agent types its action; None when it
    is not an object."""
    if type(raw) is not dict:
        return None
    kind = raw.get("type")
    if type(kind) is str:
        if kind in _AGENT_SET:
            return AGENT_DISCONNECT if raw.get("action") == DISCONNECT else AGENT_CONNECT
        if kind in _WEB_SET:
            return WEB
    return UNKNOWN_TYPE


NOT_AN_OBJECT = "Each event must be a JSON object."
AnyEvent = Annotated[
    Annotated[AgentConnect, Tag(AGENT_CONNECT)]
    | Annotated[AgentDisconnect, Tag(AGENT_DISCONNECT)]
    | Annotated[WebConnect, Tag(WEB)]
    | Annotated[_UnknownType, Tag(UNKNOWN_TYPE)],
    Discriminator(shape_of, custom_error_type="not_an_object", custom_error_message=NOT_AN_OBJECT),
]
_BATCH_OF_EVENTS = TypeAdapter(list[AnyEvent])


def read_batch(raw_events: list, batch: BatchContext) -> list[Event]:
    """The events of a batch (decoded JSON), read by the schema in one call.

    Raises pydantic's ``ValidationError`` listing every error; ``batch.cosmetic`` says
    whether a cosmetic field was changed.
    """
    token = _BATCH.set(batch)
    try:
        return _BATCH_OF_EVENTS.validate_python(raw_events)
    finally:
        _BATCH.reset(token)
