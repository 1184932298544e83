"""``manage.py reencrypt_stream_secrets``: every stream's and alert rule's secret under the
newest key.

Rotation (docs/deployment.md): put the new key first in ``CONNLOGS_SECRETS_KEY`` and keep
the old one after it, restart, run this command, then drop the old key. Each secret is
decrypted with whichever key opens it and encrypted again with the first; one that no key
opens is named and left as it is (the command then fails, so a script notices).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connlogs.alerts.models import AlertRule
from connlogs.streams import secrets
from connlogs.streams.models import Stream


class Command(BaseCommand):
    help = (
        "Re-encrypt every stream's and alert rule's secret with the first key of "
        "CONNLOGS_SECRETS_KEY."
    )

    def handle(self, *args, **options) -> None:
        done, unreadable = 0, []
        with transaction.atomic():
            for model in (Stream, AlertRule):
                holders = model.objects.exclude(secret_encrypted="").select_for_update()
                for holder in holders.only("pk", "name", "secret_encrypted"):
                    try:
                        holder.secret_encrypted = secrets.reencrypt(holder.secret_encrypted)
                    except secrets.SecretUnreadable:
                        unreadable.append(f"{holder.name} ({holder.pk})")
                        continue
                    holder.save(update_fields=["secret_encrypted"])
                    done += 1
        self.stdout.write(f"{done} secrets re-encrypted with the first key")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} secrets no key decrypts (set them again): "
                + ", ".join(unreadable)
            )
