"""The list page's follow mode: the change feed read for a browser, rows rendered as the list's.

``GET /connectionlog/changes?after=SEQ&q=…`` (or ``view=…``) answers the changes after
``SEQ`` whose rows the search matches, in the signed-in user's scope, each as the list's own
table row (``connlogs/_row.html``, so a followed row is escaped and worded exactly as a
listed one)::

    {"next": 81234,
     "rows": [{"seq": 81231, "action": "created", "id": "…", "day": "2026-11-29",
               "day_label": "Sunday, 29 November 2026", "html": "<tr class=\"log\" …>"}]}

Errors are JSON too: 400 ``{"message", "validations"}`` for a bad ``q``/``view``/``after``,
410 with ``oldest_seq`` when retention removed changes not yet read (the page then reloads).

Why polling and not server-sent events: the app runs on sync workers (gunicorn's default,
docs/deployment.md), where an open event stream holds a whole worker for as long as a page
is open; a read every few seconds costs one short request and one indexed range read.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.views import View

from connlogs import roles
from connlogs.accesslog.record import record_changes
from connlogs.api.feed_views import parse_feed_params
from connlogs.feed.reading import AfterPastEnd, FeedTrimmed, read_changes
from connlogs.models import Organization
from connlogs.search.request import LogSearch
from connlogs.timebounds import localtime
from connlogs.web import links
from connlogs.web.tables import LogRow
from connlogs.web.views.base import DisplayTimezoneMixin, ReaderRequiredMixin

# A page asks for at most this many changes a read; a burst larger than that arrives over
# the next reads (``next`` moves on by the page).
FOLLOW_LIMIT = 200


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


class FollowChangesView(ReaderRequiredMixin, DisplayTimezoneMixin, View):
    """The changes a following list page inserts; see the module's docstring for the shape."""

    def get(self, request):
        after, _, errors = parse_feed_params(request.GET)
        if errors:
            return _error(400, "Query parameters have invalid values.", errors)
        search = LogSearch.from_request(request)
        if search.validations:
            return _error(400, "Invalid connection search query.", search.validations)
        try:
            page = read_changes(search, after=after, limit=FOLLOW_LIMIT)
        except AfterPastEnd as error:
            return _error(400, f"after is past the end of the change feed ({error.latest}).", [])
        except FeedTrimmed as error:
            return _error(
                410,
                "The changes after this point were removed by retention.",
                [],
                oldest_seq=error.oldest_seq,
            )
        now = timezone.now()
        context = {"show_organization": shows_organization(request.user)}
        link = links.ListLinks(search.q)
        rows = []
        # Pseudonyms where the list shows them, and the read on record (``record_changes``).
        shown = [search.identities.conceal_row(change.row) for change in page.changes]
        organizations = {row.organization_id for row in shown}
        record_changes(request, search.q, len(shown), organizations, search.identities)
        for change in page.changes:
            log = LogRow(change.row, now)
            log.filters = link.row_links(log)  # its values link as the page's own rows do
            day = localtime(change.row.connect_time).date()
            rows.append(
                {
                    "seq": change.seq,
                    "action": change.action,
                    "id": str(change.row.id),
                    "day": day.isoformat(),
                    "day_label": formats.date_format(day, "l, j F Y"),
                    "html": render_to_string(
                        "connlogs/_row.html", {**context, "log": log}, request=request
                    ).strip(),
                }
            )
        return JsonResponse({"next": page.next, "rows": rows})
