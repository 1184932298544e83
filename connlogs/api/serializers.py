"""The JSON contract of a connection log and a user: the only module that shapes them.

The declared fields describe the shape for the OpenAPI schema; the ``*_json`` functions
build it directly, because keys are omitted (not null) in the contract's specific cases,
because a user object depends on who asks (``organization_ids``), and because exports
stream millions of rows through the same function.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

from rest_framework import serializers

from connlogs import roles
from connlogs.models import (
    WEB_TYPES,
    ConnectionLog,
    ConnectionType,
    Membership,
    Organization,
    User,
)
from connlogs.privacy.identities import Identities
from connlogs.values import format_time


def user_json(user: User, organization_ids: list[str]) -> dict:
    """Coder's ``codersdk.User`` object for ``user``.

    ``name`` and ``avatar_url`` are omitted when empty, as Coder's ``omitempty`` tags do (its
    schema gives ``avatar_url`` ``format: uri``, which ``""`` is not). ``has_ai_seat`` is
    always present and false: connlogs has no AI seats. ``organization_ids`` are canonical
    UUID texts: the user's organizations the caller may see (``organization_ids_by_user``).
    """
    shown = {"id": str(user.id), "username": user.username}
    if user.name:
        shown["name"] = user.name
    shown["email"] = user.email
    if user.avatar_url:
        shown["avatar_url"] = user.avatar_url
    shown.update(
        {
            "created_at": format_time(user.created_at),
            "updated_at": format_time(user.updated_at),
            "last_seen_at": format_time(user.last_seen_at),
            "status": user.status,
            "login_type": user.login_type,
            "has_ai_seat": False,
            "organization_ids": organization_ids,
            "roles": roles.role_objects(user.site_roles or []),
        }
    )
    return shown


def organization_ids_by_user(user_ids: Iterable[uuid.UUID], viewer: User) -> dict:
    """``{user id: [organization id text, ...]}``: each user's organizations that ``viewer``
    may see (``roles.visible_organization_ids``), sorted; users without any are left out.

    One query for all the users (none when there are none or the viewer sees no
    organization), so a page or an export batch never asks once per user.
    """
    user_ids = set(user_ids)
    visible = roles.visible_organization_ids(viewer)
    if not user_ids or visible == []:
        return {}
    memberships = Membership.objects.filter(user_id__in=user_ids)
    if visible is not None:
        memberships = memberships.filter(organization_id__in=visible)
    found: dict = {}
    for user_id, organization_id in memberships.values_list("user_id", "organization_id"):
        found.setdefault(user_id, []).append(str(organization_id))
    for ids in found.values():
        ids.sort()
    return found


def shown_user_json(user: User, viewer: User) -> dict:
    """``user_json`` of one user as ``viewer`` sees it (the directory API's answers)."""
    return user_json(user, organization_ids_by_user([user.id], viewer).get(user.id, []))


def organization_json(organization: Organization) -> dict:
    return {
        "id": str(organization.id),
        "name": organization.name,
        "display_name": organization.display_name,
        "icon": organization.icon,
    }


def _shows_user(row: ConnectionLog) -> bool:
    # Only web rows show their user: an agent row's is never loaded.
    return bool(row.user_id) and row.type in WEB_TYPES


def connection_log_entries(
    rows: Iterable[ConnectionLog], viewer: User | None, identities: Identities | None = None
) -> list[dict]:
    """The read contract's entries of rows loaded with ``with_related()``, as ``viewer``
    sees them: one query for the organizations of all the users they show.

    ``identities`` says who is shown as a pseudonym (data protection mode): the door's own,
    which also records reveals for its access-log entry; without it, ``viewer``'s, whose
    pseudonyms are indexed after the response. A stream without a viewer passes
    ``Identities.for_stream()`` and ``viewer=None`` (no user object lists organizations).
    """
    if identities is None:
        identities = Identities.for_viewer(viewer)
        identities.remember_after_response()
    rows = [identities.conceal_row(row) for row in rows]
    organization_ids = organization_ids_by_user(
        {row.user_id for row in rows if _shows_user(row)}, viewer
    )
    return [connection_log_json(row, organization_ids) for row in rows]


def conceal_entry(entry: dict, identities: Identities) -> dict:
    """A read-contract entry (as ``connection_log_entries`` made it for a reader who sees
    every identity) as ``identities`` shows it: for a concealed row a copy in which the
    owner, the web user and the address are pseudonyms; otherwise ``entry`` itself.

    For doors that hold JSON rather than rows (the change feed's consumers, outbound
    streams). Keys and types stay those of the contract.
    """
    if not identities.conceals(identities.protects_id(entry["organization"]["id"])):
        return entry
    shown = dict(entry)
    owner = identities.user(entry["workspace_owner_id"])
    shown["workspace_owner_id"], shown["workspace_owner_username"] = str(owner.id), owner.username
    if entry.get("ip"):
        shown["ip"] = identities.ip(entry["ip"])
    user = (entry.get("web_info") or {}).get("user")
    if user:
        stand_in = identities.stand_in(user["id"], user["status"], user["login_type"])
        shown["web_info"] = {**entry["web_info"], "user": user_json(stand_in, [])}
    return shown


def connection_log_json(row: ConnectionLog, organization_ids: Mapping) -> dict:
    """The read contract's entry of a log row loaded with ``with_related()``;
    ``organization_ids`` is ``organization_ids_by_user`` of (at least) the row's user."""
    return connection_log_entry(
        row.id,
        row.connect_time,
        organization_json(row.organization),
        row.workspace_owner_id,
        row.workspace_owner.username,
        row.workspace_id,
        row.workspace_name,
        row.agent_name,
        row.ip,
        row.type,
        row.user_agent,
        user_json(row.user, organization_ids.get(row.user_id, [])) if _shows_user(row) else None,
        row.slug_or_port,
        row.code,
        row.connection_id,
        row.disconnect_time,
        row.disconnect_reason,
    )


def connection_log_entry(
    log_id: uuid.UUID | str,
    connect_time: dt.datetime,
    organization: dict,
    workspace_owner_id: uuid.UUID | str,
    workspace_owner_username: str,
    workspace_id: uuid.UUID | str,
    workspace_name: str,
    agent_name: str,
    ip: str | None,
    kind: str,
    user_agent: str,
    user: dict | None,
    slug_or_port: str,
    code: int | None,
    connection_id: uuid.UUID | str | None,
    disconnect_time: dt.datetime | None,
    disconnect_reason: str,
) -> dict:
    """The entry of one log row from its column values: the one place the shape is written.

    ``organization`` and ``user`` are ``organization_json`` / ``user_json`` of the row's
    organization and web user (None when it has none), built by the caller: the read API
    from the joined model instances, the export once per export from cached lookups, so a
    million rows do not shape the same few users a million times. Ids may be UUIDs or their
    canonical text. Positional, because the export calls this for every row it streams.
    """
    entry = {
        "id": str(log_id),
        "connect_time": format_time(connect_time),
        "organization": organization,
        "workspace_owner_id": str(workspace_owner_id),
        "workspace_owner_username": workspace_owner_username,
        "workspace_id": str(workspace_id),
        "workspace_name": workspace_name,
        "agent_name": agent_name,
    }
    if ip:
        entry["ip"] = str(ip)
    entry["type"] = kind
    if kind in WEB_TYPES:
        entry["web_info"] = {
            "user_agent": user_agent or "",
            "user": user,
            "slug_or_port": slug_or_port or "",
            "status_code": code if code is not None else 200,
        }
    else:
        ssh_info = {"connection_id": str(connection_id)}
        if disconnect_time is not None:
            ssh_info["disconnect_time"] = format_time(disconnect_time)
        if disconnect_reason:
            ssh_info["disconnect_reason"] = disconnect_reason
        if code is not None:
            ssh_info["exit_code"] = code
        entry["ssh_info"] = ssh_info
    return entry


class RoleSerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()


class UserSerializer(serializers.Serializer):
    """The schema of ``user_json`` (which builds the JSON)."""

    id = serializers.UUIDField()
    username = serializers.CharField()
    name = serializers.CharField(required=False, help_text="Omitted when empty.")
    email = serializers.EmailField()
    avatar_url = serializers.URLField(required=False, help_text="Omitted when empty.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=User.Status.choices)
    login_type = serializers.ChoiceField(choices=User.LoginType.choices)
    has_ai_seat = serializers.BooleanField(help_text="Always false: connlogs has no AI seats.")
    organization_ids = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="The user's organizations that the caller may see.",
    )
    roles = RoleSerializer(many=True)


class OrganizationRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    icon = serializers.CharField()


class WebInfoSerializer(serializers.Serializer):
    user_agent = serializers.CharField()
    user = UserSerializer(allow_null=True)
    slug_or_port = serializers.CharField()
    status_code = serializers.IntegerField()


class SshInfoSerializer(serializers.Serializer):
    connection_id = serializers.UUIDField()
    disconnect_time = serializers.DateTimeField(required=False)
    disconnect_reason = serializers.CharField(required=False)
    exit_code = serializers.IntegerField(required=False)


class ConnectionLogSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    connect_time = serializers.DateTimeField()
    organization = OrganizationRefSerializer()
    workspace_owner_id = serializers.UUIDField()
    workspace_owner_username = serializers.CharField()
    workspace_id = serializers.UUIDField()
    workspace_name = serializers.CharField()
    agent_name = serializers.CharField()
    ip = serializers.IPAddressField(required=False, help_text="Omitted when unknown.")
    type = serializers.ChoiceField(choices=ConnectionType.choices)
    web_info = WebInfoSerializer(
        required=False, help_text="Only for workspace_app, port_forwarding and tunnel rows."
    )
    ssh_info = SshInfoSerializer(
        required=False, help_text="Only for ssh, vscode, jetbrains and reconnecting_pty rows."
    )


class ConnectionLogPageSerializer(serializers.Serializer):
    connection_logs = ConnectionLogSerializer(many=True)
    count = serializers.IntegerField(help_text="Matching rows, counted up to count_cap + 1.")
    count_cap = serializers.IntegerField()


class ValidationSerializer(serializers.Serializer):
    field = serializers.CharField()
    detail = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    detail = serializers.CharField(required=False)
    validations = ValidationSerializer(many=True, required=False)


# --- request bodies -----------------------------------------------------------------------


def _json_type_error(field: serializers.Field, value) -> str:
    """Why ``value`` (as parsed from JSON) has the wrong type for ``field``; "" when it is fine.

    DRF coerces scalars (``123`` becomes ``"123"``, ``"60"`` becomes ``60``); the write API
    takes JSON types as declared, as the events endpoint does, so a wrong type is a 400.
    """
    if value is None:
        return ""  # DRF answers "may not be null" itself
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return ""  # DRF answers "Expected a list of items" itself
        return next((error for item in value if (error := _json_type_error(field.child, item))), "")
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Must be a string."
    if isinstance(field, serializers.IntegerField) and (
        not isinstance(value, int) or isinstance(value, bool)
    ):
        return "Must be an integer."
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    return ""


class JsonBodySerializer(serializers.Serializer):
    """The base of every request body: JSON types are checked, never coerced.

    ``refuse_unknown_fields``: a key the body does not define is a 400 ("Unknown field."), as
    on the events endpoint, instead of being ignored (a misspelt ``"thresold"`` would leave
    the rule as it was). connlogs' own bodies set it; the directory's and the sign-in's stay
    lenient, as Coder's (Go's ``encoding/json``) are, so a Coder client's extra fields pass.
    """

    refuse_unknown_fields = False
    # Fields that take a UUID (or a name) and that the API shows as an object with an "id"
    # (``{"id": …, "name": …}``): given that object back, the body reads its id.
    reference_fields: tuple[str, ...] = ()

    def read_back_fields(self) -> Iterable[str]:
        """Keys of the resource as the API shows it (its response serializer's fields): a body
        read back unchanged (GET, edit, PATCH) carries them, and they are not refused."""
        return ()

    def _referenced(self, data: dict) -> dict:
        """The ``reference_fields`` given as the API shows them (an object with an ``id``),
        as their ids."""
        return {
            name: str(value["id"])
            for name in self.reference_fields
            if isinstance(value := data.get(name), dict) and "id" in value
        }

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = {**data, **self._referenced(data)}
            errors = {
                name: [error]
                for name, field in self.fields.items()
                if not field.read_only
                and name in data
                and (error := _json_type_error(field, data[name]))
            }
            if self.refuse_unknown_fields:  # (read back whole: see read_back_fields)
                known = set(self.fields) | set(self.read_back_fields())
                errors.update({key: ["Unknown field."] for key in data if key not in known})
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
