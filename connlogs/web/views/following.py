"""The list page's follow mode: the change feed read for a browser, rows rendered as the list's.

``GET /connectionlog/changes?after=SEQ&q=…`` (or ``view=…``) answers the changes after
``SEQ`` whose rows the search matches, in the signed-in user's scope, each as the list's own
table row (``connlogs/_row.html``, so a followed row is escaped and worded exactly as a
listed one)::

    {"next": 81234,
     "rows": [{"seq": 81231, "action": "created", "id": "…", "day": "2026-11-29",
               "day_label": "Sunday, 29 November 2026", "html": "<tr class=\"log\" …>"}]}

``open=ID,ID,…`` (at most ``MAX_OPEN`` ids) names the sessions the page shows as ongoing: those
that have ended since and did not come as a change of the search (``status:ongoing`` no longer
matches a closed session) are answered too, ``"action": "closed"``, with ``"left": true`` when
the search no longer matches them, so the page shows them ended instead of ongoing forever.
Every entry carries its row's ``time`` (the connect time), by which the page places it.

Errors are JSON too: 400 ``{"message", "validations"}`` for a bad ``q``/``view``/``after``/
``open``, 410 with ``oldest_seq`` when retention removed changes not yet read (the page then
reloads).

Why polling and not server-sent events: the app runs on sync workers (gunicorn's default,
docs/deployment.md), where an open event stream holds a whole worker for as long as a page
is open; a read every few seconds costs one short request and one indexed range read.
"""

from __future__ import annotations

import uuid

from django.http import JsonResponse
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.views import View

from connlogs import roles
from connlogs.accesslog.record import record_changes
from connlogs.api.feed_views import BAD_PARAMS, parse_feed_params, past_the_end
from connlogs.feed.reading import AfterPastEnd, FeedTrimmed, read_changes
from connlogs.models import ConnectionLog, Organization
from connlogs.search import Validation
from connlogs.search.request import LogSearch
from connlogs.timebounds import localtime
from connlogs.values import format_time
from connlogs.web import links
from connlogs.web.tables import LogRow
from connlogs.web.views.base import DisplayTimezoneMixin, ReaderRequiredMixin

# A page asks for at most this many changes a read; a burst larger than that arrives over
# the next reads (``next`` moves on by the page).
FOLLOW_LIMIT = 200
# Sessions a page asks about at once: a page shows at most 100 rows of its own.
MAX_OPEN = 100


def shows_organization(user: roles.User) -> bool:
    """Does the list show an organization column for ``user`` (they read more than one)?"""
    organizations = Organization.objects.all()
    readable = roles.readable_organization_ids(user)
    if readable is not None:
        organizations = organizations.filter(id__in=readable)
    return organizations[:2].count() > 1


def _error(status: int, message: str, validations, **extra) -> JsonResponse:
    body = {
        "message": message,
        "validations": [{"field": v.field, "detail": v.detail} for v in validations],
    }
    return JsonResponse({**body, **extra}, status=status)


def _open_ids(params) -> tuple[list[uuid.UUID], list[Validation]]:
    """The ids of ``open`` (comma-separated UUIDs, at most ``MAX_OPEN``), or why not."""
    parts = [part for part in params.get("open", "").split(",") if part]
    if len(parts) > MAX_OPEN:
        return [], [Validation("open", f"At most {MAX_OPEN} sessions are asked about at once.")]
    try:
        return [uuid.UUID(part) for part in parts], []
    except ValueError:
        return [], [Validation("open", "Each value must be a connection log id (a UUID).")]


def _closed(search: LogSearch, open_ids, changed) -> list[tuple[ConnectionLog, bool]]:
    """The sessions of ``open_ids`` that have ended and are not among ``changed`` (ids), in
    the user's scope, each with whether the search still matches it."""
    wanted = [pk for pk in open_ids if str(pk) not in changed]
    if not wanted:
        return []
    rows = list(search.visible.with_related().filter(id__in=wanted, disconnect_time__isnull=False))
    ids = [row.id for row in rows]
    matching = set(search.matching.filter(id__in=ids).values_list("id", flat=True))
    return [(row, row.id in matching) for row in rows]


class FollowChangesView(ReaderRequiredMixin, DisplayTimezoneMixin, View):
    """The changes a following list page inserts; see the module's docstring for the shape."""

    def get(self, request):
        after, _, errors = parse_feed_params(request.GET)
        open_ids, open_errors = _open_ids(request.GET)
        if errors or open_errors:
            return _error(400, "Query parameters have invalid values.", errors + open_errors)
        search = LogSearch.from_request(request)
        if search.validations:
            return _error(400, "Invalid connection search query.", search.validations)
        try:
            page = read_changes(search, after=after, limit=FOLLOW_LIMIT)
        except AfterPastEnd as error:
            return _error(400, BAD_PARAMS, past_the_end(error))
        except FeedTrimmed as error:
            return _error(
                410,
                "The changes after this point were removed by retention.",
                [],
                oldest_seq=error.oldest_seq,
            )
        changed = {str(change.row.id) for change in page.changes}
        closed = _closed(search, open_ids, changed)
        # Pseudonyms where the list shows them, and the read on record (``record_changes``).
        shown = [search.identities.conceal_row(change.row) for change in page.changes]
        shown += [search.identities.conceal_row(row) for row, _ in closed]
        organizations = {row.organization_id for row in shown}
        record_changes(request, search.q, len(shown), organizations, search.identities)
        entry = _Entries(request, search)
        rows = [entry(change.row, seq=change.seq, action=change.action) for change in page.changes]
        rows += [entry(row, action="closed", left=not matches) for row, matches in closed]
        return JsonResponse({"next": page.next, "rows": rows})


class _Entries:
    """One followed row's JSON: ``seq`` (a change's), ``action``, ``id``, ``time``, ``day``,
    ``day_label`` and ``html``, the list's own table row with its links."""

    def __init__(self, request, search: LogSearch):
        self.request = request
        self.now = timezone.now()
        self.links = links.ListLinks(search.q)
        self.context = {"show_organization": shows_organization(request.user)}

    def __call__(self, row: ConnectionLog, **facts) -> dict:
        log = LogRow(row, self.now)
        log.filters = self.links.row_links(log)  # its values link as the page's own rows do
        day = localtime(row.connect_time).date()
        html = render_to_string(
            "connlogs/_row.html", {**self.context, "log": log}, request=self.request
        )
        return {
            **facts,
            "id": str(row.id),
            "time": format_time(row.connect_time),
            "day": day.isoformat(),
            "day_label": formats.date_format(day, "l, j F Y"),
            "html": html.strip(),
        }
