"""``manage.py rotate_pseudonym_key``: new pseudonyms for everyone, the old ones void.

Makes a new random salt (the key is the deployment's ``CONNLOGS_PSEUDONYM_SECRET`` mixed with
it) and deletes the old key with its index, so a pseudonym shown before no longer finds any
row and cannot be linked to the new one. Workers use the new key within a minute
(``pseudonyms.KEY_SECONDS``). Exports and streams made before keep the old pseudonyms.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connlogs.models import Pseudonym, PseudonymKey
from connlogs.privacy import pseudonyms


class Command(BaseCommand):
    help = "Replace the pseudonym key: every pseudonym changes, the old ones stop matching."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, yes: bool, **options) -> None:
        if not yes and input("Every pseudonym will change. Type 'rotate' to go on: ") != "rotate":
            raise CommandError("Not rotated.")
        with transaction.atomic():
            forgotten = Pseudonym.objects.count()
            key = PseudonymKey.objects.create(salt=pseudonyms.new_salt())
            PseudonymKey.objects.exclude(pk=key.pk).delete()  # and, with them, their index
        pseudonyms.forget_key()
        self.stdout.write(
            f"pseudonym key {key.pk} in use; {forgotten:,} indexed pseudonyms of the old key "
            "forgotten; workers switch within a minute"
        )
