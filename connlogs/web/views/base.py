"""What every page shares: the display time zone and the "may read connection logs" gate."""

from __future__ import annotations

import contextlib
import functools
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from connlogs import roles

TIMEZONE_COOKIE = "connlogs_tz"
UTC_NAME = "UTC"


def display_zone_name(request) -> str:
    """The zone the pages show times in: the browser's (if the user chose it), else UTC."""
    name = (request.COOKIES.get(TIMEZONE_COOKIE) or "").strip()
    return name if valid_zone(name) else UTC_NAME


def valid_zone(name: str) -> bool:
    if not name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@contextlib.contextmanager
def display_zone(request) -> Iterator[None]:
    """Within it, the active time zone is the request's display zone (``display_zone_name``)."""
    with timezone.override(zoneinfo.ZoneInfo(display_zone_name(request))):
        yield


class DisplayTimezoneMixin:
    """Render the page (day headers, times, chart buckets, custom ranges) in the user's zone.

    The response is rendered inside the override: a lazily rendered TemplateResponse
    would otherwise format its times after the zone was switched back.
    """

    def dispatch(self, request, *args, **kwargs):
        with display_zone(request):
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        return response


FAVICON = Path(__file__).resolve().parents[2] / "static" / "connlogs" / "favicon.ico"


@functools.cache
def _favicon_bytes() -> bytes:
    return FAVICON.read_bytes()


def favicon(request) -> HttpResponse:
    """``/favicon.ico``, which browsers and tools ask for whatever the page links to."""
    response = HttpResponse(_favicon_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


class ReaderRequiredMixin(LoginRequiredMixin):
    """Signed in, and allowed to read some organization's connection log (``allows``).

    Anyone else gets a page that says why (``refused_template``), not an empty table that
    looks like "no data".
    """

    allows = staticmethod(roles.may_read_connection_logs)
    refused_template = "connlogs/no_access.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not self.allows(request.user):
            return render(request, self.refused_template, status=403)
        return super().dispatch(request, *args, **kwargs)
