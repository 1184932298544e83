"""The streams page: every stream the user manages, its health, and the workers' heartbeat.
Changing streams is the API's (docs/streams.md); the page shows where they stand."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import render
from django.views import View

from connlogs.streams import access
from connlogs.streams.scheduling import last_heartbeat
from connlogs.streams.status import stream_health


class StreamsPageView(LoginRequiredMixin, View):
    """``/connectionlog/streams``: site owners and organization admins; others get a page
    that says why (403)."""

    template_name = "connlogs/streams.html"

    def get(self, request):
        if not access.may_manage_streams(request.user):
            return render(request, "connlogs/no_streams.html", status=403)
        streams = access.visible_streams(request.user).order_by("name", "id")
        return render(
            request,
            self.template_name,
            {
                "streams": [(stream, stream_health(stream)) for stream in streams],
                "workers": last_heartbeat(),
            },
        )
