"""Saved views: ``/api/v2/connectionlog/views`` (list, create), ``…/views/{id}`` (read,
change, delete) and ``…/start-view`` (the caller's start page).

Who may do what is ``connlogs.savedviews.access``. A view the caller may not see answers 404,
exactly as one that does not exist; one they see but may not change answers 403; built-in
views are never changed (403).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs.alerts.models import AlertRule
from connlogs.api.directory import error_responses, validated
from connlogs.api.errors import ApiError
from connlogs.api.lookups import resolve_organization, resolve_user
from connlogs.api.saved_view_serializers import (
    SavedViewBodySerializer,
    SavedViewListSerializer,
    SavedViewSerializer,
    StartViewBodySerializer,
    StartViewSerializer,
    owners_in_clear,
    view_json,
)
from connlogs.privacy import outbound
from connlogs.privacy.shown_query import ShownQuery, kept_as_stored
from connlogs.savedviews import access
from connlogs.savedviews.models import SavedView, Sharing, StartView
from connlogs.savedviews.presets import PRESETS, Preset
from connlogs.savedviews.resolve import NOT_VISIBLE, find_view, shown_queries, start_view
from connlogs.search import Validation
from connlogs.search.request import LogSearch
from connlogs.streams.models import Stream

# Views one user may own: enough for any team's habits, not a way to fill the database.
MAX_OWNED = 500

VIEW_PARAMETER = OpenApiParameter(
    "view",
    OpenApiTypes.STR,
    description=(
        "A saved view's id, or a built-in view's key, in place of `q` (its `q` is used, in "
        "the caller's own scope). With a non-empty `q`, or naming a view the caller may not "
        "see: 400."
    ),
)
VIEW_ID = OpenApiParameter(
    "view",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="A saved view's UUID, or a built-in view's key.",
)
BUILT_IN = "Built-in views cannot be changed or deleted."


def _invalid(field: str, detail: str) -> ApiError:
    return ApiError("Validation failed.", validations=[Validation(field, detail)])


def _saved_views(user):
    return access.visible_views(user).select_related("organization", "owner")


def _visible(request, ref: str) -> SavedView | Preset:
    view = find_view(ref, request.user)
    if view is None:
        raise NotFound()
    if isinstance(view, SavedView):
        view = _saved_views(request.user).get(pk=view.pk)
    return view


def _changeable(request, ref: str) -> SavedView:
    view = _visible(request, ref)
    if isinstance(view, Preset):
        raise PermissionDenied(BUILT_IN)
    if not access.may_change(request.user, view):
        raise PermissionDenied(
            "Only a personal view's owner, an organization's admins (its shared views) and "
            "site owners may change or delete a view."
        )
    return view


def _share(request, view: SavedView, data: dict) -> None:
    """Apply ``sharing`` and ``organization`` from ``data``; 400/403 when not allowed."""
    sharing = data.get("sharing", view.sharing)
    organization_id = None
    if sharing == Sharing.ORGANIZATION:
        if data.get("organization"):
            try:
                organization_id = resolve_organization(request, data["organization"]).id
            except NotFound:
                raise _invalid(
                    "organization", "No organization by that name or id that you can see."
                ) from None
        elif view.sharing == Sharing.ORGANIZATION and "organization" not in data:
            organization_id = view.organization_id
        else:
            raise _invalid("organization", 'Name the organization to share with ("sharing").')
    elif data.get("organization"):
        raise _invalid("organization", 'Only a view with "sharing": "organization" names one.')
    if not access.may_share(request.user, sharing, organization_id):
        raise PermissionDenied(
            "Organization admins share views with their organization; site owners with "
            "any organization or with everyone."
        )
    if sharing == Sharing.PERSONAL and (view.sharing != Sharing.PERSONAL or view.owner_id is None):
        view.owner = request.user  # unshared (or new): it becomes the caller's own
    view.sharing, view.organization_id = sharing, organization_id


def _reassign(request, view: SavedView, ref: str | None) -> None:
    if view.owner_id is not None and ref == str(view.owner_id):
        return  # its owner, as the API shows it (a body read back whole)
    if view.sharing == Sharing.PERSONAL:
        raise _invalid("owner", "A personal view stays with its owner: share it first.")
    if ref is None:
        view.owner = None
        return
    try:
        owner = resolve_user(request, ref)
    except NotFound:
        raise _invalid("owner", "No user by that name or id that you can see.") from None
    if not access.may_see(owner, view):
        raise _invalid("owner", f'"{owner.username}" may not see this view.')
    view.owner = owner


def _check_feeds(request, view: SavedView) -> None:
    """A view that a stream or alert rule follows is what it sends: its search changes only
    by someone who sees what the stream or rule reads (``privacy.outbound``); a 403."""
    followers = [
        *Stream.objects.filter(view=str(view.pk)).select_related("created_by"),
        *AlertRule.objects.filter(view=str(view.pk)).select_related("created_by"),
    ]
    for follower in followers:
        if outbound.reads_beyond(request.user, follower.created_by):
            kind = "a stream" if isinstance(follower, Stream) else "an alert rule"
            detail = outbound.VIEW_FEEDS.format(feeds=f'{kind} ("{follower.name}")')
            raise ApiError(detail, status_code=status.HTTP_403_FORBIDDEN)


def _apply(request, view: SavedView, data: dict) -> SavedView:
    """Set ``data`` (a validated body) on ``view``, check every rule, save, and answer the
    view as stored."""
    if "q" in data and kept_as_stored(ShownQuery.for_viewer(request.user), data["q"], view.q):
        # The q it was shown, sent back (a rename form sends every field): kept as stored.
        data = {name: value for name, value in data.items() if name != "q"}
    if "q" in data:
        search = LogSearch.from_request(request, q=data["q"])
        if search.validations:
            raise ApiError("Invalid connection search query.", validations=search.validations)
    if "q" in data and data["q"] != view.q and not view._state.adding:
        _check_feeds(request, view)
    for name in ("name", "description", "q", "page_size", "time_zone", "columns"):
        if name in data:
            setattr(view, name, data[name])
    _share(request, view, data)
    if "owner" in data:
        _reassign(request, view, data["owner"])
    view.save()
    return _saved_views(request.user).filter(pk=view.pk).first() or view


class SavedViewListView(APIView):
    @extend_schema(
        operation_id="listSavedViews",
        summary="The saved views you may open (yours, shared with you) and the built-in ones",
        responses={200: SavedViewListSerializer, **error_responses(401)},
    )
    def get(self, request):
        user = request.user
        saved = sorted(
            _saved_views(user),
            key=lambda view: (view.sharing != Sharing.PERSONAL, view.name.lower(), str(view.id)),
        )
        start = start_view(user)
        shown, in_clear = shown_queries(saved, user), owners_in_clear(saved, user)
        return Response(
            {
                "views": [view_json(view, user, shown[str(view.pk)], in_clear) for view in saved]
                + [view_json(preset, user) for preset in PRESETS.values()],
                "start_view_id": None
                if start is None
                else (start.key if isinstance(start, Preset) else str(start.id)),
            }
        )

    @extend_schema(
        operation_id="createSavedView",
        summary="Save a view: personal, or shared with an organization (its admins) or with "
        "everyone (site owners)",
        request=SavedViewBodySerializer,
        responses={201: SavedViewSerializer, **error_responses(400, 401, 403)},
    )
    def post(self, request):
        data = validated(SavedViewBodySerializer, request)
        if SavedView.objects.filter(owner=request.user).count() >= MAX_OWNED:
            raise _invalid("name", f"You keep {MAX_OWNED} saved views already: delete some first.")
        view = _apply(request, SavedView(owner=request.user), data)
        return Response(view_json(view, request.user), status=status.HTTP_201_CREATED)


class SavedViewDetailView(APIView):
    @extend_schema(
        operation_id="getSavedView",
        summary="A saved or built-in view",
        parameters=[VIEW_ID],
        responses={200: SavedViewSerializer, **error_responses(401, 404)},
    )
    def get(self, request, view: str):
        return Response(view_json(_visible(request, view), request.user))

    @extend_schema(
        operation_id="updateSavedView",
        summary="Rename, change, share or unshare, or give a shared view a new owner",
        parameters=[VIEW_ID],
        request=SavedViewBodySerializer(partial=True),
        responses={200: SavedViewSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request, view: str):
        found = _changeable(request, view)
        body = SavedViewBodySerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        return Response(view_json(_apply(request, found, body.validated_data), request.user))

    @extend_schema(
        operation_id="deleteSavedView",
        summary="Delete a saved view",
        parameters=[VIEW_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request, view: str):
        _changeable(request, view).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class StartViewView(APIView):
    @extend_schema(
        operation_id="getStartView",
        summary="The view your connection-log page opens with (null: none)",
        responses={200: StartViewSerializer, **error_responses(401)},
    )
    def get(self, request):
        start = start_view(request.user)
        return Response({"view": None if start is None else view_json(start, request.user)})

    @extend_schema(
        operation_id="setStartView",
        summary="Open your connection-log page with this view (saved or built-in)",
        request=StartViewBodySerializer,
        responses={200: StartViewSerializer, **error_responses(400, 401)},
    )
    def put(self, request):
        ref = validated(StartViewBodySerializer, request)["view"]
        if ref is None:  # what GET answers for none, sent back
            StartView.objects.filter(user=request.user).delete()
            return self.get(request)
        view = find_view(ref, request.user)
        if view is None:
            raise _invalid("view", NOT_VISIBLE)
        is_preset = isinstance(view, Preset)
        StartView.objects.update_or_create(
            user=request.user,
            defaults={
                "view": None if is_preset else view,
                "preset": view.key if is_preset else "",
            },
        )
        return self.get(request)

    @extend_schema(
        operation_id="clearStartView",
        summary="Open your connection-log page with no view",
        request=None,
        responses={204: None, **error_responses(401)},
    )
    def delete(self, request):
        StartView.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
