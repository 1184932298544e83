"""Saved views over the API: request bodies, and the JSON of a view (saved or built-in)."""

from __future__ import annotations

from rest_framework import serializers

from connlogs.api.serializers import (
    JsonBodySerializer,
    OrganizationRefSerializer,
    organization_json,
)
from connlogs.api.text import Text
from connlogs.privacy.identities import Identities
from connlogs.privacy.resolve import user_ids_in_clear
from connlogs.roles import User
from connlogs.savedviews import access, display
from connlogs.savedviews.models import MAX_DESCRIPTION, MAX_NAME, MAX_Q, SavedView, Sharing
from connlogs.savedviews.presets import Preset
from connlogs.savedviews.resolve import shown_queries
from connlogs.values import format_time

# --- request bodies ---------------------------------------------------------------------


def _checked(error: str, value):
    if error:
        raise serializers.ValidationError(error)
    return value


class SavedViewBodySerializer(JsonBodySerializer):
    """A view to create (``name`` required) or the fields to change (``PATCH``)."""

    refuse_unknown_fields = True
    reference_fields = ("organization", "owner")

    def read_back_fields(self):
        return SavedViewSerializer().fields

    name = Text(max_length=MAX_NAME)
    description = Text(
        max_length=MAX_DESCRIPTION,
        allow_blank=True,
        required=False,
        help_text="What the view is for, in its owner's words.",
    )
    q = Text(
        max_length=MAX_Q, allow_blank=True, required=False, help_text="The search; '' is all rows."
    )
    page_size = serializers.IntegerField(
        allow_null=True, required=False, help_text="One of the list page's sizes; null: its own."
    )
    time_zone = Text(
        max_length=64,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="An IANA zone name; null or '': the reader's own.",
    )
    columns = serializers.ListField(
        child=Text(),
        allow_null=True,
        required=False,
        help_text="The list's columns to show, in order: " + ", ".join(display.COLUMNS) + ".",
    )
    sharing = serializers.ChoiceField(choices=Sharing.values, required=False)
    organization = Text(
        allow_null=True,
        required=False,
        help_text='With "sharing": "organization": its UUID or name.',
    )
    owner = Text(
        allow_null=True,
        required=False,
        help_text="A shared view's new owner (UUID or username; null: nobody).",
    )

    def validate_page_size(self, value):
        return _checked(display.page_size_error(value), value)

    def validate_time_zone(self, value):
        return _checked(display.time_zone_error(value or ""), value or "")

    def validate_columns(self, value):
        return _checked(display.columns_error(value), value)


class StartViewBodySerializer(JsonBodySerializer):
    refuse_unknown_fields = True
    reference_fields = ("view",)  # what GET shows: the view itself, or null

    def read_back_fields(self):
        return StartViewSerializer().fields

    view = Text(
        allow_null=True,
        help_text="A saved view's id or a built-in view's key; null: no start view.",
    )


# --- the JSON of a view -----------------------------------------------------------------


def _owner_json(view: SavedView, viewer: User, in_clear: set | None) -> dict | None:
    """The view's owner as ``viewer`` is shown people: by name when ``viewer`` may name them
    (``in_clear``: ``privacy.resolve.user_ids_in_clear``, ``None`` for everyone), else by the
    pseudonym their connections show (so a real name sent as a new owner never comes back
    as its pseudonym)."""
    owner = view.owner
    if owner is None:
        return None
    if in_clear is not None and owner.pk != viewer.pk and owner.pk not in in_clear:
        shown = Identities.for_viewer(viewer).user(owner.pk)
        return {"id": str(shown.id), "username": shown.username}
    return {"id": str(owner.id), "username": owner.username}


def owners_in_clear(views, viewer: User) -> set | None:
    """``in_clear`` for ``saved_view_json`` of these views (one query at most)."""
    owners = {view.owner_id for view in views if isinstance(view, SavedView) and view.owner_id}
    return user_ids_in_clear(owners, viewer) if owners else set()


def saved_view_json(
    view: SavedView, viewer: User, shown_q: str | None = None, in_clear: set | None = ...
) -> dict:
    """A saved view as ``viewer`` (who may see it) sees it; load it with
    ``select_related("organization", "owner")``. ``shown_q``: its ``q`` as ``viewer`` is
    shown it (``resolve.shown_queries``); ``in_clear``: ``owners_in_clear`` of the views
    shown together; both worked out here when not given."""
    owner = view.owner
    if shown_q is None:
        shown_q = shown_queries([view], viewer)[str(view.id)]
    if in_clear is ...:
        in_clear = owners_in_clear([view], viewer)
    return {
        "id": str(view.id),
        "name": view.name,
        "q": shown_q,
        "description": view.description,
        "page_size": view.page_size,
        "time_zone": view.time_zone or None,
        "columns": view.columns,
        "sharing": view.sharing,
        "organization": organization_json(view.organization) if view.organization else None,
        "owner": _owner_json(view, viewer, in_clear),
        "mine": owner is not None and owner.pk == viewer.pk,
        "built_in": False,
        "editable": access.may_change(viewer, view),
        "created_at": format_time(view.created_at),
        "updated_at": format_time(view.updated_at),
    }


def preset_json(preset: Preset) -> dict:
    """A built-in view: read-only, shared with everyone, no owner and no display choices."""
    return {
        "id": preset.key,
        "name": preset.name,
        "q": preset.q,
        "description": preset.description,
        "page_size": None,
        "time_zone": None,
        "columns": None,
        "sharing": Sharing.EVERYONE.value,
        "organization": None,
        "owner": None,
        "mine": False,
        "built_in": True,
        "editable": False,
        "created_at": None,
        "updated_at": None,
    }


def view_json(
    view: SavedView | Preset, viewer: User, shown_q: str | None = None, in_clear: set | None = ...
) -> dict:
    if isinstance(view, Preset):
        return preset_json(view)
    return saved_view_json(view, viewer, shown_q, in_clear)


# --- schema only (the functions above build the JSON) -------------------------------------


class ViewOwnerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = Text()


class SavedViewSerializer(serializers.Serializer):
    id = Text(help_text="A UUID, or a built-in view's key.")
    name = Text()
    q = Text()
    description = Text(help_text="What the view is for ('' when its owner gave nothing).")
    page_size = serializers.IntegerField(allow_null=True)
    time_zone = Text(allow_null=True)
    columns = serializers.ListField(child=Text(), allow_null=True)
    sharing = serializers.ChoiceField(choices=Sharing.values)
    organization = OrganizationRefSerializer(allow_null=True)
    owner = ViewOwnerSerializer(allow_null=True, help_text="null: built in, or owner deleted.")
    mine = serializers.BooleanField(help_text="The caller owns it.")
    built_in = serializers.BooleanField()
    editable = serializers.BooleanField(help_text="The caller may change and delete it.")
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class SavedViewListSerializer(serializers.Serializer):
    views = SavedViewSerializer(many=True)
    start_view_id = Text(allow_null=True)


class StartViewSerializer(serializers.Serializer):
    view = SavedViewSerializer(allow_null=True)
