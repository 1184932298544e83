"""``manage.py serve``: the one-command start (migrate, demo data if empty, one background
worker, dev server)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

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
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Do not start a background worker (streams are then not delivered).",
        )

    def handle(self, *args, addrport, no_demo, no_worker, **options):
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
        worker = None if no_worker else BackgroundWorker(self.stdout)
        # A SIGTERM ends the server through the ``finally`` below, so the worker goes too.
        previous = signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            signal.signal(signal.SIGTERM, previous)
            if worker is not None:
                worker.stop()

    @staticmethod
    def _url(addrport: str) -> str:
        host, _, port = addrport.rpartition(":")
        if not host:
            host = "127.0.0.1"
        if host in ("0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"  # listening everywhere; this machine's own address works
        return f"http://{host}:{port or '8000'}/"


def _exit_on_signal(signum, frame):
    raise SystemExit(0)


class BackgroundWorker:
    """One ``stream_worker`` process beside the development server, started again when it
    exits (the worker stops on a lost database connection; a service manager restarts it in
    production, docs/deployment.md)."""

    RESTART_SECONDS = 2.0

    def __init__(self, stdout):
        self.stdout = stdout
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        threading.Thread(target=self._supervise, name="serve-worker", daemon=True).start()

    def _supervise(self) -> None:
        command = [sys.executable, "-m", "django", "stream_worker", "--interval", "0.2"]
        while not self.stopping.is_set():
            self.process = subprocess.Popen(command)
            self.stdout.write(f"Background worker started (pid {self.process.pid})")
            self.process.wait()
            self.stopping.wait(self.RESTART_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
