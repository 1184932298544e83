"""A JSON body parser that keeps Django's body size limit and never fails with a 500.

A key named twice in one object is a 400 too (``_object``).

DRF's ``JSONParser`` reads the request stream itself, so ``DATA_UPLOAD_MAX_MEMORY_SIZE``
(which Django checks only in ``request.body``) would not apply, and a deeply nested document
raises ``RecursionError``, which DRF does not turn into a 400.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from connlogs.api.errors import ApiError
from connlogs.middleware import BODY_TOO_LARGE, body_limit_detail


def _too_large(limit: int) -> ApiError:
    return ApiError(
        BODY_TOO_LARGE,
        status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        detail=body_limit_detail(limit),
    )


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        meta = getattr(request, "META", {})
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if limit is not None and declared > limit:
            raise _too_large(limit)
        # Read one byte past the limit: a body without a length (or a lying one) is caught too.
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise _too_large(limit)
        try:
            return json.loads(
                raw.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_object
            )
        except (ValueError, RecursionError) as error:
            raise ParseError(f"JSON parse error: {error}") from None


def _object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict; ``ValueError`` when it names a key twice.

    RFC 8259 §4 leaves duplicate names to the reader, and ``json.loads`` keeps the last:
    ``{"events": [A], "events": [B]}`` would record B and drop A without a word, which an
    audit log must not do. (Go's ``encoding/json``, Coder's reader, also keeps the last.)
    """
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {twice!r} appears more than once in one object")
    return found


def _refuse_constant(name: str):
    # NaN and Infinity are not JSON.
    raise ValueError(f"{name} is not valid JSON")
