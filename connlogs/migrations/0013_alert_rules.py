# Alert rules, their firings and the rows each firing matched (docs/alerts.md); and the
# log's (owner, ip, time) index for the rules' "new address for owner" probe.

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from connlogs.schema_ops import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY (the log's new index) cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("connlogs", "0012_privacy_and_access_log"),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertFiring",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("fired_at", models.DateTimeField(db_index=True)),
                ("match_count", models.PositiveIntegerField()),
                ("window_start", models.DateTimeField()),
                ("window_end", models.DateTimeField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("delivered", "Delivered"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("delivered_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True, default="")),
            ],
        ),
        migrations.CreateModel(
            name="AlertRule",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("each_match", "Each new match"),
                            ("threshold", "At least N matches within W minutes"),
                            ("new_address", "An address new for the workspace owner"),
                        ],
                        max_length=16,
                    ),
                ),
                ("q", models.TextField(blank=True, default="")),
                ("view", models.CharField(blank=True, default="", max_length=64)),
                ("threshold", models.PositiveIntegerField(default=1)),
                ("window_minutes", models.PositiveIntegerField(default=5)),
                ("new_address_days", models.PositiveIntegerField(default=30)),
                ("cooldown_minutes", models.PositiveIntegerField(default=0)),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("webhook", "HTTP webhook (JSON, HMAC-SHA256 signed)"),
                            ("slack", "Slack-compatible incoming webhook"),
                            ("email", "Email"),
                        ],
                        max_length=16,
                    ),
                ),
                ("url", models.CharField(blank=True, default="", max_length=2000)),
                ("secret_encrypted", models.TextField(blank=True, default="")),
                ("email_to", models.TextField(blank=True, default="")),
                ("paused", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("cursor", models.BigIntegerField(default=0)),
                ("cooldown_until", models.DateTimeField(blank=True, null=True)),
                ("last_fired_at", models.DateTimeField(blank=True, null=True)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("lease_owner", models.CharField(blank=True, default="", max_length=64)),
                ("lease_expires_at", models.DateTimeField(blank=True, null=True)),
                ("failures", models.PositiveIntegerField(default=0)),
                ("last_error", models.TextField(blank=True, default="")),
                ("last_error_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alert_rules",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alert_rules",
                        to="connlogs.organization",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="AlertFiringRow",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("log_id", models.UUIDField()),
                (
                    "firing",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rows",
                        to="connlogs.alertfiring",
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="connlogs.alertrule",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="alertfiring",
            name="rule",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="firings",
                to="connlogs.alertrule",
            ),
        ),
        migrations.AddIndex(
            model_name="alertrule",
            index=models.Index(fields=["paused", "next_attempt_at"], name="alert_rule_due_idx"),
        ),
        migrations.AddIndex(
            model_name="alertfiringrow",
            index=models.Index(fields=["firing", "log_id"], name="alert_firing_row_idx"),
        ),
        migrations.AddConstraint(
            model_name="alertfiringrow",
            constraint=models.UniqueConstraint(
                fields=("rule", "log_id"), name="alert_row_once_per_rule"
            ),
        ),
        migrations.AddIndex(
            model_name="alertfiring",
            index=models.Index(fields=["rule", "status"], name="alert_firing_rule_status_idx"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="connectionlog",
            index=models.Index(
                condition=models.Q(("ip__isnull", False)),
                fields=["workspace_owner", "ip", "-connect_time"],
                name="cl_owner_ip_time_idx",
            ),
        ),
    ]
