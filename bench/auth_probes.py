"""Probes of the sign-in doors against a real multi-process server (loopback only).

    .venv/bin/python bench/auth_probes.py --database-url postgres://.../NAME [--tree DIR]

1. ``lockout``: gunicorn with 4 workers, 64 parallel wrong passwords for one account (each
   from its own forwarded address, so only the account's counter can stop them): how many
   were checked (401) and how many refused (429). The lockout allows
   ``CONNLOGS_LOGIN_MAX_FAILURES`` (5) checks.
2. ``timing``: the time of ``POST /api/v2/users/login`` with a wrong password for a known and
   an unknown email, and of ``GET /api/v2/connectionlog?q=username:NAME`` (and the other
   person keys) for an existing user with no rows and a made-up name: medians of
   interleaved requests, with Django's production hasher (PBKDF2).

``--tree`` runs another checkout of connlogs (to compare with an older commit). The database
is created and migrated if needed; the demo data (``manage.py demo``) is loaded once.
Requests go to 127.0.0.1 only; every run is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
SETUP = """
from connlogs import tokens
from connlogs.models import User
owner = User.objects.filter(username="admin").first()
for name in ("probe-target", "probe-no-rows"):
    if not User.objects.filter(username=name).exists():
        User.objects.create_user(name, f"{name}@example.com", "the-right-password-1")
print(json.dumps({"token": tokens.issue(owner, name="probe")}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(args, **extra) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SECRET_KEY="probe-only-secret-key-probe-only-secret-key",
        DATABASE_URL=args.database_url,
        ALLOWED_HOSTS="127.0.0.1",
        CONNLOGS_CLIENT_ADDRESS_HEADER="X-Forwarded-For",
        PYTHONPATH=str(args.tree),
    )
    env.update(extra)
    return env


def manage(args, *command: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [str(PYTHON), "manage.py", *command],
        cwd=args.tree,
        env=environment(args),
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def prepare(args) -> str:
    """Create and migrate the database, load the demo once; returns the owner's API token."""
    subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-p", args.pg_port, "-U", "postgres", args.db_name],
        capture_output=True,
    )
    manage(args, "migrate", "--no-input")
    manage(args, "demo")  # the default rows when the database has none, else nothing
    output = manage(args, "shell", "-c", "import json\n" + SETUP)
    return json.loads(output.strip().splitlines()[-1])["token"]


class Server:
    def __init__(self, args, workers: int, **settings: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(GUNICORN), "project.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{self.port}"],
            cwd=args.tree,
            env=environment(args, **settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("/healthz"), timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("gunicorn did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def call(url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, float]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, (time.perf_counter() - started) * 1000


def lockout(args) -> None:
    server = Server(args, workers=4)
    try:
        tries, ready, statuses = 64, threading.Barrier(64), []

        def attempt(number: int) -> None:
            ready.wait()
            headers = {"X-Forwarded-For": f"10.2.{number // 200}.{number % 200}"}
            body = {"email": "probe-target@example.com", "password": f"wrong-{number}"}
            statuses.append(call(server.url("/api/v2/users/login"), body, headers)[0])

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(tries)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        counted = {code: statuses.count(code) for code in sorted(set(statuses))}
        print(f"lockout: gunicorn -w 4, {tries} parallel wrong passwords for one account")
        print(f"  answers: {counted}  (401 = password checked, 429 = refused unchecked)")
    finally:
        server.stop()


def medians(server: Server, cases: dict[str, tuple], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_number in range(rounds + 2):
        for name, (path, body, headers) in cases.items():
            _, took = call(server.url(path), body, headers)
            if round_number >= 2:  # the first rounds warm the workers' connections
                times[name].append(took)
    return {name: statistics.median(values) for name, values in times.items()}


def timing(args, token: str) -> None:
    # One worker, so each request is measured alone; the lockout set out of the way.
    server = Server(args, workers=1, CONNLOGS_LOGIN_MAX_FAILURES="1000000")
    try:
        login = "/api/v2/users/login"
        cases = {
            "login, known email": (
                login,
                {"email": "probe-target@example.com", "password": "wrong"},
                {"X-Forwarded-For": "10.3.0.1"},
            ),
            "login, unknown email": (
                login,
                {"email": "nobody-at-all@example.com", "password": "wrong"},
                {"X-Forwarded-For": "10.3.0.2"},
            ),
        }
        for name, value in medians(server, cases, args.rounds).items():
            print(f"timing: {name:<24} median {value:7.1f} ms ({args.rounds} requests)")
        headers = {"Coder-Session-Token": token}
        for key, known, unknown in (
            ("username", "probe-no-rows", "no-such-person"),
            ("workspace_owner", "probe-no-rows", "no-such-person"),
            ("user_email", "probe-no-rows@example.com", "no-such-person@example.com"),
            ("workspace_owner_email", "probe-no-rows@example.com", "no-such-person@example.com"),
        ):
            cases = {
                f"q={key}:<exists, no rows>": (
                    "/api/v2/connectionlog?" + urllib.parse.urlencode({"q": f"{key}:{known}"}),
                    None,
                    headers,
                ),
                f"q={key}:<made up>": (
                    "/api/v2/connectionlog?" + urllib.parse.urlencode({"q": f"{key}:{unknown}"}),
                    None,
                    headers,
                ),
            }
            for name, value in medians(server, cases, args.rounds * 2).items():
                print(f"timing: {name:<44} median {value:6.2f} ms ({args.rounds * 2} requests)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="postgres://postgres@HOST:PORT/DB")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the connlogs checkout to run")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--only", choices=["lockout", "timing"])
    args = parser.parse_args()
    parsed = urllib.parse.urlparse(args.database_url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        sys.exit("loopback databases only")
    args.pg_port, args.db_name = str(parsed.port or 5432), parsed.path.lstrip("/")
    args.tree = args.tree.resolve()
    token = prepare(args)
    if args.only in (None, "lockout"):
        lockout(args)
    if args.only in (None, "timing"):
        timing(args, token)


if __name__ == "__main__":
    main()
