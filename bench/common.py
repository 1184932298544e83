"""What the bench's scripts share: statistics, the HTTP client, the gunicorn and PostgreSQL
wrappers, Django set-up and the bench's API tokens.

Everything listens on and talks to 127.0.0.1 only, on free ports (never 55433, the
development cluster).
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
HOST = "127.0.0.1"
FORBIDDEN_PORTS = {55433}
AGENT_TYPES = ("ssh", "vscode", "jetbrains", "reconnecting_pty")
WEB_TYPES = ("workspace_app", "port_forwarding", "tunnel")
EVENTS_PATH = "/api/v2/connectionlog/events"


def logger(tag: str, stream=None) -> Callable[[str], None]:
    """A ``log(message)`` printing ``[tag HH:MM:SS] message`` to ``stream`` (stderr)."""

    def log(message: str) -> None:
        print(
            f"[{tag} {time.strftime('%H:%M:%S')}] {message}", file=stream or sys.stderr, flush=True
        )

    return log


# --- statistics and formatting ------------------------------------------------------------


def p50(xs: list[float]) -> float:
    """The median of ``xs`` (ms in, ms out); ``xs`` must not be empty."""
    return statistics.median(xs)


def percentile(xs: list[float], share: float) -> float:
    """The nearest-rank percentile of ``xs`` (``share`` 0..1); 0.0 for no values."""
    if not xs:
        return 0.0
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(round(share * len(ordered), 9)) - 1)]


def p95(xs: list[float]) -> float:
    return percentile(xs, 0.95)


def ms(x: float | None) -> str:
    """Milliseconds with three significant figures (``-`` for none)."""
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}×" if b > 0 else "-"


# --- HTTP -------------------------------------------------------------------------------------


def free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port not in FORBIDDEN_PORTS:
            return port


# How every bench client opens a connection to ``HOST``: plain HTTP, unless a caller swaps
# in another constructor (the lab's failure drill speaks HTTPS to its nginx).
_open_connection: Callable[..., http.client.HTTPConnection] = http.client.HTTPConnection


def use_connection(factory: Callable[..., http.client.HTTPConnection]) -> None:
    """Make every bench client open its connections with ``factory(host, port, timeout=…)``
    (an ``http.client.HTTPConnection`` or subclass, e.g. ``HTTPSConnection``)."""
    global _open_connection
    _open_connection = factory


def connect(port: int, timeout: float) -> http.client.HTTPConnection:
    """A new connection to ``HOST``:``port`` (not yet opened), ``timeout`` seconds per read."""
    return _open_connection(HOST, port, timeout=timeout)


def auth(token: str) -> dict[str, str]:
    """The headers of a request made with an API token."""
    return {"Coder-Session-Token": token}


class Http:
    """One keep-alive connection to 127.0.0.1:``port``, reopened when the server closed it.

    A dict or list body is sent as JSON; bytes as given (JSON unless the headers say
    otherwise). Cookies the server sets are sent back. A connection error closes the
    connection and is raised (the caller decides about retrying).
    """

    def __init__(self, port: int, timeout: float = 30):
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.closing = False  # the last answer said "Connection: close"
        self.cookies: dict[str, str] = {}

    def reset(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.closing:
            self.reset()
            self.closing = False
        if self.conn is None:
            self.conn = connect(self.port, self.timeout)
        return self.conn

    def request(self, method, path, body=None, headers=None, read=True):
        """``(response, body bytes)``; with ``read=False`` the body is left to the caller."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):
            self.reset()
            raise
        self.closing = (response.getheader("Connection") or "").lower() == "close"
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if not read:
            return response, None
        try:
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.reset()
            raise
        return response, data

    def timed_get(self, path: str, token: str, warmup: int, runs: int) -> list[float]:
        """``runs`` timings in ms of ``GET path`` after ``warmup`` untimed ones; non-200 raises."""
        samples = []
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            response, body = self.request("GET", path, headers=auth(token))
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
            if i >= warmup:
                samples.append(elapsed)
        return samples


def wait_healthy(port: int, seconds: float = 60) -> bool:
    """Whether ``GET /healthz`` answered 200 within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            response, _ = Http(port, timeout=2).request("GET", "/healthz")
            if response.status == 200:
                return True
        time.sleep(0.2)
    return False


# --- the app's processes ----------------------------------------------------------------------


def app_env(database_url: str, *, clean: bool = False, **settings: str) -> dict[str, str]:
    """The environment of an app process (gunicorn, ``manage.py``) against ``database_url``.

    ``clean`` leaves out the caller's own ``CONNLOGS_*`` settings; ``settings`` are added.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not (clean and key.startswith("CONNLOGS_"))
        and key not in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "CONNLOGS_EVENT_LOG")
    }
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
        LOG_LEVEL="WARNING",
    )
    env.update(settings)
    return env


