"""Admin of the directory: users, organizations, memberships, workspaces and API tokens.

Deleting anything a connection log points at shows Django's "cannot delete" page
(``KeepsConnectionLogs``) instead of failing on the database's PROTECT.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from connlogs import owners, roles
from connlogs.models import ApiToken, ConnectionLog, Membership, Organization, User, Workspace
from connlogs.paginators import admin_count_cap


def _roles_field(choices: dict[str, str], label: str, help_text: str) -> forms.Field:
    return forms.MultipleChoiceField(
        choices=list(choices.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=label,
        help_text=help_text,
    )


def _role_labels(names: list[str] | None, labels: dict[str, str]) -> str:
    return ", ".join(labels.get(name, name) for name in names or []) or "—"


# --- users ------------------------------------------------------------------------------


class UserFormMixin:
    """What the add and change forms share: site roles as choices, e-mail normalization and
    a guard against an owner locking themselves out."""

    # Set by UserAdmin.get_form: the person editing, to stop them removing their own access.
    editor: User | None = None

    def clean_email(self) -> str:
        # The model lower-cases e-mails on save; do it before the uniqueness check so two
        # spellings of one address get a form error, not a database error.
        return (self.cleaned_data.get("email") or "").strip().lower()

    def clean_site_roles(self) -> list[str]:
        return sorted(set(self.cleaned_data.get("site_roles") or []))

    def clean(self):
        cleaned = super().clean()
        editor, instance = self.editor, self.instance
        if editor is not None and instance.pk is not None and instance.pk == editor.pk:
            if roles.OWNER in (instance.site_roles or []) and roles.OWNER not in cleaned.get(
                "site_roles", [roles.OWNER]
            ):
                self.add_error(
                    "site_roles", "You cannot remove your own owner role; ask another owner."
                )
            if cleaned.get("status") == User.Status.SUSPENDED:
                self.add_error("status", "You cannot suspend yourself; ask another owner.")
        if instance.pk is not None and not self.errors:
            self._keep_an_owner(instance, cleaned)
        return cleaned

    def _keep_an_owner(self, instance: User, cleaned: dict) -> None:
        # The admin saves inside the transaction this runs in: the owners stay locked until
        # the change is written (connlogs.owners).
        change = {field: cleaned[field] for field in ("site_roles", "status") if field in cleaned}
        try:
            owners.keep_an_owner({instance.pk: change})
        except owners.LastOwnerError as error:
            self.add_error(None, str(error))


SITE_ROLES_HELP = (
    "Owner: manages everything, reads every log. Auditor: reads every log. "
    "Connection Reporter: a service account that sends events and nothing else. "
    "Identity Viewer: sees real names and addresses where data protection mode shows "
    "pseudonyms (with a role that reads the log; each reveal is in the access log)."
)


class UserCreationForm(UserFormMixin, auth_forms.AdminUserCreationForm):
    site_roles = _roles_field(roles.SITE_ROLES, "Site roles", SITE_ROLES_HELP)

    class Meta:
        model = User
        fields = ("username", "email", "name", "site_roles")
        field_classes = {"username": auth_forms.UsernameField}


class UserChangeForm(UserFormMixin, auth_forms.UserChangeForm):
    site_roles = _roles_field(roles.SITE_ROLES, "Site roles", SITE_ROLES_HELP)
    avatar_url = forms.URLField(
        label="Avatar URL", max_length=512, required=False, assume_scheme="https"
    )

    class Meta:
        model = User
        fields = (
            "username",
            "password",
            "email",
            "name",
            "avatar_url",
            "site_roles",
            "status",
            "login_type",
            "last_seen_at",
        )
        field_classes = {"username": auth_forms.UsernameField}

    def clean_username(self) -> str:
        # Usernames are unique case-insensitively (a database constraint): say so plainly.
        username = self.cleaned_data.get("username")
        taken = User.objects.filter(username__iexact=username).exclude(pk=self.instance.pk)
        if username and taken.exists():
            raise forms.ValidationError("A user with that username already exists.")
        return username


class MembershipForm(forms.ModelForm):
    roles = _roles_field(
        roles.ORGANIZATION_ROLES,
        "Organization roles",
        "None: a plain member. Admin: manages members and workspaces, reads the log. "
        "Auditor: reads the organization's log.",
    )

    class Meta:
        model = Membership
        fields = ("user", "organization", "roles")

    def clean_roles(self) -> list[str]:
        return sorted(set(self.cleaned_data.get("roles") or []))


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    extra = 0
    show_change_link = True


class OrganizationMembershipInline(MembershipInline):
    autocomplete_fields = ("user",)
    fields = ("user", "roles")


class UserMembershipInline(MembershipInline):
    autocomplete_fields = ("organization",)
    fields = ("organization", "roles")


class KeepsConnectionLogs:
    """Deleting something a log row points at is refused with Django's "protected" page.

    The database refuses it anyway (every foreign key from a log is PROTECT), but Django's
    own check would load every protecting row to list it: millions, for a busy user. This
    asks a capped count per foreign key instead and lists one line per kind.
    """

    # ConnectionLog foreign keys pointing at this admin's model, with how to describe them.
    log_fields: tuple[tuple[str, str], ...] = ()
    instead: str = ""

    def logs_protecting(self, objs) -> list[str]:
        ids = [obj.pk for obj in objs]
        cap = admin_count_cap()
        protected = []
        for field, description in self.log_fields:
            found = ConnectionLog.objects.filter(**{f"{field}_id__in": ids}).capped_count(cap)
            if found:
                shown = f"more than {cap:,}" if found > cap else f"{found:,}"
                protected.append(f"{shown} connection log rows {description}")
        if protected:
            protected.append(
                "Connection logs are audit data and are never deleted. " + self.instead
            )
        return protected

    def get_deleted_objects(self, objs, request):
        protected = self.logs_protecting(objs)
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)


@admin.register(User)
class UserAdmin(KeepsConnectionLogs, auth_admin.UserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    log_fields = (
        ("workspace_owner", "of this user's workspaces"),
        ("user", "of web requests made by this user"),
    )
    instead = "Set the user's status to suspended instead."

    fieldsets = (
        (None, {"fields": ("id", "username", "password")}),
        ("Profile", {"fields": ("email", "name", "avatar_url")}),
        ("Access", {"fields": ("site_roles", "status", "login_type")}),
        ("Dates", {"fields": ("last_login", "last_seen_at", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "email",
                    "name",
                    "site_roles",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = ("id", "last_login", "created_at", "updated_at")
    list_display = ("username", "email", "name", "site_roles_label", "status", "login_type")
    list_filter = ("status", "login_type")
    search_fields = ("username", "email", "name")
    ordering = ("username",)
    filter_horizontal = ()
    inlines = (UserMembershipInline,)

    @admin.display(description="Site roles")
    def site_roles_label(self, obj: User) -> str:
        return _role_labels(obj.site_roles, roles.SITE_ROLES)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        try:
            owners.keep_an_owner({obj.pk: None for obj in objs})
        except owners.LastOwnerError as error:
            protected = [*protected, str(error)]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        self.delete_queryset(request, User.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        # Checked again under the lock, in the transaction that deletes: the page above may
        # have been answered before another owner was removed.
        with transaction.atomic():
            try:
                owners.keep_an_owner({pk: None for pk in queryset.values_list("pk", flat=True)})
            except owners.LastOwnerError as error:
                raise PermissionDenied(str(error)) from None
            super().delete_queryset(request, queryset)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        # modelform_factory made a fresh class for this request: safe to annotate.
        form.editor = request.user
        return form

    def get_inlines(self, request, obj):
        # Memberships are edited once the user exists (the add page has its own form).
        return self.inlines if obj is not None else ()


# --- organizations, memberships, workspaces --------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(KeepsConnectionLogs, admin.ModelAdmin):
    log_fields = (("organization", "of this organization"),)
    instead = "An organization with connection logs stays."
    list_display = ("name", "display_name", "created_at")
    search_fields = ("name", "display_name")
    ordering = ("name",)
    readonly_fields = ("id", "created_at", "updated_at")
    fields = (
        "id",
        "name",
        "display_name",
        "description",
        "icon",
        "data_protection",
        "created_at",
        "updated_at",
    )
    list_filter = ("data_protection",)
    inlines = (OrganizationMembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipForm
    list_display = ("user", "organization", "roles_label", "created_at")
    list_filter = ("organization",)
    list_select_related = ("user", "organization")
    autocomplete_fields = ("user", "organization")
    search_fields = ("user__username", "organization__name")
    ordering = ("organization__name", "user__username")

    @admin.display(description="Organization roles")
    def roles_label(self, obj: Membership) -> str:
        return _role_labels(obj.roles, roles.ORGANIZATION_ROLES)


class WorkspaceForm(forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ("organization", "owner", "name")

    def clean(self):
        cleaned = super().clean()
        owner, organization = cleaned.get("owner"), cleaned.get("organization")
        if (
            owner
            and organization
            and not owner.memberships.filter(organization=organization).exists()
        ):
            self.add_error("owner", f"{owner} is not a member of {organization}.")
        return cleaned


@admin.register(Workspace)
class WorkspaceAdmin(KeepsConnectionLogs, admin.ModelAdmin):
    form = WorkspaceForm
    log_fields = (("workspace", "of this workspace"),)
    instead = 'Use the action "Mark selected workspaces deleted": its logs stay readable.'
    list_display = ("name", "owner", "organization", "deleted", "created_at", "deleted_at")
    list_filter = ("deleted", "organization")
    list_select_related = ("owner", "organization")
    autocomplete_fields = ("organization", "owner")
    search_fields = ("name", "owner__username")
    ordering = ("name",)
    readonly_fields = ("id", "deleted", "deleted_at", "created_at", "updated_at")
    fields = ("id", "organization", "owner", "name", *readonly_fields[1:])
    actions = ("mark_deleted",)

    @admin.action(description="Mark selected workspaces deleted (keeps their logs)")
    def mark_deleted(self, request: HttpRequest, queryset: QuerySet) -> None:
        marked = 0
        for workspace in queryset.filter(deleted=False):
            workspace.soft_delete()
            marked += 1
        self.message_user(
            request,
            ngettext("Marked %d workspace deleted.", "Marked %d workspaces deleted.", marked)
            % marked,
            messages.SUCCESS,
        )


# --- API tokens: shown without their hash; deleting one revokes it ---------------------


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # ``hashed_secret`` is deliberately absent from every list below.
    fields = ("id", "user", "kind", "name", "created_at", "expires_at", "last_used_at")
    readonly_fields = fields
    list_display = ("id", "user", "kind", "name", "created_at", "expires_at", "last_used_at")
    list_filter = ("kind",)
    list_select_related = ("user",)
    search_fields = ("=id", "user__username")
    ordering = ("-created_at",)

    def has_add_permission(self, request):
        return False  # a key is shown once, to its owner, by the API

    def has_change_permission(self, request, obj=None):
        return False
