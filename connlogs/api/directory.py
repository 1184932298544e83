"""The directory API: users, organizations and members (write-api.md 2 and 3).

Workspaces are in ``workspace_views``, which shares the helpers defined here.

Who may do what is asked of ``connlogs.roles``. An object the caller may not see answers
404, exactly like one that does not exist, so names and ids cannot be probed; an object the
caller sees but may not change answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs import owners, roles
from connlogs.api.directory_serializers import (
    MemberSerializer,
    OrganizationCreateSerializer,
    OrganizationRolesSerializer,
    OrganizationSerializer,
    SiteRolesSerializer,
    UserCreateSerializer,
    member_json,
    organization_detail_json,
)
from connlogs.api.errors import NOT_FOUND, ApiError, Conflict
from connlogs.api.lookups import resolve_organization, resolve_user
from connlogs.api.parsers import BoundedJSONParser
from connlogs.api.permissions import MayCreateOrganizations, MayManageUsers
from connlogs.api.serializers import ErrorSerializer, UserSerializer, shown_user_json
from connlogs.models import Membership, Organization, User
from connlogs.search import Validation

T = TypeVar("T")

USER_PARAM = OpenApiParameter(
    "user", OpenApiTypes.STR, OpenApiParameter.PATH, description="A UUID, a username or `me`."
)
ORG_PARAM = OpenApiParameter(
    "org", OpenApiTypes.STR, OpenApiParameter.PATH, description="A UUID or a name."
)

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
}


def error_responses(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


def create_or_conflict(
    build: Callable[[], T], conflicts: list[tuple[str, str, Callable[[], bool]]]
) -> T:
    """``build()``, or 409 naming the taken field, also when a concurrent request took it
    between our check and our insert (the unique constraint then answers)."""
    for field, detail, taken in conflicts:
        if taken():
            raise Conflict(field, detail)
    try:
        with transaction.atomic():
            return build()
    except IntegrityError:
        for field, detail, taken in conflicts:
            if taken():
                raise Conflict(field, detail) from None
        raise


def validated(serializer_class, request) -> dict:
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


class DirectoryView(APIView):
    parser_classes = [BoundedJSONParser]


# --- users ------------------------------------------------------------------------------


class UserCreateView(DirectoryView):
    permission_classes = [MayManageUsers]

    @extend_schema(
        operation_id="createUser",
        summary="Create a user (site owner)",
        request=UserCreateSerializer,
        responses={201: UserSerializer, **error_responses(400, 401, 403, 409)},
    )
    def post(self, request):
        data = validated(UserCreateSerializer, request)
        username, email = data["username"], data["email"]
        user = create_or_conflict(
            lambda: User.objects.create_user(
                username,
                email,
                data.get("password"),
                name=data["name"],
                login_type=data["login_type"],
            ),
            [
                (
                    "username",
                    f'The username "{username}" is taken.',
                    User.objects.filter(username__iexact=username).exists,
                ),
                (
                    "email",
                    f'The email "{email}" is taken.',
                    User.objects.filter(email__iexact=email).exists,
                ),
            ],
        )
        return Response(shown_user_json(user, request.user), status=status.HTTP_201_CREATED)


class UserDetailView(DirectoryView):
    @extend_schema(
        operation_id="getUser",
        summary="A user (yourself; site owners and auditors; admins and auditors of their orgs)",
        parameters=[USER_PARAM],
        responses={200: UserSerializer, **error_responses(401, 404)},
    )
    def get(self, request, user: str):
        return Response(shown_user_json(resolve_user(request, user), request.user))


class UserRolesView(DirectoryView):
    permission_classes = [MayManageUsers]

    @extend_schema(
        operation_id="updateUserRoles",
        summary="Replace a user's site roles (site owner)",
        parameters=[USER_PARAM],
        request=SiteRolesSerializer,
        responses={200: UserSerializer, **error_responses(400, 401, 403, 404)},
    )
    def put(self, request, user: str):
        target = resolve_user(request, user)
        new_roles = validated(SiteRolesSerializer, request)["roles"]
        with transaction.atomic():
            try:
                owners.keep_an_owner({target.pk: {"site_roles": new_roles}})
            except owners.LastOwnerError as error:
                raise ApiError(
                    "Validation failed.", validations=[Validation("roles", str(error))]
                ) from None
            target.site_roles = new_roles
            target.save(update_fields=["site_roles", "updated_at"])
        return Response(shown_user_json(target, request.user))


# --- organizations ----------------------------------------------------------------------


class OrganizationCreateView(DirectoryView):
    permission_classes = [MayCreateOrganizations]

    @extend_schema(
        operation_id="createOrganization",
        summary="Create an organization (site owner)",
        request=OrganizationCreateSerializer,
        responses={201: OrganizationSerializer, **error_responses(400, 401, 403, 409)},
    )
    def post(self, request):
        data = validated(OrganizationCreateSerializer, request)
        organization = create_or_conflict(
            lambda: Organization.objects.create(**data),
            [
                (
                    "name",
                    f'The organization name "{data["name"]}" is taken.',
                    Organization.objects.filter(name=data["name"]).exists,
                )
            ],
        )
        return Response(organization_detail_json(organization), status=status.HTTP_201_CREATED)


class OrganizationDetailView(DirectoryView):
    @extend_schema(
        operation_id="getOrganization",
        summary="An organization (site owners and auditors; its members)",
        parameters=[ORG_PARAM],
        responses={200: OrganizationSerializer, **error_responses(401, 404)},
    )
    def get(self, request, org: str):
        return Response(organization_detail_json(resolve_organization(request, org)))


def managed_organization(request, ref: str) -> Organization:
    """The organization, if the caller may manage its members and workspaces."""
    organization = resolve_organization(request, ref)
    if not roles.may_manage_organization(request.user, organization.id):
        raise PermissionDenied(
            "Only site owners and this organization's admins may manage its members and workspaces."
        )
    return organization


def membership_of(organization: Organization, target: User) -> Membership:
    membership = Membership.objects.filter(organization=organization, user=target).first()
    if membership is None:
        raise ApiError(
            NOT_FOUND,
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f'"{target.username}" is not a member of "{organization.name}".',
        )
    return membership


# --- members ----------------------------------------------------------------------------


class MemberView(DirectoryView):
    @extend_schema(
        operation_id="addOrganizationMember",
        summary="Add a user to an organization (site owner: anyone; organization admin: a "
        "user they can already see, as any other name answers 404)",
        parameters=[ORG_PARAM, USER_PARAM],
        request=None,
        responses={200: MemberSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request, org: str, user: str):
        organization = managed_organization(request, org)
        target = resolve_user(request, user)
        membership = create_or_conflict(
            lambda: Membership.objects.create(organization=organization, user=target),
            [
                (
                    "user",
                    f'"{target.username}" is already a member of "{organization.name}".',
                    Membership.objects.filter(organization=organization, user=target).exists,
                )
            ],
        )
        roles.forget_memberships(target)
        return Response(member_json(membership))

    @extend_schema(
        operation_id="removeOrganizationMember",
        summary="Remove a member (their workspaces and connection logs stay)",
        parameters=[ORG_PARAM, USER_PARAM],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request, org: str, user: str):
        organization = managed_organization(request, org)
        target = resolve_user(request, user)
        membership_of(organization, target).delete()
        roles.forget_memberships(target)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberRolesView(DirectoryView):
    @extend_schema(
        operation_id="updateOrganizationMemberRoles",
        summary="Replace a member's organization roles (site owner, organization admin)",
        parameters=[ORG_PARAM, USER_PARAM],
        request=OrganizationRolesSerializer,
        responses={200: MemberSerializer, **error_responses(400, 401, 403, 404)},
    )
    def put(self, request, org: str, user: str):
        organization = managed_organization(request, org)
        membership = membership_of(organization, resolve_user(request, user))
        membership.roles = validated(OrganizationRolesSerializer, request)["roles"]
        membership.save(update_fields=["roles", "updated_at"])
        roles.forget_memberships(membership.user)
        return Response(member_json(membership))
