"""Sign-in, sign-out and API tokens."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs import roles, signin, throttle, tokens
from connlogs.api import origin
from connlogs.api.auth import TOKEN_COOKIE, token_from_request
from connlogs.api.errors import ApiError
from connlogs.api.lookups import resolve_user
from connlogs.api.serializers import ErrorSerializer, JsonBodySerializer


class LoginSerializer(JsonBodySerializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False)


class TokenRequestSerializer(JsonBodySerializer):
    token_name = serializers.CharField(required=False, allow_blank=True, max_length=64)
    lifetime = serializers.IntegerField(
        required=False, min_value=1, max_value=10 * 365 * 24 * 3600, help_text="Seconds."
    )


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="login",
        summary="Sign in with email and password: a session token (also set as a cookie)",
        request=LoginSerializer,
        responses={
            201: inline_serializer("SessionToken", {"session_token": serializers.CharField()}),
            400: ErrorSerializer,
            401: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def post(self, request):
        # A browser's sign-in from another site (login CSRF) is refused; scripts send no
        # Origin or Referer and need no token.
        origin.refuse_cross_site(request, proof_required=False)
        body = LoginSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        email, password = body.validated_data["email"], body.validated_data["password"]
        # The one password check (connlogs.signin): shared lockout, same cost for every email.
        user = authenticate(request, email=email, password=password)
        wait = signin.retry_after(request)
        if wait:
            raise ApiError(
                throttle.lockout_message(wait),
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                retry_after=wait,
            )
        if user is None:
            raise ApiError("Incorrect email or password.", status_code=status.HTTP_401_UNAUTHORIZED)
        key = tokens.issue_session(user)
        response = Response({"session_token": key}, status=status.HTTP_201_CREATED)
        response.set_cookie(
            TOKEN_COOKIE, key, httponly=True, samesite="Lax", secure=request.is_secure()
        )
        return response


class LogoutView(APIView):
    @extend_schema(
        operation_id="logout",
        summary="Sign out: revoke this request's session token and clear its cookie",
        request=None,
        responses={
            200: inline_serializer("LogoutResponse", {"message": serializers.CharField()}),
            401: ErrorSerializer,
        },
    )
    def post(self, request):
        key = token_from_request(request)
        if key:
            tokens.revoke(key)
        response = Response({"message": "Logged out!"})
        response.delete_cookie(TOKEN_COOKIE)
        return response


class TokenCreateView(APIView):
    @extend_schema(
        operation_id="createToken",
        summary="Create an API token for a user (yourself; anyone, for a site owner)",
        request=TokenRequestSerializer,
        responses={
            201: inline_serializer("TokenKey", {"key": serializers.CharField()}),
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def post(self, request, user: str):
        # As everywhere in the directory: a user you may not see does not exist for you (404).
        target = resolve_user(request, user)
        if target.pk != request.user.pk and not roles.is_owner(request.user):
            raise PermissionDenied()
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lifetime = body.validated_data.get("lifetime")
        key = tokens.issue(
            target,
            name=body.validated_data.get("token_name", ""),
            lifetime=dt.timedelta(seconds=lifetime) if lifetime else None,
        )
        return Response({"key": key}, status=status.HTTP_201_CREATED)
