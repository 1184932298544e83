"""Request bodies and JSON shapes of the directory: users, organizations, members, workspaces.

The user object is ``serializers.user_json`` (the read contract's); the shapes here follow
Coder's objects of the same name (shared/spec/write-api.md sections 2 to 4).
"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from connlogs import roles, values
from connlogs.api.serializers import JsonBodySerializer
from connlogs.api.text import Text
from connlogs.models import NAME_VALIDATOR, USERNAME_VALIDATOR, Membership, Organization, User
from connlogs.models import Workspace as WorkspaceModel
from connlogs.values import format_time

# Path segments that ``/users/{user}`` answers itself, so no user may be named after them.
RESERVED_USERNAMES = frozenset({"me", "login", "logout"})


def _not_a_uuid(value: str) -> str:
    # ``{user}`` and ``{org}`` in paths take a UUID or a name: a name must not read as a UUID.
    try:
        values.parse_uuid(value)
    except ValueError:
        return value
    raise serializers.ValidationError("Must not be a UUID.")


# --- request bodies ---------------------------------------------------------------------


class UserCreateSerializer(JsonBodySerializer):
    username = Text(max_length=64, validators=[USERNAME_VALIDATOR])
    email = serializers.EmailField(max_length=254)
    password = Text(required=False, write_only=True, trim_whitespace=False, max_length=128)
    name = Text(required=False, allow_blank=True, max_length=128, default="")
    login_type = serializers.ChoiceField(
        choices=User.LoginType.values,
        required=False,
        help_text='Default: "password" when a password is given, otherwise "none".',
    )

    def validate_username(self, value: str) -> str:
        if value.lower() in RESERVED_USERNAMES:
            raise serializers.ValidationError(f'"{value}" is reserved.')
        return _not_a_uuid(value)

    def validate_email(self, value: str) -> str:
        return value.strip().lower()

    def validate(self, data: dict) -> dict:
        password = data.get("password")
        login_type = data.get("login_type") or (
            User.LoginType.PASSWORD if password else User.LoginType.NONE
        )
        if login_type == User.LoginType.PASSWORD and not password:
            raise serializers.ValidationError(
                {"password": 'Required when login_type is "password".'}
            )
        if login_type != User.LoginType.PASSWORD and password:
            raise serializers.ValidationError(
                {"password": f'Not allowed when login_type is "{login_type}".'}
            )
        if password:
            try:
                validate_password(password)
            except DjangoValidationError as error:
                raise serializers.ValidationError({"password": error.messages}) from None
        data["login_type"] = login_type
        return data


class _RolesSerializer(JsonBodySerializer):
    roles = serializers.ListField(child=Text(), allow_empty=True)
    known: dict[str, str] = {}

    def unknown(self, names: list[str]) -> list[str]:
        raise NotImplementedError

    def validate_roles(self, value: list[str]) -> list[str]:
        unknown = self.unknown(value)
        if unknown:
            raise serializers.ValidationError(
                f'Unknown role "{unknown[0]}"; use one of: ' + ", ".join(self.known) + "."
            )
        # One canonical order (the roles' own), duplicates dropped.
        return [name for name in self.known if name in value]


class SiteRolesSerializer(_RolesSerializer):
    known = roles.SITE_ROLES

    def unknown(self, names: list[str]) -> list[str]:
        return roles.unknown_site_roles(names)


class OrganizationRolesSerializer(_RolesSerializer):
    known = roles.ORGANIZATION_ROLES

    def unknown(self, names: list[str]) -> list[str]:
        return roles.unknown_organization_roles(names)


class OrganizationCreateSerializer(JsonBodySerializer):
    name = Text(max_length=64, validators=[NAME_VALIDATOR])
    display_name = Text(
        required=False, allow_blank=True, max_length=128, help_text="Default: the name."
    )
    description = Text(required=False, allow_blank=True, default="")
    icon = Text(required=False, allow_blank=True, max_length=512, default="")

    def validate_name(self, value: str) -> str:
        return _not_a_uuid(value)

    def validate(self, data: dict) -> dict:
        data["display_name"] = data.get("display_name") or data["name"]
        return data


class WorkspaceCreateSerializer(JsonBodySerializer):
    name = Text(max_length=64, validators=[NAME_VALIDATOR])


# --- JSON shapes ------------------------------------------------------------------------


def organization_detail_json(organization: Organization) -> dict:
    return {
        "id": str(organization.id),
        "name": organization.name,
        "display_name": organization.display_name,
        "description": organization.description,
        "icon": organization.icon,
        "created_at": format_time(organization.created_at),
        "updated_at": format_time(organization.updated_at),
    }


def member_json(membership: Membership) -> dict:
    return {
        "user_id": str(membership.user_id),
        "organization_id": str(membership.organization_id),
        "created_at": format_time(membership.created_at),
        "updated_at": format_time(membership.updated_at),
        "roles": roles.organization_role_objects(
            membership.roles or [], membership.organization_id
        ),
    }


def workspace_json(workspace: WorkspaceModel) -> dict:
    return {
        "id": str(workspace.id),
        "name": workspace.name,
        "owner_id": str(workspace.owner_id),
        "owner_name": workspace.owner.username,
        "organization_id": str(workspace.organization_id),
        "organization_name": workspace.organization.name,
        "created_at": format_time(workspace.created_at),
        "updated_at": format_time(workspace.updated_at),
        "deleted": workspace.deleted,
    }


# --- schema-only serializers (the functions above build the JSON) ---------------------


class OrganizationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = Text()
    display_name = Text()
    description = Text()
    icon = Text()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrganizationRoleSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=list(roles.ORGANIZATION_ROLES))
    display_name = Text()
    organization_id = serializers.UUIDField()


class MemberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    organization_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    roles = OrganizationRoleSerializer(many=True)


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = Text()
    owner_id = serializers.UUIDField()
    owner_name = Text(help_text="The owner's username.")
    organization_id = serializers.UUIDField()
    organization_name = Text()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    deleted = serializers.BooleanField()
