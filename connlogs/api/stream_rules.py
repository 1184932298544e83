"""The rules of a stream's fields, for every door (the API and the streams pages): a body
checked by ``StreamBodySerializer`` is applied here, checked against the rules that need the
caller or the other fields, and saved.

Raises ``ApiError`` (400, with ``validations`` by field; a search's validations name its
key, e.g. ``type``) or DRF's ``PermissionDenied`` (an organization the caller may not stream).
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied

from connlogs.api.errors import ApiError
from connlogs.api.lookups import resolve_organization
from connlogs.api.stream_serializers import START_OLDEST, destination_errors, unused_errors
from connlogs.feed.reading import latest_seq
from connlogs.privacy import outbound
from connlogs.privacy.shown_query import ShownQuery, kept_as_stored
from connlogs.savedviews.resolve import NOT_VISIBLE, find_view
from connlogs.search import Validation
from connlogs.search.request import LogSearch
from connlogs.streams import access
from connlogs.streams.models import Stream

# Streams one deployment keeps: each costs a worker's time; enough for any SIEM setup.
MAX_STREAMS = 200
NOT_YOURS = (
    "Organization admins stream their own organizations' rows (name one); site owners "
    "any organization's or all of them."
)
PLAIN_FIELDS = ("name", "kind", "url", "host", "port", "tls_ca", "batch_size")
# What a stream sends and where: kept as it is while it sends identities in clear, unless
# the editor may send them (``privacy.outbound``).
GUARDED_FIELDS = (*PLAIN_FIELDS, "q", "view", "organization_id", "secret_encrypted")
NOT_IN_CLEAR = "Protected rows are sent with pseudonyms unless a site owner turns this off."


def invalid(field: str, detail: str) -> ApiError:
    """A 400 naming one field."""
    return ApiError("Validation failed.", validations=[Validation(field, detail)])


def create_stream(request, data: dict) -> Stream:
    """A new stream of ``request.user`` from ``data`` (a valid ``StreamBodySerializer``
    body), starting at the feed's end unless ``start`` is ``"oldest"``; saved."""
    if Stream.objects.count() >= MAX_STREAMS:
        raise invalid("name", f"There are {MAX_STREAMS} streams already: delete some first.")
    stream = Stream(created_by=request.user, name=data["name"], kind=data["kind"])
    if data.get("start") != START_OLDEST:
        stream.cursor = latest_seq()
    return apply_changes(request, stream, data)


def apply_changes(request, stream: Stream, data: dict) -> Stream:
    """Set ``data`` (a valid body, whole or partial) on ``stream``, check every rule, save;
    answers the stream as ``access.visible_streams`` loads it. ``secret`` in ``data``
    replaces the secret (``""`` removes it); absent, the secret stays."""
    if "start" in data and not stream._state.adding:
        raise invalid("start", "Where a stream starts is chosen when it is created.")
    before = outbound.settings_of(stream, GUARDED_FIELDS)
    for name in PLAIN_FIELDS:
        if name in data:
            setattr(stream, name, data[name])
    if "secret" in data:
        stream.set_secret(data["secret"])
    _search(request, stream, data)
    _target(request, stream, data)
    _identities(request, stream, data)
    _check_steering(request, stream, before)
    errors = unused_errors(stream.kind, data, before) or destination_errors(stream)
    if errors:
        raise ApiError(
            "Validation failed.",
            validations=[Validation(field, detail) for field, detail in errors.items()],
        )
    if "paused" in data:
        set_paused(stream, data["paused"])
    stream.save()
    return access.visible_streams(request.user).get(pk=stream.pk)


def set_paused(stream: Stream, paused: bool) -> None:
    """Pause, or resume: due now, with the backoff forgotten. The caller saves."""
    stream.paused = paused
    if not paused:
        stream.next_attempt_at, stream.failures = timezone.now(), 0


def _search(request, stream: Stream, data: dict) -> None:
    """Set ``q`` / ``view`` from ``data``: one or the other, valid for the caller. A ``q`` that
    is the stored one as the caller was shown it leaves the stored one."""
    if "q" in data and kept_as_stored(ShownQuery.for_viewer(request.user), data["q"], stream.q):
        data = {name: value for name, value in data.items() if name != "q"}
    q, view = data.get("q", stream.q), data.get("view", stream.view)
    if "q" in data and data["q"].strip() and "view" not in data:
        view = ""  # a new q replaces the view
    if "view" in data and data["view"] and "q" not in data:
        q = ""
    if q.strip() and view:
        raise invalid("view", 'A stream follows a "q" or a "view", not both.')
    if "view" in data and view and find_view(view, request.user) is None:
        # Checked when set: a change of another field keeps a view the editor may not open
        # (the stream reads it as its creator; delivery reports a view that is gone).
        raise invalid("view", NOT_VISIBLE)
    if q:
        search = LogSearch.from_request(request, q=q)
        if search.validations:
            raise ApiError("Invalid connection search query.", validations=search.validations)
    stream.q, stream.view = q, view


def _target(request, stream: Stream, data: dict) -> None:
    if "organization" in data:
        organization = None
        if data["organization"]:
            try:
                organization = resolve_organization(request, data["organization"])
            except NotFound:
                raise invalid(
                    "organization", "No organization by that name or id that you can see."
                ) from None
        stream.organization = organization
    if not access.may_target(request.user, stream.organization_id):
        raise PermissionDenied(NOT_YOURS)


def _identities(request, stream: Stream, data: dict) -> None:
    """Set ``pseudonymised``: only a site owner who may see identities themselves may send
    them in clear (docs/privacy.md); anyone who manages the stream may turn it back on."""
    if "pseudonymised" not in data or data["pseudonymised"] == stream.pseudonymised:
        return
    if not data["pseudonymised"] and not access.may_send_identities(request.user):
        raise ApiError(
            "Only a site owner who may see identities may send them in clear.",
            status_code=status.HTTP_403_FORBIDDEN,
            validations=[Validation("pseudonymised", NOT_IN_CLEAR)],
        )
    stream.pseudonymised = data["pseudonymised"]


def _check_steering(request, stream: Stream, before: dict) -> None:
    """What a stream sends, and where, changes only by someone who sees what it reads, and
    for a stream sending identities in clear only by a site owner who may see them
    (``privacy.outbound``): a 403 otherwise."""
    editor = request.user
    refusal = ""
    if outbound.reads_beyond(editor, stream.created_by):
        refusal = outbound.READS_AS_CREATOR
    elif not stream.pseudonymised and outbound.protection_on():
        refusal = "" if access.may_send_identities(editor) else outbound.IN_CLEAR
    if not refusal:
        return
    after = outbound.settings_of(stream, GUARDED_FIELDS)
    try:
        outbound.check_unchanged(
            before, after, refusal, thing="stream", creator=stream.created_by.username
        )
    except outbound.SendsIdentities as refused:
        raise ApiError(str(refused), status_code=status.HTTP_403_FORBIDDEN) from None
