"""Admin of connection logs: read-only, scoped like every read, safe on a large table."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from connlogs import timebounds, values
from connlogs.accesslog.record import Door, record_rows
from connlogs.admin.access import ReadOnlyAdmin
from connlogs.models import ConnectionLog
from connlogs.paginators import CappedCountPaginator
from connlogs.privacy.identities import Identities
from connlogs.privacy.resolve import resolve_ip
from connlogs.search.filterset import STATUS_VALUES, ConnectionLogFilterSet
from connlogs.visible import visible_text
from connlogs.web.tables import LogRow, type_label
from connlogs.web.views.base import display_zone

# --- connection logs: read-only, large-table safe -------------------------------------


class StatusFilter(admin.SimpleListFilter):
    """``status:ongoing`` / ``status:completed`` of the search language, as a side filter."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(value, value.title()) for value in STATUS_VALUES]

    def queryset(self, request, queryset):
        if self.value() not in STATUS_VALUES:
            return queryset
        # The FilterSet owns what "ongoing" means (and its partial index matches it).
        return ConnectionLogFilterSet.from_query(f"status:{self.value()}", queryset, request).qs


SEARCH_HELP = (
    "An IP address (exact), a row, connection or workspace UUID, or the API's search "
    "language, e.g. type:ssh workspace_owner:me status:ongoing organization:acme "
    'connected_after:"2025-01-01T00:00:00Z".'
)
# How the list writes a time: seconds and the zone's abbreviation, in the display zone.
TIME_LAYOUT = "Y-m-d H:i:s T"


TIME_ORDERS = ("connect_time", "-connect_time")


class NewestFirstChangeList(ChangeList):
    """Sorted by connection time only, newest or oldest first: the one order an index
    (``cl_time_idx``, walked either way) serves. ``?o=`` of another column is ignored: a
    sort on an unindexed column reads and sorts every row of a table of millions."""

    def get_ordering(self, request, queryset):
        asked = [term for term in super().get_ordering(request, queryset) if term in TIME_ORDERS]
        if asked and asked[0] == "connect_time":
            return ["connect_time", "id"]
        return ["-connect_time", "-id"]

    def get_results(self, request):
        # The page's rows as the owner may see them (pseudonyms under data protection mode),
        # and the read in the access log.
        super().get_results(request)
        identities = Identities.for_viewer(request.user)
        self.result_list = [identities.conceal_row(row) for row in self.result_list]
        # (the search the admin ran: Django reads the last ``q`` given, not the first)
        record_rows(request, Door.ADMIN, self.query, self.result_list, identities)


def _shown_text(field: str, description: str):
    """A read-only field of the change page showing agent-supplied text as it reads."""

    @admin.display(description=description)
    def shown(admin_view, obj: ConnectionLog) -> str:
        return visible_text(getattr(obj, field))

    return shown


