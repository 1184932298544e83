"""The access log's pages: its list (search, table, pages, download) and the caller's downloads.

The access log shows who read connection logs (``connlogs.accesslog``), to site owners and
organization admins; everyone who may read connection logs sees their own downloads, with
the checksum file of each CSV.
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from connlogs import roles
from connlogs.accesslog.search import AccessLogFilterSet, organization_names
from connlogs.api.access_views import access_log_download, sidecar_entry, sidecar_response
from connlogs.api.export_views import parse_format
from connlogs.models import AccessLogEntry
from connlogs.privacy.searches import SearchConcealer
from connlogs.search.request import query_text
from connlogs.web.params import ADDRESS_ERRORS, page_number
from connlogs.web.views.base import DisplayTimezoneMixin, ReaderRequiredMixin, display_zone_name

PAGE_SIZE = 50
# Numbered pages only (no cursors): deeper ones read as this one, an empty page.
MAX_PAGE = 100_000
SEARCH_ERRORS = "Invalid access log search query."
MY_DOWNLOADS = 50


class AccessLogReaderMixin(ReaderRequiredMixin):
    """Signed in, and a site owner or an organization admin."""

    allows = staticmethod(roles.may_read_access_log)
    refused_template = "connlogs/no_access_log.html"


class AccessLogView(AccessLogReaderMixin, DisplayTimezoneMixin, View):
    template_name = "connlogs/access_log.html"

    def get(self, request):
        q = query_text(request.GET)
        filterset = AccessLogFilterSet.from_query(q, request)
        number, page_errors = page_number(request.GET, MAX_PAGE)
        context = {"q": q, "zone_name": display_zone_name(request)}
        if filterset.validations or page_errors:
            context["validations"] = [*filterset.validations, *page_errors]
            context["validations_title"] = (
                SEARCH_ERRORS if filterset.validations else ADDRESS_ERRORS
            )
            return render(request, self.template_name, context, status=400)
        offset = (number - 1) * PAGE_SIZE
        found = list(filterset.qs[offset : offset + PAGE_SIZE + 1])
        entries = SearchConcealer.for_viewer(request.user).conceal(found[:PAGE_SIZE])
        names = organization_names(entries)
        for entry in entries:
            entry.organization_names = [names.get(pk, pk) for pk in entry.organization_ids]
        base = reverse("accesslog")
        context.update(
            entries=entries,
            number=number,
            previous_page=number - 1 if number > 1 else None,
            next_page=number + 1 if len(found) > PAGE_SIZE else None,
            base=base,
            doors=AccessLogEntry.Door.choices,
        )
        return render(request, self.template_name, context)


class AccessLogDownloadView(AccessLogReaderMixin, View):
    def get(self, request):
        fmt, errors = parse_format(request.GET)
        filterset = AccessLogFilterSet.from_query(query_text(request.GET), request)
        errors = errors + filterset.validations
        if errors:
            return HttpResponse(
                "\n".join(error.detail for error in errors),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        return access_log_download(filterset.qs, fmt, request.user)


class MyDownloadsView(ReaderRequiredMixin, DisplayTimezoneMixin, View):
    """The caller's own exports (newest first), each with its checksum file."""

    template_name = "connlogs/downloads.html"

    def get(self, request):
        downloads = (
            AccessLogEntry.objects.filter(user_id=request.user.pk)
            .exclude(export_name="")
            .order_by("-id")[:MY_DOWNLOADS]
        )
        return render(
            request,
            self.template_name,
            {"downloads": list(downloads), "zone_name": display_zone_name(request)},
        )


class ExportChecksumPageView(LoginRequiredMixin, View):
    """``<file name>.sha256`` of a CSV export, for its caller (and site owners)."""

    def get(self, request, name: str):
        entry = sidecar_entry(name, request.user)
        if entry is None:
            raise Http404("No completed CSV export of yours by that name.")
        return sidecar_response(entry)
