"""The connection-log pages: the list (search, menus, chart, table, paging), one log, download.

Every page starts where the API starts: ``LogSearch.from_request(request)`` scopes the rows
to what the user may read and applies ``q`` through the one FilterSet. The pages only add
presentation: paging, the chart, the menus and the links, each read from that one value.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from connlogs import export, retention, roles, timebounds
from connlogs.accesslog.record import Door, record_rows
from connlogs.api.export_views import parse_options
from connlogs.api.serializers import connection_log_entries
from connlogs.feed.reading import latest_seq
from connlogs.models import ConnectionLog, Organization, User, Workspace
from connlogs.privacy.identities import Identities
from connlogs.savedviews.resolve import search_query, start_view
from connlogs.search.request import LogSearch, query_text
from connlogs.values import format_time
from connlogs.web import charts, links, menus, params, presets, viewsmenu
from connlogs.web.chart_rollups import RollupSearch
from connlogs.web.tables import LogRow, group_by_day, parsed_user_agent
from connlogs.web.views.base import DisplayTimezoneMixin, ReaderRequiredMixin, display_zone_name
from connlogs.web.views.paging import PageRequest, paginate

# The detail page's "nearby" link: this much before the connection and after it ended.
NEARBY = dt.timedelta(minutes=30)
# Menus list at most this many choices; beyond that, type into the search box.
MENU_LIMIT = 500
# The title over the errors the list page shows: the search's (else params.ADDRESS_ERRORS).
SEARCH_ERRORS = "Invalid connection search query."


def readable_organizations(user: User):
    readable = roles.readable_organization_ids(user)
    organizations = Organization.objects.order_by("name")
    if readable is not None:
        organizations = organizations.filter(id__in=readable)
    return list(organizations[:MENU_LIMIT])


def owner_usernames(user: User, identities: Identities) -> list[str]:
    """Owners of workspaces in the organizations ``user`` reads: the owner menu's hints, as
    ``identities`` shows them (pseudonyms in organizations under data protection mode)."""
    readable = roles.readable_organization_ids(user)
    owners = Workspace.objects.all()
    if readable is not None:
        owners = owners.filter(organization_id__in=readable)
    found = (
        owners.order_by("owner__username")
        .values_list("owner_id", "owner__username", "organization__data_protection")
        .distinct()[:MENU_LIMIT]
    )
    names = {
        identities.user(owner_id).username
        if identities.conceals(identities.protects_flag(protected))
        else username
        for owner_id, username, protected in found
    }
    return sorted(names)


class ConnectionLogListView(ReaderRequiredMixin, DisplayTimezoneMixin, View):
    template_name = "connlogs/list.html"

    def get(self, request):
        now = timezone.now()
        size = links.page_size(request.GET.get("per_page"))
        page_request, address_errors = PageRequest.from_params(request.GET)
        address_errors += params.choice(request.GET, "per_page", map(str, links.PAGE_SIZES))
        if menus.is_submission(request.GET):
            address_errors += menus.submission_errors(request.GET)
            if not address_errors:
                # A filter form: write the menus into q, then show the clean address of it.
                return redirect(links.list_url(menus.submitted_q(request.GET), size))

        start = start_view(request.user)
        if start is not None and not request.GET:
            # The plain address opens the user's start view, if they chose one.
            return redirect(links.list_url(view=viewsmenu.view_id(start)))

        # The feed's position is read before the rows: a change committed in between is
        # then shown twice (the page replaces a row it already has), never missed.
        feed_next = latest_seq()
        found = LogSearch.from_request(request)
        q = found.q.strip()
        organizations = readable_organizations(request.user)
        saved = viewsmenu.views_menu(
            request.user, request.GET.get("view", ""), organizations, start
        )
        if saved.current and saved.current.page_size and "per_page" not in request.GET:
            size = saved.current.page_size
        link = links.ListLinks(q, size)
        clear_url = links.list_url("", size)
        if saved.start_id and "?" not in clear_url:
            clear_url += "?q="  # the plain address would open the start view again
        context = {
            "q": q,
            "size": size,
            "validations": [*found.validations, *address_errors],
            "validations_title": SEARCH_ERRORS if found.validations else params.ADDRESS_ERRORS,
            "address_fix_url": _without_bad_values(request, q, size)
            if address_errors and found.is_valid
            else "",
            "menus": menus.SearchMenus.for_search(
                found, organizations, owner_usernames(request.user, found.identities), now
            ),
            "clear_url": clear_url,
            "chips": link.chips(),
            "presets": presets.preset_links(q, size),
            "zone_name": display_zone_name(request),
            "is_filtered": bool(q),
            "saved": saved,
            "saved_groups": [
                ("Mine", saved.mine),
                ("Shared with me", saved.shared),
                ("Built in", saved.built_in),
            ],
            "hidden_columns": viewsmenu.hidden_columns(saved.current),
            "feed_next": feed_next,
            "changes_url": reverse("connectionlog-changes"),
            "feed_params": urlencode({"q": q}) if q else "",
        }
        if context["validations"]:
            return render(request, self.template_name, context, status=400)

        page = paginate(
            found,
            page_request,
            size=size,
            cap=settings.CONNLOGS_COUNT_CAP,
            url=link.page,
        )
        chart = charts.build_chart(
            found.matching,
            after=found.window.after,
            before=found.window.before,
            now=now,
            rollup=RollupSearch.for_search(found),
            link=lambda start, end: link.narrowed(
                connected_after=format_time(start), connected_before=format_time(end)
            ),
        )
        rows = [found.identities.conceal_row(row) for row in page.rows]
        context.update(
            page=page,
            days=group_by_day(_linked_rows(rows, link, now)),
            chart=chart,
            started_before=_started_before(found, page, chart),
            chart_legend=[(item, link.narrowed(type=item.type)) for item in chart.legend]
            if chart
            else [],
            show_organization=len(organizations) > 1,
            empty=_empty_state(page, found),
            notices=found.notices,
            size_urls=[(option, link.sized(option)) for option in links.PAGE_SIZES],
            first_page_url=link.page(),
            export_csv_url=link.export(export.CSV),
            export_excel_url=link.export(export.CSV, bom=True),
            export_ndjson_url=link.export(export.NDJSON),
            retention=retention.summary(found.visible),
            concealed=any(row.identities_concealed for row in rows),
        )
        record_rows(request, Door.PAGE, q, rows, found.identities)
        return render(request, self.template_name, context)


def _without_bad_values(request, q: str, size: int) -> str:
    """The list's address for the same search (its saved view, when it came from one) and a
    valid page size, without the parameters that could not be read."""
    view = request.GET.get("view", "")
    return links.list_url(size=size, view=view) if view else links.list_url(q, size)


def _linked_rows(rows, link: links.ListLinks, now: dt.datetime) -> list[LogRow]:
    """The page's rows as shown, each with ``filters``: ``{part: address}`` of this search
    narrowed to its owner, workspace, agent, IP, user, type and result."""
    shown = []
    for row in rows:
        log = LogRow(row, now)
        log.filters = link.row_links(log)
        shown.append(log)
    return shown


def _empty_state(page, found: LogSearch) -> str:
    """Why the table is empty, in the words the page uses: "" when it is not."""
    if page.rows:
        return ""
    if page.count:
        return "page"  # rows exist, but not this far
    if not found.q.strip() or not found.visible.exists():
        return "none"  # nothing recorded that this user may read
    return "filter"


class ConnectionLogDetailView(ReaderRequiredMixin, DisplayTimezoneMixin, View):
    template_name = "connlogs/detail.html"

    def get(self, request, pk):
        row = (
            ConnectionLog.objects.visible_to(request.user)
            .with_related()
            .select_related("workspace")
            .filter(pk=pk)
            .first()
        )
        if row is None:
            raise Http404("No connection log with that id that you may read.")
        identities = Identities.for_viewer(request.user)
        entry = connection_log_entries([row], request.user, identities)[0]
        log = LogRow(row)  # concealed by connection_log_entries, as the JSON is
        only = _show_only_links(row)
        back_url = _back_url(request)
        # The values link to the list the user came from, narrowed to them or leaving them out.
        came_from = links.ListLinks(_searched_q(back_url, request.user))
        context = {
            "log": log,
            "filters": came_from.row_links(log),
            "excludes": came_from.row_exclusions(log),
            "user_agent": parsed_user_agent(row.user_agent) if log.is_web else None,
            "only": only,
            "api_json": json.dumps(entry, indent=2),
            "back_url": back_url,
            "zone_name": display_zone_name(request),
            "concealed": row.identities_concealed,
        }
        record_rows(request, Door.DETAIL, "", [row], identities, row_id=row.id)
        return render(request, self.template_name, context)


def _started_before(found: LogSearch, page, chart) -> int | None:
    """For an ``active_after:`` search, how many of its sessions connected before the chart's
    range (the chart counts connect times in it; the list also has those still active in
    it): the list's exact count less the chart's; ``None`` when not such a search, or the
    count or the chart is capped."""
    if chart is None or chart.capped or not found.window.by_activity or not page.exact:
        return None  # (a capped chart leaves out the range's start: not only earlier ones)
    return max(page.count - chart.total, 0)


def _show_only_links(row: ConnectionLog) -> dict[str, str]:
    """Addresses of the list narrowed to what this row shares with others."""

    def only(**terms: str) -> str:
        return links.list_url(links.with_terms("", **terms))

    found = {
        "workspace": only(workspace_id=str(row.workspace_id)),
        "owner": only(workspace_owner=row.workspace_owner.username),
        "organization": only(organization=row.organization.name),
        "type": only(type=row.type),
        "around": only(
            workspace_id=str(row.workspace_id),
            connected_after=format_time(timebounds.shift(row.connect_time, -NEARBY)),
            connected_before=format_time(
                timebounds.shift(row.disconnect_time or row.connect_time, NEARBY)
            ),
        ),
    }
    if row.user_id:
        found["user"] = only(username=row.user.username)
    if row.connection_id:
        found["connection"] = only(connection_id=str(row.connection_id))
    return found


def _searched_q(list_url: str, user) -> str:
    """The ``q`` the list at ``list_url`` searched: its own, or its saved view's as ``user``
    is shown it (``search_query``); ``""`` when the address does not say a valid one."""
    params = QueryDict(urlsplit(list_url).query)
    q, problems = search_query(params, links.q_of_url(list_url), user)
    return "" if problems else q


def _back_url(request) -> str:
    """Back to the list the user came from (its search and page), else the plain list."""
    referer = request.META.get("HTTP_REFERER", "")
    list_path = reverse("connectionlog-list")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        path = referer.split(request.get_host(), 1)[-1]
        if path.startswith(list_path) and not path.startswith(list_path + "/"):
            return path
    return list_path


class ConnectionLogDownloadView(ReaderRequiredMixin, View):
    """The list's download button: the API's export for the same ``q``, via the session."""

    def get(self, request):
        fmt, bom, errors = parse_options(request.GET)
        if errors:
            return HttpResponse(
                "\n".join(error.detail for error in errors),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        found = LogSearch.from_request(request)
        if found.validations:
            # The list page shows the search's errors under the box (a view's too: its
            # address keeps the view asked for).
            q, view = query_text(request.GET).strip(), request.GET.get("view", "")
            return redirect(links.list_url(q, view=view) if view else links.list_url(q))
        try:
            return export.search_export_response(found, fmt, Door.PAGE_EXPORT, bom=bom)
        except export.ExportsBusy:
            return export.busy_answer(request)