@admin.register(ConnectionLog)
class ConnectionLogAdmin(ReadOnlyAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    list_per_page = 100
    list_max_show_all = 100
    ordering = ("-connect_time", "-id")
    sortable_by = ("connected",)
    # Compact columns that fit a 1440-pixel screen beside the filters.
    list_display = (
        "connected",
        "type_label",
        "organization_name",
        "workspace_label",
        "who",
        "ip",
        "code",
        "status",
        "disconnected",
    )
    list_select_related = ("organization", "workspace_owner", "user")
    # type leads an index; organization leads another and lists only organizations.
    list_filter = ("type", StatusFilter, "organization")
    # Only marks the search box as present: get_search_results below does the work.
    search_fields = ("connection_id",)
    search_help_text = SEARCH_HELP
    raw_id_fields = ("organization", "workspace_owner", "workspace", "user")
    fields = (
        "id",
        "type",
        "connected",
        "disconnected",
        "reason",
        "code",
        "organization",
        "workspace_owner",
        "workspace_link",
        "recorded_workspace_name",
        "agent",
        "connection_id",
        "ip",
        "user",
        "user_agent_text",
        "slug_or_port_text",
    )
    readonly_fields = (
        "workspace_link",
        "connected",
        "disconnected",
        "reason",
        "recorded_workspace_name",
        "agent",
        "user_agent_text",
        "slug_or_port_text",
    )

    # --- columns: agent-supplied text through ``visible_text``, times through timebounds ---

    @admin.display(description="Connected", ordering="connect_time")
    def connected(self, obj: ConnectionLog) -> str:
        return _time_cell(obj.connect_time)

    @admin.display(description="Disconnected")
    def disconnected(self, obj: ConnectionLog) -> str:
        return _time_cell(obj.disconnect_time) if obj.disconnect_time else "—"

    @admin.display(description="Type")
    def type_label(self, obj: ConnectionLog) -> str:
        return type_label(obj.type)

    @admin.display(description="Organization")
    def organization_name(self, obj: ConnectionLog) -> str:
        return visible_text(obj.organization.name)

    @admin.display(description="Workspace")
    def workspace_label(self, obj: ConnectionLog) -> str:
        return visible_text(f"{obj.workspace_owner.username}/{obj.workspace_name}.{obj.agent_name}")

    @admin.display(description="Workspace")
    def workspace_link(self, obj: ConnectionLog) -> str:
        # By id: the workspace's own name includes its owner's, which a concealed row hides.
        url = reverse("admin:connlogs_workspace_change", args=[obj.workspace_id])
        return format_html('<a href="{}">{}</a>', url, obj.workspace_id)

    @admin.display(description="User")
    def who(self, obj: ConnectionLog) -> str:
        return visible_text(obj.user.username) if obj.is_web and obj.user_id else "—"

    @admin.display(description="Status")
    def status(self, obj: ConnectionLog) -> str:
        if obj.is_web:
            return "—"
        if not obj.is_ongoing:
            return "completed"
        shown = LogRow(obj)  # the pages' wording: a stale session is not shown as live
        return shown.stale_text if shown.is_stale else "ongoing"

    reason = _shown_text("disconnect_reason", "Disconnect reason")
    recorded_workspace_name = _shown_text("workspace_name", "Workspace name (as recorded)")
    agent = _shown_text("agent_name", "Agent")
    user_agent_text = _shown_text("user_agent", "User agent")
    slug_or_port_text = _shown_text("slug_or_port", "App or port")

    # --- views: the display zone of the pages, the newest-first order, the search ---------

    def get_changelist(self, request, **kwargs):
        return NewestFirstChangeList

    class Media:
        css = {"all": ("connlogs/admin-logs.css",)}

    def changelist_view(self, request, extra_context=None):
        # The list needs the width: the admin's navigation sidebar is left out here.
        extra_context = {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        with display_zone(request):
            return _rendered(super().changelist_view(request, extra_context))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        with display_zone(request):
            return _rendered(super().change_view(request, object_id, form_url, extra_context))

    def get_object(self, request, object_id, from_field=None):
        row = super().get_object(request, object_id, from_field)
        if row is not None:
            identities = Identities.for_viewer(request.user)
            identities.conceal_row(row)
            record_rows(request, Door.ADMIN_DETAIL, "", [row], identities, row_id=row.id)
        return row

    def get_queryset(self, request):
        # The one gate every read of connection logs passes, the admin included.
        return super().get_queryset(request).visible_to(request.user)

    def get_search_results(self, request, queryset, search_term):
        """An IP address (exact match on ``ip``), a UUID (row, connection or workspace), or
        ``q`` of the search language; errors of ``q`` are shown as messages."""
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        try:
            key = values.parse_uuid(term)
        except ValueError:
            pass
        else:
            # Each of these columns leads an index (primary key, the merge key, workspace).
            return queryset.filter(Q(id=key) | Q(connection_id=key) | Q(workspace_id=key)), False
        address = _ip_address(term)
        if address is not None:
            # A pseudonym finds its rows; a real address only for an owner who may see it.
            found = resolve_ip(address, request.user, real=lambda value: Q(ip=value))
            return queryset.filter(found), False
        filterset = ConnectionLogFilterSet.from_query(term, queryset, request)
        if filterset.validations:
            for validation in filterset.validations:
                messages.error(request, f"{validation.field}: {validation.detail}")
            return queryset.none(), False
        return filterset.qs, False


def _time_cell(moment) -> str:
    # Date and time may wrap onto two lines in a narrow column, never inside either.
    text = timebounds.format_local(moment, TIME_LAYOUT)
    day, _, clock = text.partition(" ")
    return format_html('<span class="nowrap">{}</span> <span class="nowrap">{}</span>', day, clock)


def _ip_address(term: str) -> str | None:
    """``term`` as the text an ``ip`` column holds, when it is an IP address."""
    try:
        return values.normalize_ip(term)
    except ValueError:
        return None


def _rendered(response):
    # Rendered inside the zone override: a TemplateResponse renders lazily otherwise.
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    return response
