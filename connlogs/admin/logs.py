"""Admin of connection logs: read-only, scoped like every read, safe on a large table."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.db.models import Q

from connlogs import values
from connlogs.models import ConnectionLog
from connlogs.paginators import CappedCountPaginator
from connlogs.search.filterset import STATUS_VALUES, ConnectionLogFilterSet

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
    "A row, connection or workspace UUID, or the API's search language, e.g. "
    "type:ssh workspace_owner:alice status:ongoing organization:acme "
    'connected_after:"2025-01-01T00:00:00Z".'
)


@admin.register(ConnectionLog)
class ConnectionLogAdmin(admin.ModelAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    list_per_page = 100
    list_max_show_all = 100
    # Newest first is the one order an index serves; clicking a column would sort millions.
    ordering = ("-connect_time", "-id")
    sortable_by = ()
    list_display = (
        "connect_time",
        "type",
        "organization",
        "workspace_owner",
        "workspace_name",
        "agent_name",
        "user",
        "ip",
        "code",
        "status",
        "disconnect_time",
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
        "connect_time",
        "disconnect_time",
        "disconnect_reason",
        "code",
        "organization",
        "workspace_owner",
        "workspace",
        "workspace_name",
        "agent_name",
        "connection_id",
        "ip",
        "user",
        "user_agent",
        "slug_or_port",
    )

    @admin.display(description="Status")
    def status(self, obj: ConnectionLog) -> str:
        if obj.is_web:
            return "—"
        return "ongoing" if obj.is_ongoing else "completed"

    def get_queryset(self, request):
        # The one gate every read of connection logs passes, the admin included.
        return super().get_queryset(request).visible_to(request.user)

    def get_search_results(self, request, queryset, search_term):
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
        filterset = ConnectionLogFilterSet.from_query(term, queryset, request)
        if filterset.validations:
            for validation in filterset.validations:
                messages.error(request, f"{validation.field}: {validation.detail}")
            return queryset.none(), False
        return filterset.qs, False

    # Audit data: readable by owners (has_view_permission asks User.has_perm), never edited.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
