"""``manage.py serve``: the one-command start (migrate, demo data if empty, dev server)."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from connlogs import demo
from connlogs.models import ConnectionLog, User

DEFAULT_ADDRPORT = "127.0.0.1:8000"


class Command(BaseCommand):
    help = (
        "Migrate the database, load the demo data if there are no connection logs yet, "
        "print the address and the demo login, and run the development server."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "addrport",
            nargs="?",
            default=DEFAULT_ADDRPORT,
            help=f"Address and port to listen on (default {DEFAULT_ADDRPORT}).",
        )
        parser.add_argument(
            "--no-demo", action="store_true", help="Do not load demo data into an empty database."
        )

    def handle(self, *args, addrport, no_demo, **options):
        verbosity = options.get("verbosity", 1)
        call_command("migrate", interactive=False, verbosity=max(verbosity - 1, 0))
        if not no_demo and not ConnectionLog.objects.exists():
            self.stdout.write("No connection logs yet: loading the demo data…")
            call_command("demo", stdout=self.stdout, verbosity=verbosity)

        self.stdout.write(self.style.SUCCESS(f"connlogs is at {self._url(addrport)}"))
        owner = User.objects.filter(username=demo.DEMO_OWNER).first()
        if owner is not None and owner.check_password(demo.DEMO_PASSWORD):
            self.stdout.write(
                f"Sign in as {demo.DEMO_OWNER} / {demo.DEMO_PASSWORD} "
                f"(or {demo.DEMO_OWNER_EMAIL}); the admin is at {self._url(addrport)}admin/"
            )
        call_command("runserver", addrport, use_reloader=False)

    @staticmethod
    def _url(addrport: str) -> str:
        host, _, port = addrport.rpartition(":")
        if not host:
            host = "127.0.0.1"
        if host in ("0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"  # listening everywhere; this machine's own address works
        return f"http://{host}:{port or '8000'}/"
