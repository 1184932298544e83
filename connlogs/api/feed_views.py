"""``GET /api/v2/connectionlog/changes``: the change feed, scoped and searched as the list is."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs import values
from connlogs.accesslog.record import record_changes
from connlogs.api.errors import ApiError
from connlogs.api.pagination import DEFAULT_LIMIT, single_param
from connlogs.api.saved_views import VIEW_PARAMETER
from connlogs.api.serializers import ConnectionLogSerializer, ErrorSerializer
from connlogs.api.views import Q_PARAMETER
from connlogs.feed.reading import AfterPastEnd, EntryReader, FeedTrimmed
from connlogs.search import Validation
from connlogs.search.request import LogSearch

SEQ_MAX = 2**63 - 1
BAD_PARAMS = "Query parameters have invalid values."


class ChangeSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["created", "updated"])
    connection_log = ConnectionLogSerializer(help_text="The row as it is now, not as it was.")


class ChangePageSerializer(serializers.Serializer):
    changes = ChangeSerializer(many=True)
    next = serializers.IntegerField(help_text="Pass it as `after` to read on.")


class FeedGoneSerializer(ErrorSerializer):
    oldest_seq = serializers.IntegerField(help_text="The oldest change still kept.")


def _whole_number(params, name: str, maximum: int, errors: list[Validation]) -> int | None:
    text = single_param(params, name, errors)
    if text == "":
        return None
    number = values.whole_number(text, maximum + 1)
    if number is None or number > maximum:
        errors.append(
            Validation(name, f'Query param "{name}" must be a whole number from 0 to {maximum}')
        )
        return None
    return number


def past_the_end(error: AfterPastEnd) -> list[Validation]:
    """The validation of an ``after`` past the feed's last entry (API and page feed)."""
    detail = f'Query param "after" is past the end of the change feed ({error.latest})'
    return [Validation("after", detail)]


def parse_feed_params(params) -> tuple[int | None, int, list[Validation]]:
    """``after`` (None when absent) and ``limit`` (0 or absent: 100) of a feed request, and
    their validations (``[]``: good)."""
    errors: list[Validation] = []
    after = _whole_number(params, "after", SEQ_MAX, errors)
    limit = _whole_number(params, "limit", settings.CONNLOGS_MAX_LIMIT, errors)
    return after, limit or DEFAULT_LIMIT, errors


class ConnectionLogChangesView(APIView):
    @extend_schema(
        operation_id="listConnectionLogChanges",
        summary="Follow the change feed: rows created or changed after a sequence number",
        description=(
            "Every row that ingest creates or changes (a connect, a disconnect closing a "
            "session) gets an entry with a strictly increasing `seq`, numbered in commit "
            "order: a follower that passes each answer's `next` as its next `after` sees every "
            "change once. Rows are scoped to the caller and filtered by `q` (or `view`) as "
            "the list is, and shown as they are now: an `updated` entry, or a `created` one "
            "read after the disconnect, shows the closed session. Without `after` the answer "
            "is empty and `next` is the current end (start following now); `after=0` starts "
            "at the oldest change kept. 410 when retention removed changes after `after`."
        ),
        parameters=[
            Q_PARAMETER,
            VIEW_PARAMETER,
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "format": "int64"},
                description="Answer the changes after this seq (a previous answer's `next`).",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 0, "maximum": settings.CONNLOGS_MAX_LIMIT},
                description="Changes per answer; 0 or missing means 100.",
            ),
        ],
        responses={
            200: ChangePageSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            410: FeedGoneSerializer,
        },
    )
    def get(self, request):
        after, limit, errors = parse_feed_params(request.query_params)
        if errors:
            raise ApiError(BAD_PARAMS, validations=errors)
        search = LogSearch.from_request(request)
        if search.validations:
            raise ApiError("Invalid connection search query.", validations=search.validations)
        try:
            page = EntryReader(search, request.user).page(after=after, limit=limit)
        except AfterPastEnd as error:
            raise ApiError(BAD_PARAMS, validations=past_the_end(error)) from None
        except FeedTrimmed as error:
            raise _gone(error) from None
        rows, organizations = len(page.entries), page.organizations
        record_changes(request, search.q, rows, organizations, search.identities)
        return Response({"changes": page.entries, "next": page.next})


def _gone(error: FeedTrimmed) -> ApiError:
    gone = ApiError(
        "The changes after this seq were removed by retention.",
        status_code=410,
        detail=(
            f"The oldest change kept is seq {error.oldest_seq}: read on with "
            f"after={error.oldest_seq - 1}, or start again without after."
        ),
        validations=[
            Validation("after", f'Query param "after" ({error.after}) is older than retention')
        ],
    )
    gone.body["oldest_seq"] = error.oldest_seq
    return gone
