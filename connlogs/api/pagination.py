"""``limit``, ``offset`` and ``after_id`` of the read API, validated as the contract says."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.http import QueryDict

from connlogs import values
from connlogs.search import Validation, repeated_param

DEFAULT_LIMIT = 100
_INT = re.compile(r"[+-]?[0-9]+")
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    after_id: uuid.UUID | int | None = None


def single_param(params: QueryDict, name: str, errors: list[Validation]) -> str:
    given = params.getlist(name)
    if len(given) > 1:
        errors.append(Validation(name, repeated_param(name, len(given))))
        return ""
    return given[0] if given else ""


def _positive_int32(text: str, name: str, errors: list[Validation]) -> int | None:
    if text == "":
        return None
    reason, value = "", 0
    if not _INT.fullmatch(text):
        reason = f'strconv.ParseInt: parsing "{text}": invalid syntax'
    else:
        # The digits after the sign, capped past the range ("000…05" is 5 to Go's strconv,
        # whatever its length; ``int`` alone refuses more than 4,300 digits).
        magnitude = values.whole_number(text.lstrip("+-"), 2**31 + 1)
        negative = text.startswith("-") and magnitude != 0
        if magnitude > (2**31 if negative else INT32_MAX):
            reason = f'strconv.ParseInt: parsing "{text}": value out of range'
        elif negative:
            reason = "value is negative"
        else:
            value = magnitude
    if reason:
        errors.append(
            Validation(
                name, f'Query param "{name}" must be a valid 32-bit positive integer: {reason}'
            )
        )
        return None
    return value


def parse_page_params(
    params: QueryDict,
    *,
    max_limit: int,
    read_cursor: Callable[[str], uuid.UUID | int] = values.parse_uuid,
    cursor_kind: str = "uuid",
) -> tuple[PageParams, list[Validation]]:
    """``limit``, ``offset`` and ``after_id`` (read by ``read_cursor``, which raises
    ``ValueError``: a connection log's UUID by default; the access log's entries have
    whole-number ids) and the contract's validations of each."""
    errors: list[Validation] = []
    after_text = single_param(params, "after_id", errors)
    limit = _positive_int32(single_param(params, "limit", errors), "limit", errors)
    offset = _positive_int32(single_param(params, "offset", errors), "offset", errors)
    after_id = None
    if after_text:
        try:
            after_id = read_cursor(after_text)
        except ValueError:
            errors.append(
                Validation("after_id", f'Query param "after_id" must be a valid {cursor_kind}')
            )
    if limit is not None and limit > max_limit:
        errors.append(Validation("limit", f'Query param "limit" must be at most {max_limit}'))
    page = PageParams(limit=limit or DEFAULT_LIMIT, offset=offset or 0, after_id=after_id)
    return page, errors