class Server:
    """A gunicorn process serving the project on a free port of 127.0.0.1.

    Its error log goes to ``log_path``; with ``app_output`` the app's own output (Django's
    log) is appended there too, else it is dropped. ``worker_class``/``threads`` are
    gunicorn's (``sync`` serves one request per worker at a time, ``gthread`` ``threads``);
    ``nice`` runs it at that lower CPU priority (``nice -n``).
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        workers: int = 2,
        timeout: int = 3600,
        worker_class: str = "sync",
        threads: int = 1,
        app_output: bool = True,
        nice: int = 0,
    ):
        self.env, self.log_path, self.workers = env, log_path, workers
        self.timeout, self.worker_class, self.threads = timeout, worker_class, threads
        self.app_output, self.nice = app_output, nice
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        self.port = free_port()
        output = open(self.log_path, "a") if self.app_output else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [*(["nice", "-n", str(self.nice)] if self.nice else []),
             GUNICORN, "project.wsgi:application", "--bind", f"{HOST}:{self.port}",
             "--workers", str(self.workers), "--worker-class", self.worker_class,
             "--threads", str(self.threads), "--timeout", str(self.timeout),
             "--graceful-timeout", "10", "--chdir", str(ROOT),
             "--error-logfile", str(self.log_path), "--log-level", "warning"],
            cwd=ROOT, env=self.env, start_new_session=True, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        if not wait_healthy(self.port):
            self.stop()
            raise RuntimeError(f"gunicorn did not become healthy; see {self.log_path}")
        time.sleep(1.0)  # let every worker finish booting

    def describe(self) -> str:
        """``4 workers`` (sync), ``4 gthread workers × 8 threads``, `` at nice 10``."""
        text = f"{self.workers} workers"
        if self.worker_class != "sync":
            text = f"{self.workers} {self.worker_class} workers × {self.threads} threads"
        return text + (f" at nice {self.nice}" if self.nice else "")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    pids.append(int(entry.name))
        return pids


def describe_pools(main: Server, exports: Server) -> str:
    """The main gunicorn pool, and the exports pool when it is another one."""
    if exports is main:
        return main.describe()
    return f"{main.describe()}; exports pool {exports.describe()}"


class Cluster:
    """A throwaway PostgreSQL cluster (fsync on) in a temporary folder, run as ``postgres``.

    The folder is made under ``$BENCH_PGROOT`` and the cluster listens on ``$BENCH_PORT``
    when they are set (so that several people's runs on one machine keep apart), else under
    the system's temporary folder on a free port.
    """

    def __init__(self, shared_buffers: str = "256MB") -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
        if not found:
            raise SystemExit("PostgreSQL is not installed (apt-get install -y postgresql)")
        self.bin = found[-1]
        self.version = self.bin.split("/")[4]
        parent = os.environ.get("BENCH_PGROOT") or None
        if parent:
            os.makedirs(parent, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="connlogs-loadfault-", dir=parent))
        self.data = self.root / "data"
        self.port = int(os.environ.get("BENCH_PORT") or 0) or free_port()
        self.shared_buffers = shared_buffers
        shutil.chown(self.root, "postgres")

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=check, capture_output=True, text=True
        )

    def init(self) -> None:
        self._as_postgres(
            f"{self.bin}/initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={HOST} -c max_connections=50 "
            f"-c shared_buffers={self.shared_buffers}"
        )
        self._as_postgres(
            f"{self.bin}/pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(
            f"{self.bin}/pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def url(self, database: str) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [f"{self.bin}/psql", "-h", HOST, "-p", str(self.port), "-U", "postgres", "-d",
             database, "-At", "-c", sql],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return result.stdout.strip()

    def destroy(self) -> None:
        self.stop("fast")
        shutil.rmtree(self.root, ignore_errors=True)


# --- Django in this process -------------------------------------------------------------------


def setup_django(database_url: str | None = None) -> None:
    """Load the project's settings in this process (against ``database_url`` if given)."""
    if database_url:
        os.environ["DATABASE_URL"] = database_url
        os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def bench_tokens(auth_orgs: list[str]) -> dict[str, str]:
    """A site owner and an organization-auditor of ``auth_orgs``, each with a new API token:
    ``{"owner": token, "auditor": token}``. Needs ``setup_django()``."""
    from connlogs import roles, tokens
    from connlogs.models import ApiToken, Membership, User

    people = {}
    for name, site_roles in (("owner", [roles.OWNER]), ("auditor", [])):
        people[name], _ = User.objects.update_or_create(
            username=f"bench-{name}",
            defaults={
                "email": f"bench-{name}@bench.invalid",
                "site_roles": site_roles,
                "status": User.Status.ACTIVE,
            },
        )
    auditor = people["auditor"]
    Membership.objects.filter(user=auditor).exclude(organization_id__in=auth_orgs).delete()
    for org_id in auth_orgs:
        Membership.objects.update_or_create(
            user=auditor,
            organization_id=org_id,
            defaults={"roles": [roles.ORGANIZATION_AUDITOR]},
        )
    ApiToken.objects.filter(user__in=people.values()).delete()
    return {name: tokens.issue(user, name="bench") for name, user in people.items()}
