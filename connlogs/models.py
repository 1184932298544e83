"""The data: users, organizations, memberships, workspaces, connection logs and API tokens.

Connection logs are audit data. Every foreign key that points from a log row is PROTECT, so
deleting a user, workspace or organization can never delete or rewrite a row; workspaces are
soft-deleted, and each row keeps the workspace and agent names it was recorded with.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from connlogs import roles
from connlogs.connection_types import AGENT_TYPES, WEB_TYPES, ConnectionType
from connlogs.querysets import ConnectionLogQuerySet
from connlogs.storage.fields import LogIdField
from connlogs.values import format_time
from connlogs.visible import visible_text

NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    "Use lower-case letters, digits and single hyphens (not at the start or end).",
)
USERNAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$",
    "Use letters, digits and single hyphens (not at the start or end).",
)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username: str) -> User:
        return self.get(username__iexact=username)

    def create_user(self, username: str, email: str, password: str | None = None, **fields) -> User:
        user = self.model(username=username, email=email, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(
        self, username: str, email: str, password: str | None = None, **fields
    ) -> User:
        fields["site_roles"] = sorted(set(fields.get("site_roles") or []) | {roles.OWNER})
        return self.create_user(username, email, password, **fields)


class User(AbstractBaseUser):
    class Status(models.TextChoices):
        ACTIVE = "active"
        DORMANT = "dormant"
        SUSPENDED = "suspended"

    class LoginType(models.TextChoices):
        PASSWORD = "password"
        GITHUB = "github"
        OIDC = "oidc"
        TOKEN = "token"
        NONE = "none"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = models.CharField(max_length=64, unique=True, validators=[USERNAME_VALIDATOR])
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=128, blank=True, default="")
    avatar_url = models.URLField(max_length=512, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    login_type = models.CharField(
        max_length=16, choices=LoginType.choices, default=LoginType.PASSWORD
    )
    site_roles = models.JSONField(default=list, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    objects = UserManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self) -> str:
        return visible_text(self.username)

    def save(self, *args, **kwargs) -> None:
        # Emails compare case-insensitively (the search language lower-cases everything).
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status != self.Status.SUSPENDED

    # Django admin asks these; site owners manage everything.
    @property
    def is_staff(self) -> bool:
        return roles.is_owner(self)

    @property
    def is_superuser(self) -> bool:
        return roles.is_owner(self)

    def has_perm(self, perm: str, obj=None) -> bool:
        return self.is_active and roles.is_owner(self)

    def has_perms(self, perm_list, obj=None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_active and roles.is_owner(self)


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64, unique=True, validators=[NAME_VALIDATOR])
    display_name = models.CharField(max_length=128, blank=True, default="")
    description = models.TextField(blank=True, default="")
    icon = models.CharField(max_length=512, blank=True, default="")
    # Data protection mode for this organization alone (docs/privacy.md), when
    # ``CONNLOGS_DATA_PROTECTION`` is "organizations" ("on" protects every organization).
    data_protection = models.BooleanField(
        default=False,
        db_default=False,
        help_text=(
            "Show the people and addresses in this organization's connection logs as "
            "pseudonyms, except to identity viewers (and owners, unless configured otherwise). "
            'Applies when CONNLOGS_DATA_PROTECTION is "organizations".'
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's membership of an organization; ``roles`` empty means a plain member."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    roles = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization}"


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="workspaces"
    )
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="workspaces")
    name = models.CharField(max_length=64, validators=[NAME_VALIDATOR])
    deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # A deleted workspace frees its name: the owner may make a new one with it.
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=Q(deleted=False),
                name="workspace_name_unique_per_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    def soft_delete(self) -> None:
        if not self.deleted:
            self.deleted = True
            self.deleted_at = timezone.now()
            self.save(update_fields=["deleted", "deleted_at", "updated_at"])


_AGENT_TYPE_VALUES = sorted(str(t) for t in AGENT_TYPES)
_WEB_TYPE_VALUES = sorted(str(t) for t in WEB_TYPES)
# A result that failed (search key result:failed): a web row's HTTP status >= 400, an agent
# row's non-zero exit code. The search filters write these exact predicates so that the
# planner can prove the partial indexes below apply.
WEB_FAILED = Q(type__in=_WEB_TYPE_VALUES, code__gte=400)
FAILED = WEB_FAILED | (Q(type__in=_AGENT_TYPE_VALUES) & (Q(code__lt=0) | Q(code__gt=0)))


class ConnectionLog(models.Model):
    # A version-7 id made from connect_time (connlogs.storage.ids): lookups by id name their
    # monthly partition on PostgreSQL.
    id = LogIdField(primary_key=True, editable=False)
    connect_time = models.DateTimeField()
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    workspace_owner = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.PROTECT, related_name="connection_logs", db_index=False
    )
    workspace_name = models.CharField(max_length=64)
    agent_name = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(null=True, blank=True)
    type = models.CharField(max_length=16, choices=ConnectionType.choices)
    # HTTP status for web rows, exit code for agent rows.
    code = models.IntegerField(null=True, blank=True)
    user_agent = models.TextField(blank=True, default="")
    user = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    slug_or_port = models.CharField(max_length=256, blank=True, default="")
    connection_id = models.UUIDField(null=True, blank=True)
    disconnect_time = models.DateTimeField(null=True, blank=True)
    disconnect_reason = models.TextField(blank=True, default="")
    # The free-text fields cut to their limit when recorded (comma-separated field names,
    # e.g. "user_agent"): the row says so instead of passing a shortened text off as whole.
    truncated_fields = models.CharField(max_length=64, blank=True, default="", db_default="")

    objects = ConnectionLogQuerySet.as_manager()

    class Meta:
        constraints = [
            # NULL connection ids are distinct on PostgreSQL and SQLite: web rows never collide.
            # On PostgreSQL the partitioned table cannot hold it (a unique index must contain
            # the partition key): the key table (storage.models.ConnectionKey) holds it there.
            models.UniqueConstraint(
                fields=["connection_id", "workspace", "agent_name"],
                name="connection_log_connection_unique",
            ),
        ]
        # Each search key gets an index led by its column and ending in the newest-first
        # order, so a page is an index walk that stops after `limit` rows. Trailing columns
        # after the unique id do not change the order; they let an index-only scan test
        # those filters, so the capped count of organization + type/status (the scope of an
        # organization auditor plus a filter) never visits the table (bench/README.md).
        indexes = [
            models.Index(fields=["-connect_time", "-id"], name="cl_time_idx"),
            models.Index(
                fields=["organization", "-connect_time", "-id", "type", "disconnect_time"],
                name="cl_org_time_cover_idx",
            ),
            models.Index(
                fields=["workspace_owner", "-connect_time", "-id"], name="cl_owner_time_idx"
            ),
            models.Index(fields=["workspace", "-connect_time", "-id"], name="cl_ws_time_idx"),
            models.Index(
                fields=["user", "-connect_time", "-id"],
                name="cl_user_time_idx",
                condition=Q(user__isnull=False),
            ),
            models.Index(fields=["type", "-connect_time", "-id"], name="cl_type_time_idx"),
            # Open sessions are ~0.3% of rows: "status:ongoing" walks this small index.
            models.Index(
                fields=["-connect_time", "-id", "type", "organization"],
                name="cl_ongoing_cover_idx",
                condition=Q(disconnect_time__isnull=True, type__in=_AGENT_TYPE_VALUES),
            ),
            # The admin's search by client address and the search language's ip: key
            # (migration 0006): ip:<address> is an index walk in order, ip:<CIDR> a range of
            # it (PostgreSQL turns inet <<= into a btree range). The language's other keys:
            # migration 0007, docs/search.md, bench/README.md.
            models.Index(
                fields=["ip", "-connect_time", "-id"],
                name="cl_ip_time_idx",
                condition=Q(ip__isnull=False),
            ),
            # Alert rules' "new address for owner" probe (connlogs/alerts/evaluation.py): has
            # this owner connected from this IP since then? One descent, found or not; the ip
            # index alone walks every row of a busy shared address (docs/alerts.md, "Cost").
            models.Index(
                fields=["workspace_owner", "ip", "-connect_time"],
                name="cl_owner_ip_time_idx",
                condition=Q(ip__isnull=False),
            ),
            # workspace:<name> walks its name in order; workspace:<owner>/<name> too, testing
            # the trailing owner in the index. Names are lower-case (NAME_VALIDATOR), so the
            # plain column serves a case-insensitive search, and counts are index-only.
            models.Index(
                fields=["workspace_name", "-connect_time", "-id", "workspace_owner"],
                name="cl_ws_name_time_idx",
            ),
            # result:failed (~17% of rows) and exit codes; status codes >= 400 of web rows (~2%).
            models.Index(
                fields=["-connect_time", "-id", "code", "type"],
                name="cl_failed_time_idx",
                condition=FAILED,
            ),
            models.Index(
                fields=["-connect_time", "-id", "code"],
                name="cl_web_failed_time_idx",
                condition=WEB_FAILED,
            ),
            # PostgreSQL only (SQL in migration 0007, no model state): cl_long_session_idx
            # (duration:), cl_session_end_idx (active_after:), cl_text_trgm_idx (free text,
            # pg_trgm) and the extended statistics cl_type_disconnect_stats and
            # cl_owner_workspace_stats.
        ]

    def __str__(self) -> str:
        # Agent-supplied names shown as they read (the admin titles its pages with this).
        where = visible_text(f"{self.workspace_name}.{self.agent_name}")
        return f"{self.type} {where} at {format_time(self.connect_time)}"

    @property
    def is_web(self) -> bool:
        return self.type in WEB_TYPES

    @property
    def is_ongoing(self) -> bool:
        return not self.is_web and self.disconnect_time is None

    @property
    def truncated(self) -> list[str]:
        """The names of the fields whose text was cut to its limit when recorded."""
        return [name for name in self.truncated_fields.split(",") if name]


# The columns that name an agent connection (the unique constraint), in the order in which
# every writer locks log rows: event ingest and the retention purge lock theirs in this order,
# so neither ever waits for a row the other holds while holding one it wants (a deadlock).
CONNECTION_KEY: tuple[str, ...] = ("connection_id", "workspace_id", "agent_name")

# The log table's columns in table order, for the bulk writers (COPY) of events and demo
# data; a column with a database default (``db_default``) is left to it.
CONNECTION_LOG_COLUMNS: tuple[str, ...] = tuple(
    field.attname
    for field in ConnectionLog._meta.concrete_fields
    if field.db_default is models.NOT_PROVIDED
)


class ApiToken(models.Model):
    """An API or session token. The key is ``<id>-<secret>``; only a hash of the secret is kept."""

    class Kind(models.TextChoices):
        SESSION = "session"
        TOKEN = "token"

    id = models.CharField(primary_key=True, max_length=16, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64, blank=True, default="")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TOKEN)
    hashed_secret = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.id} of {self.user_id}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class EventBatch(models.Model):
    """A batch of events sent with an ``Idempotency-Key``: its answer, kept for a day so that
    a batch retried after its answer was lost is applied once (web events never merge, so a
    blind retry would otherwise record them twice)."""

    reporter = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    body_sha256 = models.CharField(max_length=64)
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reporter", "key"], name="event_batch_key_unique"),
        ]
        indexes = [models.Index(fields=["reporter", "created_at"], name="event_batch_age_idx")]

    def __str__(self) -> str:
        return f"batch {self.key} of {self.reporter_id}"


class SignInThrottle(models.Model):
    """Sign-in tries counted in one bucket (an account or a client address) for a while.

    ``connlogs.throttle`` reserves a try here, atomically, before a password is checked; the
    counter lives in the database so that every worker and server shares it.
    """

    bucket = models.CharField(primary_key=True, max_length=64)
    tries = models.IntegerField(default=0)
    # Seconds since the epoch: compared in SQL the same way on PostgreSQL and SQLite.
    expires_at = models.FloatField(db_index=True)

    def __str__(self) -> str:
        return f"{self.bucket}: {self.tries}"


# The tables derived from the log (connection keys, hourly rollups), the access log's, the
# pseudonyms', the change feed's, the saved views' and the streams' tables are declared with
# their packages; importing them here registers them with the app.
from connlogs.accesslog.models import AccessLogEntry  # noqa: E402, F401
from connlogs.alerts.models import AlertFiring, AlertFiringRow, AlertRule  # noqa: E402, F401
from connlogs.feed.models import FeedEntry, FeedState  # noqa: E402, F401
from connlogs.privacy.models import Pseudonym, PseudonymKey  # noqa: E402, F401
from connlogs.savedviews.models import SavedView, StartView  # noqa: E402, F401
from connlogs.storage.models import ConnectionKey, ConnectionRollup  # noqa: E402, F401
from connlogs.streams.models import Stream, StreamBatch, WorkerHeartbeat  # noqa: E402, F401
