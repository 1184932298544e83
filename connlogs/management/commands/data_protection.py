"""``manage.py data_protection [ORG ...] [--on | --off]``: data protection mode per organization.

    data_protection                 # the site setting and every protected organization
    data_protection acme globex --on   # their rows show pseudonyms
    data_protection acme --off

An organization's own setting applies when ``CONNLOGS_DATA_PROTECTION=organizations``; "on"
protects every organization, "off" none (docs/privacy.md).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from connlogs.models import Organization


class Command(BaseCommand):
    help = "Show or set data protection mode of organizations."

    def add_arguments(self, parser) -> None:
        parser.add_argument("organizations", nargs="*", metavar="ORG", help="Names.")
        switch = parser.add_mutually_exclusive_group()
        switch.add_argument("--on", action="store_true", help="Protect these organizations.")
        switch.add_argument("--off", action="store_true", help="Stop protecting them.")

    def handle(self, *args, organizations: list[str], on: bool, off: bool, **options) -> None:
        if (on or off) and not organizations:
            raise CommandError("Name the organizations to turn on or off.")
        found = {org.name: org for org in Organization.objects.filter(name__in=organizations)}
        missing = [name for name in organizations if name not in found]
        if missing:
            raise CommandError("No organization " + ", ".join(f'"{name}"' for name in missing))
        for name in organizations:
            organization = found[name]
            if on or off:
                organization.data_protection = on
                organization.save(update_fields=["data_protection", "updated_at"])
            state = "on" if organization.data_protection else "off"
            self.stdout.write(f"{organization.name}: data protection {state}")
        mode = settings.CONNLOGS_DATA_PROTECTION
        self.stdout.write(f"CONNLOGS_DATA_PROTECTION={mode}")
        if mode != "organizations":
            self.stdout.write(
                f"(organizations' own settings apply only with "
                f"CONNLOGS_DATA_PROTECTION=organizations; now every organization is "
                f"{'protected' if mode == 'on' else 'unprotected'})"
            )
        elif not organizations:
            names = Organization.objects.filter(data_protection=True).values_list("name", flat=True)
            self.stdout.write("protected: " + (", ".join(names) or "none"))
