"""``manage.py create_token <username> [--name NAME] [--lifetime SECONDS]``: print a new API key.

The key goes alone to stdout (``KEY=$(manage.py create_token reporter)``); it is stored
hashed and cannot be shown again.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from connlogs import tokens
from connlogs.models import User


class Command(BaseCommand):
    help = "Create an API token for a user and print its key (shown once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the token (max 64).")
        parser.add_argument(
            "--lifetime", type=int, default=None, help="Seconds until it expires (default: never)."
        )

    def handle(self, *args, username: str, name: str, lifetime: int | None, **options) -> None:
        user = User.objects.filter(username__iexact=username).first()
        if user is None:
            raise CommandError(f'No user "{username}".')
        if len(name) > 64:
            raise CommandError("--name must be at most 64 characters.")
        if lifetime is not None and lifetime <= 0:
            raise CommandError("--lifetime must be a positive number of seconds.")
        if not user.is_active:
            self.stderr.write(f'Warning: "{user.username}" is suspended; the token will not work.')
        key = tokens.issue(
            user, name=name, lifetime=dt.timedelta(seconds=lifetime) if lifetime else None
        )
        self.stdout.write(key)
