"""Admin of the access log and the pseudonym key: read-only, never changed or deleted here.

The access log is appended by the doors (``connlogs.accesslog.record``) and purged only by its
retention (``manage.py purge_access_log``); the pseudonym key is replaced only by ``manage.py
rotate_pseudonym_key``.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList

from connlogs.models import AccessLogEntry
from connlogs.paginators import CappedCountPaginator
from connlogs.privacy.searches import SearchConcealer


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit data: readable by owners (``has_view_permission`` asks ``User.has_perm``),
    never added, changed or deleted through the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ConcealedSearchesChangeList(ChangeList):
    def get_results(self, request):
        # Searches naming people, as an owner kept from identities may see them.
        super().get_results(request)
        self.result_list = SearchConcealer.for_viewer(request.user).conceal(list(self.result_list))


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(ReadOnlyAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    ordering = ("-id",)
    sortable_by = ()
    list_display = ("time", "username", "token_name", "address", "door", "q", "rows", "revealed")
    list_filter = ("door", "revealed", "export_status")
    search_fields = ("=username", "=export_name", "=export_sha256")
    readonly_fields = [field.name for field in AccessLogEntry._meta.fields]
    fields = readonly_fields

    def get_changelist(self, request, **kwargs):
        return ConcealedSearchesChangeList

    def get_object(self, request, object_id, from_field=None):
        entry = super().get_object(request, object_id, from_field)
        if entry is not None:
            SearchConcealer.for_viewer(request.user).conceal([entry])
        return entry
