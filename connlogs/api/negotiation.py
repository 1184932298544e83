"""How the API picks its answer's format: it does not negotiate (``REST_FRAMEWORK``'s
``DEFAULT_CONTENT_NEGOTIATION_CLASS``)."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class AnyAcceptNegotiation(DefaultContentNegotiation):
    """Every endpoint answers in its own format whatever ``Accept`` says, as Coder's API does
    (the contract: ``200 application/json``; a download answers any ``Accept``), and
    ``?format=`` is ours (the export's), not DRF's.

    DRF's default negotiation answered 406 to ``Accept: text/html`` or ``text/csv`` (no such
    renderer) and 404 to ``?format=csv`` (its format-suffix override). The endpoints with
    several renderers (the OpenAPI schema's) answer with their first. Errors are JSON. A
    request's body is still parsed by its ``Content-Type`` (a form body is a 415).
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
