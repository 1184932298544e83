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
* ``ChunkedBodyMiddleware``: a body sent with ``Transfer-Encoding: chunked`` (no
  ``Content-Length``) is read, within the body size limit, instead of reading as empty.
* ``AdminNulParameterMiddleware``: a NUL in any parameter of an admin page is a 400 with a
  message: the admin's filters and searches put parameters straight into queries, and
  PostgreSQL refuses NUL in text (a 500 otherwise).
* ``handler400`` .. ``handler500``: error answers with nothing of the inside (no traceback,
  no SQL): JSON in the contract's shape under ``/api/``, a short plain page elsewhere.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse_lazy
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


# --- request bodies ----------------------------------------------------------------------

BODY_TOO_LARGE = "Request body too large."
# The contract's not-found sentence (Coder's httpapi.ResourceNotFound), for every API 404.
NOT_FOUND = "Resource not found or you do not have access to this resource"
LENGTH_REQUIRED = (
    "The body was sent in chunks (Transfer-Encoding: chunked) and this server passed none "
    "of it on: send it with a Content-Length header."
)
_READ_SIZE = 64 * 1024


def body_limit_detail(limit: int | None = None) -> str:
    """The sentence that says how large a body may be (``CONNLOGS_MAX_BODY_BYTES``)."""
    if limit is None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return f"The body may be at most {limit} bytes."


def body_too_large(request: HttpRequest) -> HttpResponse:
    """413 in the contract's shape under /api/, a short page elsewhere."""
    if is_api(request):
        body = {"message": BODY_TOO_LARGE, "detail": body_limit_detail()}
        return JsonResponse(body, status=413)
    return error_answer(request, 413, f"{BODY_TOO_LARGE} {body_limit_detail()}")


class ChunkedBodyMiddleware:
    """Read a chunked request body, which Django would read as empty.

    Django reads exactly ``Content-Length`` bytes of a body; a chunked one has none. A WSGI
    server that decodes chunked bodies (gunicorn) passes the decoded body as ``wsgi.input``
    without a ``CONTENT_LENGTH``: it is read here, one byte past the body size limit at
    most (413 when over), and handed on with its length. A server that does not (Django's
    runserver) passes an empty stream: that is a 411, since the body cannot be read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        chunked = "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not meta.get("CONTENT_LENGTH"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = _read_at_most(meta["wsgi.input"], None if limit is None else limit + 1)
            if limit is not None and len(body) > limit:
                return body_too_large(request)
            if not body:
                return error_answer(request, 411, LENGTH_REQUIRED)
            meta["CONTENT_LENGTH"] = str(len(body))
            # What Django's WSGIRequest reads the body from (it was made with length 0).
            request._stream = LimitedStream(io.BytesIO(body), len(body))
        return self.get_response(request)


def _read_at_most(stream, size: int | None) -> bytes:
    pieces, total = [], 0
    while size is None or total < size:
        piece = stream.read(_READ_SIZE if size is None else min(_READ_SIZE, size - total))
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    return b"".join(pieces)


class AdminNulParameterMiddleware:
    """Refuses an admin request whose query string or form holds a NUL (key or value)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.admin_prefix = reverse_lazy("admin:index")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(str(self.admin_prefix)) and _holds_nul(request):
            return error_answer(request, 400, NUL_NOT_ALLOWED)
        return self.get_response(request)


NUL_NOT_ALLOWED = "Null characters are not allowed."


def _holds_nul(request: HttpRequest) -> bool:
    parameters = [request.GET]
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        parameters.append(request.POST)
    return any(
        "\x00" in key or any("\x00" in value for value in query.getlist(key))
        for query in parameters
        for key in query
    )


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
    if isinstance(exception, RequestDataTooBig):  # a form body over the limit
        return error_answer(request, 400, f"{BODY_TOO_LARGE} {body_limit_detail()}")
    return error_answer(request, 400, "Bad request.")


def handler403(request: HttpRequest, exception=None) -> HttpResponse:
    return error_answer(request, 403, "Forbidden.")


def handler404(request: HttpRequest, exception=None) -> HttpResponse:
    if is_api(request):
        return error_answer(request, 404, NOT_FOUND)
    return error_answer(request, 404, "There is no page at this address.")


def handler500(request: HttpRequest) -> HttpResponse:
    # Also reached by errors raised outside views (in a middleware), which
    # ``process_exception`` never sees: a database outage there is still a 503.
    if is_database_unavailable(sys.exc_info()[1]):
        return database_unavailable(request)
    return error_answer(request, 500, "Something went wrong on our side; it has been logged.")
