"""Every API error in the contract's shape: ``{"message", "detail"?, "validations"?}``."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from connlogs.middleware import BODY_TOO_LARGE, NOT_FOUND, body_limit_detail
from connlogs.search import Validation

SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."


def error_body(message: str, detail: str = "", validations: Iterable[Validation] = ()) -> dict:
    body: dict = {"message": message}
    if detail:
        body["detail"] = detail
    validations = [v.as_dict() for v in validations]
    if validations:
        body["validations"] = validations
    return body


class ApiError(exceptions.APIException):
    """An error answered exactly as given."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        detail: str = "",
        validations: Iterable[Validation] = (),
        retry_after: int | None = None,
    ):
        self.status_code = status_code
        self.body = error_body(message, detail, validations)
        if retry_after:
            self.wait = retry_after  # answered as a Retry-After header
        super().__init__(message)


class Conflict(ApiError):
    def __init__(self, field: str, detail: str):
        super().__init__(
            "A resource with that name already exists.",
            status_code=status.HTTP_409_CONFLICT,
            validations=[Validation(field, detail)],
        )


def _flatten(data, prefix: str = "") -> list[Validation]:
    """DRF's nested error dicts as ``field.sub[0]``-style validations."""
    if isinstance(data, dict):
        found = []
        for key, value in data.items():
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            found += _flatten(value, path)
        return found
    if isinstance(data, list):
        if all(not isinstance(item, dict | list) for item in data):
            return [Validation(prefix, str(item)) for item in data]
        found = []
        for index, item in enumerate(data):
            found += _flatten(item, f"{prefix}[{index}]")
        return found
    return [Validation(prefix, str(data))]


def _simple(exc: exceptions.APIException) -> tuple[int, dict]:
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return 401, error_body(SIGNED_OUT)
    if isinstance(exc, exceptions.PermissionDenied):
        return 403, error_body("Forbidden.", str(exc.detail) if exc.detail else "")
    if isinstance(exc, exceptions.NotFound):
        return 404, error_body(NOT_FOUND)
    if isinstance(exc, exceptions.ParseError):
        return 400, error_body("Request body must be valid JSON.", str(exc.detail))
    if isinstance(exc, exceptions.ValidationError):
        return 400, error_body("Validation failed.", validations=_flatten(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        return 429, error_body("Too many requests.", str(exc.detail))
    return exc.status_code, error_body(str(exc.detail))


def exception_handler(exc, context) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # Django's own message names its setting; the client is told the limit.
        exc = ApiError(
            BODY_TOO_LARGE,
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            detail=body_limit_detail(),
        )
    if isinstance(exc, ApiError):
        response = Response(exc.body, status=exc.status_code)
    elif isinstance(exc, exceptions.APIException):
        code, body = _simple(exc)
        response = Response(body, status=code)
    else:
        return None
    if getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        response["Retry-After"] = str(int(exc.wait))
    return response
