"""The JSON contract of a connection log and a user: the only module that shapes them.

The declared fields describe the shape for the OpenAPI schema; ``to_representation`` builds
it directly, because keys are omitted (not null) in the contract's specific cases and
because exports stream millions of rows through the same function.
"""

from __future__ import annotations

import datetime as dt
import uuid

from rest_framework import serializers

from connlogs import roles
from connlogs.models import WEB_TYPES, ConnectionLog, ConnectionType, Organization, User
from connlogs.values import format_time


def user_json(user: User) -> dict:
    return {
        "id": str(user.id),
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "avatar_url": user.avatar_url,
        "created_at": format_time(user.created_at),
        "updated_at": format_time(user.updated_at),
        "last_seen_at": format_time(user.last_seen_at),
        "status": user.status,
        "login_type": user.login_type,
        "organization_ids": [],
        "roles": roles.role_objects(user.site_roles or []),
    }


def organization_json(organization: Organization) -> dict:
    return {
        "id": str(organization.id),
        "name": organization.name,
        "display_name": organization.display_name,
        "icon": organization.icon,
    }


def connection_log_json(row: ConnectionLog) -> dict:
    """The read contract's entry of a log row loaded with ``with_related()``."""
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
        # Only web rows show their user: an agent row's is never loaded.
        user_json(row.user) if row.user_id and row.type in WEB_TYPES else None,
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
    id = serializers.UUIDField()
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.EmailField()
    avatar_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=User.Status.choices)
    login_type = serializers.ChoiceField(choices=User.LoginType.choices)
    organization_ids = serializers.ListField(child=serializers.UUIDField())
    roles = RoleSerializer(many=True)

    def to_representation(self, instance: User) -> dict:
        return user_json(instance)


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

    def to_representation(self, instance: ConnectionLog) -> dict:
        return connection_log_json(instance)


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
    """The base of every request body: JSON types are checked, never coerced."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {
                name: [error]
                for name, field in self.fields.items()
                if not field.read_only
                and name in data
                and (error := _json_type_error(field, data[name]))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
