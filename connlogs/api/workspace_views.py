"""Workspaces (write-api.md section 4): created for a member, soft-deleted, never erased.

A deleted workspace keeps its connection logs, readable and filterable, and frees its name.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from connlogs import roles
from connlogs.api.directory import (
    ORG_PARAM,
    USER_PARAM,
    DirectoryView,
    create_or_conflict,
    error_responses,
    managed_organization,
    membership_of,
    validated,
)
from connlogs.api.directory_serializers import (
    WorkspaceCreateSerializer,
    WorkspaceSerializer,
    workspace_json,
)
from connlogs.api.lookups import resolve_user, resolve_workspace
from connlogs.models import Workspace
from connlogs.privacy.identities import Identities

WORKSPACE_PARAM = OpenApiParameter("workspace", OpenApiTypes.UUID, OpenApiParameter.PATH)


NAMES_A_PROTECTED_PERSON = (
    "This organization's log shows pseudonyms to you (data protection mode): a workspace "
    "created here for a member you name would tell you theirs. A site owner or an identity "
    "viewer can create it."
)


def _shown(request, workspace: Workspace) -> dict:
    """The workspace's JSON with its owner as the caller is shown it (its log rows' pseudonym
    where they show one)."""
    identities = Identities.for_viewer(request.user)
    shown = workspace_json(workspace) | identities.conceal_workspace(workspace, request.user)
    identities.remember_after_response()
    return shown


class WorkspaceCreateView(DirectoryView):
    @extend_schema(
        operation_id="createWorkspace",
        summary="Create a workspace for a member (site owner, organization admin)",
        parameters=[ORG_PARAM, USER_PARAM],
        request=WorkspaceCreateSerializer,
        responses={201: WorkspaceSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request, org: str, user: str):
        organization = managed_organization(request, org)
        target = resolve_user(request, user)
        membership_of(organization, target)
        identities = Identities.for_viewer(request.user)
        if target.pk != request.user.pk and identities.conceals(identities.protects(organization)):
            # The workspace's id is in every row of its owner's: created for a member named
            # here, it would pair that person with the pseudonym the log shows instead.
            raise PermissionDenied(NAMES_A_PROTECTED_PERSON)
        name = validated(WorkspaceCreateSerializer, request)["name"]
        workspace = create_or_conflict(
            lambda: Workspace.objects.create(organization=organization, owner=target, name=name),
            [
                (
                    "name",
                    f'"{target.username}" already has a workspace named "{name}".',
                    Workspace.objects.filter(owner=target, name=name, deleted=False).exists,
                )
            ],
        )
        return Response(_shown(request, workspace), status=status.HTTP_201_CREATED)


class WorkspaceDetailView(DirectoryView):
    @extend_schema(
        operation_id="getWorkspace",
        summary="A workspace, deleted or not (its owner; readers of its organization's log)",
        parameters=[WORKSPACE_PARAM],
        responses={200: WorkspaceSerializer, **error_responses(401, 404)},
    )
    def get(self, request, workspace: str):
        return Response(_shown(request, resolve_workspace(request, workspace)))

    @extend_schema(
        operation_id="deleteWorkspace",
        summary="Mark a workspace deleted; its logs stay (site owner, organization admin)",
        parameters=[WORKSPACE_PARAM],
        request=None,
        responses={200: WorkspaceSerializer, **error_responses(401, 403, 404)},
    )
    def delete(self, request, workspace: str):
        found = resolve_workspace(request, workspace)
        if not roles.may_manage_organization(request.user, found.organization_id):
            raise PermissionDenied(
                "Only site owners and the organization's admins may delete workspaces."
            )
        found.soft_delete()
        return Response(_shown(request, found))
