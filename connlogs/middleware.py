"""How the service answers at its edges: browser policy, database outages, error pages.

* ``ApiNoStoreMiddleware``: every answer under ``/api/`` (errors and redirects included)
  says ``Cache-Control: no-store``: it holds audit data for one user, which no browser or
  proxy cache may keep.
* ``ContentSecurityPolicyMiddleware``: every response says which sources a browser may load
  (Django 5.2 has no built-in CSP). The pages load only our own files; the interactive API
  docs (Swagger UI) also need inline styles and ``data:`` images.
* ``DatabaseUnavailableMiddleware``: when the database cannot be reached (a restart, a
  failover, too many connections), a request gets a clear ``503`` with ``Retry-After`` in
  the contract's error shape, not a 500 with a stack trace. Django closes the broken
  connection at the end of the request (``CONN_HEALTH_CHECKS``), so the next one reconnects.
* ``handler400`` .. ``handler500``: error answers with nothing of the inside (no traceback,
  no SQL): JSON in the contract's shape under ``/api/``, a short plain page elsewhere.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control
from django.utils.html import escape

from connlogs import replication

logger = logging.getLogger("connlogs.errors")

API_PREFIX = "/api/"
DOCS_PREFIX = "/api/v2/docs/"
DB_UNAVAILABLE = "The database is unavailable; try again shortly."
RETRY_AFTER_SECONDS = 5

# Our pages: our own scripts, styles, images and fonts; no plugins, no framing, forms post
# only to us. ``data:`` images are the inline SVG icons a browser may render as images.
PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# Swagger UI (drf-spectacular-sidecar, served by us): its page has an inline <style> block
# and the UI sets inline styles and data: images as it renders; scripts stay 'self' (the
# split view serves its start-up script from our own URL).
DOCS_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
# JSON and downloads are never rendered as documents: nothing may load from them.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


class ApiNoStoreMiddleware:
    """First in ``MIDDLEWARE``, so it also marks the answers of the middleware after it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_api(request):
            patch_cache_control(response, no_store=True)
        return response


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy_for(request)
        return response


def policy_for(request: HttpRequest) -> str:
    if request.path.startswith(DOCS_PREFIX):
        return DOCS_POLICY
    if is_api(request):
        return API_POLICY
    return PAGE_POLICY


# --- error answers -----------------------------------------------------------------------


def error_answer(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """``{"message": ...}`` under /api/, otherwise a minimal page; never internals.

    The page is built here, not from a template: an error page must not fail, and the
    template engine or the database behind a context processor may be the broken part.
    """
    if is_api(request):
        return JsonResponse({"message": message}, status=status)
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{status} · connlogs</title></head>"
        f'<body><main><h1>{status}</h1><p>{escape(message)}</p><p><a href="/">connlogs</a></p>'
        "</main></body></html>"
    )
    return HttpResponse(html, status=status, content_type="text/html; charset=utf-8")


def database_unavailable(request: HttpRequest) -> HttpResponse:
    response = error_answer(request, 503, DB_UNAVAILABLE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def is_database_unavailable(error: BaseException | None) -> bool:
    return isinstance(error, OperationalError | InterfaceError)


class DatabaseUnavailableMiddleware:
    """503 for a view that could not reach the database (the API's views included: DRF
    hands exceptions it does not know back to Django, and they arrive here)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if is_database_unavailable(exception):
            logger.warning(
                "database unavailable for %s %s: %s", request.method, request.path, exception
            )
            if replication.monitor.measuring():
                # Perhaps the replica went away: measure now, so that the next reads go to
                # the primary instead of failing until the next scheduled check.
                replication.monitor.refresh()
            return database_unavailable(request)
        return None


def handler400(request: HttpRequest, exception=None) -> HttpResponse:
    return error_answer(request, 400, "Bad request.")


def handler403(request: HttpRequest, exception=None) -> HttpResponse:
    return error_answer(request, 403, "Forbidden.")


def handler404(request: HttpRequest, exception=None) -> HttpResponse:
    if is_api(request):
        # The contract's not-found sentence, as the API's own 404s say it.
        from connlogs.api.errors import NOT_FOUND

        return error_answer(request, 404, NOT_FOUND)
    return error_answer(request, 404, "There is no page at this address.")


def handler500(request: HttpRequest) -> HttpResponse:
    # Also reached by errors raised outside views (in a middleware), which
    # ``process_exception`` never sees: a database outage there is still a 503.
    if is_database_unavailable(sys.exc_info()[1]):
        return database_unavailable(request)
    return error_answer(request, 500, "Something went wrong on our side; it has been logged.")
