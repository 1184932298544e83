#!/usr/bin/env python3
"""Load and faults in one run: connlogs under gunicorn, PostgreSQL restarted mid-load.

    .venv/bin/python bench/load_fault.py [--duration 60] [--workers 4] [--restart-at 20]
                                         [--outage 5] [--restart-mode immediate|fast]

Run as root (the throwaway cluster runs as ``postgres`` via runuser). Everything listens on
127.0.0.1 only, on free ports (never 55433, the development cluster). Steps:

1. a throwaway PostgreSQL cluster (fsync on: a crash must not lose acknowledged events),
   ``migrate``, ``createcachetable``, demo data, the run's own organization and tokens
   (bench/load_fault_seed.py);
2. gunicorn with several sync workers, as in docs/deployment.md (persistent connections
   with health checks, sign-in counters shared through the database cache);
3. a sign-in throttling check across workers (the counters must be shared);
4. a mixed load for ``--duration`` seconds: writers posting event batches (new connections,
   disconnects, web events, deliberate repeats of acknowledged batches, and retries of a
   batch that did not get a 200, same body), readers searching the API with random filters,
   a page reader, an exporter (some exports abandoned half-way), a health prober;
5. in the middle, PostgreSQL is stopped (``immediate``: a crash) and started again after
   ``--outage`` seconds; every answer during the outage must be a 503 in the contract's
   error shape with Retry-After, never a 500, and the service must recover by itself;
6. the check: the rows in the database are exactly the acknowledged events (none lost,
   none doubled, nothing half-written), then the report (requests/s, p50/p95/p99, errors
   per endpoint; the outage's timeline).

Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import glob
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
HOST = "127.0.0.1"
FORBIDDEN_PORTS = {55433}
DB_UNAVAILABLE = "The database is unavailable; try again shortly."
AGENT_TYPES = ("ssh", "vscode", "jetbrains", "reconnecting_pty")
WEB_TYPES = ("workspace_app", "port_forwarding", "tunnel")


def say(message: str) -> None:
    print(f"[load_fault {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port not in FORBIDDEN_PORTS:
            return port


# --- the throwaway cluster ---------------------------------------------------------------


class Cluster:
    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
        if not found:
            raise SystemExit("PostgreSQL is not installed (apt-get install -y postgresql)")
        self.bin = found[-1]
        self.root = Path(tempfile.mkdtemp(prefix="connlogs-loadfault-"))
        self.data = self.root / "data"
        self.port = free_port()
        shutil.chown(self.root, "postgres")

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=check,
            capture_output=True,
            text=True,
        )

    def init(self) -> None:
        self._as_postgres(
            f"{self.bin}/initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={HOST} -c max_connections=50 "
            "-c shared_buffers=256MB"
        )
        self._as_postgres(
            f"{self.bin}/pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(
            f"{self.bin}/pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

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


# --- HTTP ----------------------------------------------------------------------------------


@dataclass
class Sample:
    endpoint: str
    started: float  # seconds since the load started
    seconds: float
    status: int  # 0: no HTTP answer (connection refused, reset, timeout, cut body)
    detail: str = ""


class Recorder:
    def __init__(self, origin: float):
        self.origin = origin
        self.samples: list[Sample] = []
        self.lock = threading.Lock()
        self.problems: list[str] = []

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def problem(self, text: str) -> None:
        with self.lock:
            if len(self.problems) < 200:
                self.problems.append(text)


class Http:
    """One keep-alive connection per thread (gunicorn's sync workers close it anyway)."""

    def __init__(self, port: int, timeout: float = 30):
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        return self.conn

    def reset(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def request(self, method, path, body=None, headers=None, read=True):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):
            self.reset()
            raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if read:
            try:
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.reset()
                raise
            if response.getheader("Connection", "").lower() == "close":
                self.reset()
            return response, data
        return response, None


def timed(recorder: Recorder, endpoint: str, call):
    """Run ``call()`` -> (status, detail); record the sample; return what call returned."""
    started = time.monotonic()
    try:
        status, detail, result = call()
    except (OSError, http.client.HTTPException) as error:
        status, detail, result = 0, type(error).__name__, None
    recorder.add(
        Sample(endpoint, started - recorder.origin, time.monotonic() - started, status, detail)
    )
    return status, result


def check_503(recorder: Recorder, endpoint: str, response, data: bytes) -> None:
    """A 503 must be the contract's error (JSON under /api/) with a Retry-After."""
    if response.status != 503:
        return
    if not response.getheader("Retry-After"):
        recorder.problem(f"{endpoint}: 503 without Retry-After")
    if endpoint.startswith(("POST /api", "GET /api")):
        try:
            body = json.loads(data)
        except ValueError:
            recorder.problem(f"{endpoint}: 503 body is not JSON: {data[:80]!r}")
            return
        if body != {"message": DB_UNAVAILABLE}:
            recorder.problem(f"{endpoint}: unexpected 503 body {body}")


# --- the ledger: what was acknowledged ---------------------------------------------------


@dataclass
class Ledger:
    """Events acknowledged with a 200; the database must hold exactly these."""

    connects: dict[str, tuple[str, str]] = field(default_factory=dict)  # cid -> (ws, time)
    disconnects: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    web: dict[str, tuple[str, str]] = field(default_factory=dict)  # marker -> (ws, type)
    # Web events of batches that needed a retry: the batch's Idempotency-Key must keep a
    # retry after a lost answer from writing them again.
    web_retried: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    batches: int = 0
    retried_batches: int = 0
    retries: int = 0
    repeats: int = 0
    repeat_changes: int = 0  # a deliberate repeat that changed something (must stay 0)
    gave_up: int = 0


class Clock:
    """Event times: strictly increasing microseconds, so every expected value is exact."""

    def __init__(self):
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self.lock = threading.Lock()

    def tick(self) -> str:
        with self.lock:
            self.now += dt.timedelta(microseconds=1537)
            return self.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Writer(threading.Thread):
    def __init__(self, index, port, seed, ledger, recorder, stop, clock, rng_seed):
        super().__init__(name=f"writer-{index}", daemon=True)
        self.http = Http(port)
        self.seed = seed
        self.ledger = ledger
        self.recorder = recorder
        self.stop = stop
        self.clock = clock
        self.rng = random.Random(rng_seed)
        self.open: list[tuple[str, str]] = []  # acknowledged connects not yet disconnected
        self.acked_agent_batches: list[list[dict]] = []
        self.headers = {"Coder-Session-Token": seed["tokens"]["reporter"]}
        self.deadline_after_stop = 90.0

    def batch(self) -> tuple[list[dict], dict]:
        events, meta = [], {"connects": {}, "disconnects": {}, "web": {}}
        spaces = self.seed["workspace_ids"]
        for _ in range(self.rng.randint(5, 25)):
            cid, space, kind = (
                str(uuid.uuid4()),
                self.rng.choice(spaces),
                self.rng.choice(AGENT_TYPES),
            )
            time_text = self.clock.tick()
            events.append(
                {"action": "connect", "time": time_text, "type": kind, "workspace_id": space,
                 "agent_name": "main", "connection_id": cid, "ip": "10.0.0.1"}
            )  # fmt: skip
            meta["connects"][cid] = (space, time_text)
            if self.rng.random() < 0.2:  # connect and disconnect in the same batch
                end = self.clock.tick()
                events.append(
                    {"action": "disconnect", "time": end, "type": kind, "workspace_id": space,
                     "agent_name": "main", "connection_id": cid, "reason": "done", "exit_code": 0}
                )  # fmt: skip
                meta["disconnects"][cid] = (space, end, 0)
            else:
                meta.setdefault("opened", []).append((cid, space, kind))
        self.rng.shuffle(self.open)
        closing, self.open = self.open[:10], self.open[10:]
        for cid, space, kind in closing:
            end = self.clock.tick()
            code = self.rng.choice([0, 1, 137])
            events.append(
                {"action": "disconnect", "time": end, "type": kind, "workspace_id": space,
                 "agent_name": "main", "connection_id": cid, "reason": "client left",
                 "exit_code": code}
            )  # fmt: skip
            meta["disconnects"][cid] = (space, end, code)
        for _ in range(self.rng.randint(0, 5)):
            marker = f"lf-{uuid.uuid4().hex}"
            space, kind = self.rng.choice(spaces), self.rng.choice(WEB_TYPES)
            event = {"action": "connect", "time": self.clock.tick(), "type": kind,
                     "workspace_id": space, "agent_name": "main", "slug_or_port": marker,
                     "status_code": 200}  # fmt: skip
            if self.rng.random() < 0.5:
                event["user_id"] = self.seed["web_user_id"]
            events.append(event)
            meta["web"][marker] = (space, kind)
        meta["closing"] = closing
        return events, meta

    def send(self, events: list[dict], *, final: bool = False) -> dict | None:
        """POST until a 200 (the same body each time); None if we gave up."""
        self.attempts = attempts = 0
        started = time.monotonic()
        # One key per batch, the same on every retry: a retry after a lost answer is not
        # applied twice (web events never merge, so without it they could be doubled).
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        while True:
            attempts += 1

            def call():
                response, data = self.http.request(
                    "POST", "/api/v2/connectionlog/events", {"events": events}, headers
                )
                check_503(self.recorder, "POST /api/v2/connectionlog/events", response, data)
                return response.status, "", (response, data)

            status, result = timed(self.recorder, "POST /api/v2/connectionlog/events", call)
            self.attempts = attempts
            if status == 200:
                if attempts > 1:
                    with self.ledger.lock:
                        self.ledger.retried_batches += 1
                        self.ledger.retries += attempts - 1
                return json.loads(result[1])
            if status not in (0, 503):
                self.recorder.problem(f"events: HTTP {status}: {result[1][:200]!r}")
                if 400 <= status < 500:
                    return None  # a bug in this script or the server: never retried
            waited = time.monotonic() - started
            if (self.stop.is_set() and not final) or waited > self.deadline_after_stop:
                with self.ledger.lock:
                    self.ledger.gave_up += 1
                return None
            retry_after = 1.0
            if result is not None:
                retry_after = float(result[0].getheader("Retry-After") or 1)
            time.sleep(min(retry_after, 1.0) * (0.5 + self.rng.random()))

    def run(self) -> None:
        while not self.stop.is_set():
            if self.acked_agent_batches and self.rng.random() < 0.1:
                self.repeat()
                continue
            events, meta = self.batch()
            answer = self.send(events, final=True)  # a started batch is always seen through
            if answer is None:
                # Not acknowledged: nothing of it is expected (nor may be present).
                self.open.extend(meta["closing"])
                continue
            with self.ledger.lock:
                self.ledger.batches += 1
                for cid, value in meta["connects"].items():
                    self.ledger.connects[cid] = value
                for cid, value in meta["disconnects"].items():
                    self.ledger.disconnects[cid] = value
                self.ledger.web.update(meta["web"])
                if self.attempts > 1:
                    self.ledger.web_retried.update(meta["web"])
            self.open.extend(meta.get("opened", []))
            agent_only = [event for event in events if event["type"] in AGENT_TYPES]
            self.acked_agent_batches.append(agent_only)
            self.acked_agent_batches = self.acked_agent_batches[-50:]

    def repeat(self) -> None:
        """Send an acknowledged batch's agent events again: nothing may change."""
        events = self.rng.choice(self.acked_agent_batches)
        answer = self.send(events, final=True)
        if answer is None:
            return
        with self.ledger.lock:
            self.ledger.repeats += 1
            if answer["created"] or answer["updated"]:
                self.ledger.repeat_changes += 1


class Reader(threading.Thread):
    QUERIES = [
        "",
        "type:ssh",
        "status:ongoing",
        "status:completed",
        "organization:loadtest",
        "organization:acme type:vscode",
        "workspace_owner:lt-owner status:completed",
        "type:workspace_app",
        "type:tunnel organization:globex",
        "username:lt-web-user",
        'connected_after:"2026-01-01T00:00:30Z"',
        'connected_before:"2026-01-01T00:00:10Z" type:jetbrains',
        "workspace_owner:nobody",
    ]

    def __init__(self, index, port, seed, recorder, stop, rng_seed):
        super().__init__(name=f"reader-{index}", daemon=True)
        self.http = Http(port)
        self.seed = seed
        self.recorder = recorder
        self.stop = stop
        self.rng = random.Random(rng_seed)
        self.last_ids: dict[str, list[str]] = defaultdict(list)  # per token: its own rows

    def run(self) -> None:
        endpoint = "GET /api/v2/connectionlog"
        while not self.stop.is_set():
            token = self.rng.choice(
                [self.seed["tokens"]["auditor"], self.seed["tokens"]["org_auditor"]]
            )
            queries = self.QUERIES
            if token == self.seed["tokens"]["org_auditor"]:
                # Naming an organization you may not see is the contract's 400.
                queries = [q for q in queries if "acme" not in q and "globex" not in q]
            params = {"q": self.rng.choice(queries), "limit": self.rng.choice([25, 100, 1000])}
            if self.last_ids[token] and self.rng.random() < 0.3:
                params["after_id"] = self.rng.choice(self.last_ids[token])
            elif self.rng.random() < 0.3:
                params["offset"] = self.rng.choice([100, 1000, 5000])
            path = "/api/v2/connectionlog?" + urllib.parse.urlencode(params)

            def call(path=path, token=token, params=params):
                response, data = self.http.request(
                    "GET", path, headers={"Coder-Session-Token": token}
                )
                check_503(self.recorder, endpoint, response, data)
                if response.status == 200:
                    body = json.loads(data)
                    ids = [entry["id"] for entry in body["connection_logs"][:20]]
                    self.last_ids[token] = ids or self.last_ids[token]
                elif response.status != 503:
                    self.recorder.problem(f"{endpoint} {params}: {response.status} {data[:120]!r}")
                return response.status, "", None

            status, _ = timed(self.recorder, endpoint, call)
            if status in (0, 503):
                time.sleep(0.5)  # as a client honouring Retry-After would


class PageReader(threading.Thread):
    def __init__(self, port, seed, recorder, stop, rng_seed):
        super().__init__(name="pages", daemon=True)
        self.http = Http(port)
        self.seed = seed
        self.recorder = recorder
        self.stop = stop
        self.rng = random.Random(rng_seed)

    def sign_in(self) -> bool:
        self.http.cookies.clear()
        response, data = self.http.request("GET", "/login", headers=PAGE_CLIENT)
        token = self.http.cookies.get("csrftoken")
        if response.status != 200 or not token:
            if response.status != 503:
                self.recorder.problem(f"sign-in page: {response.status}")
            return False
        form = urllib.parse.urlencode(
            {"username": self.seed["page_user"]["username"],
             "password": self.seed["page_user"]["password"], "csrfmiddlewaretoken": token}
        ).encode()  # fmt: skip
        response, answer = self.http.request(
            "POST", "/login", form,
            {"Content-Type": "application/x-www-form-urlencoded", **PAGE_CLIENT},
        )  # fmt: skip
        if response.status == 302 and "sessionid" in self.http.cookies:
            return True
        if response.status != 503:
            self.recorder.problem(f"sign-in: {response.status} {answer[:200]!r}")
        return False

    def run(self) -> None:
        signed_in = False
        while not self.stop.is_set():
            if not signed_in:
                try:
                    signed_in = self.sign_in()
                except (OSError, http.client.HTTPException):
                    signed_in = False
                if not signed_in:
                    time.sleep(0.5)
                    continue
            q = self.rng.choice(Reader.QUERIES)
            path = "/connectionlog?" + urllib.parse.urlencode({"q": q})
            found: list[str] = []

            def call(path=path, found=found):
                response, data = self.http.request("GET", path)
                check_503(self.recorder, "GET /connectionlog (page)", response, data)
                found.extend(re.findall(rb'data-href="(/connectionlog/[0-9a-f-]{36})"', data)[:5])
                return response.status, "", None

            status, _ = timed(self.recorder, "GET /connectionlog (page)", call)
            if status in (0, 503):
                time.sleep(0.5)
            if found:
                detail = self.rng.choice(found).decode()

                def open_detail(detail=detail):
                    response, data = self.http.request("GET", detail)
                    check_503(self.recorder, "GET /connectionlog/<id> (page)", response, data)
                    return response.status, "", None

                timed(self.recorder, "GET /connectionlog/<id> (page)", open_detail)


class Exporter(threading.Thread):
    QUERIES = ["organization:loadtest", "type:ssh", "status:completed", "organization:acme", ""]

    def __init__(self, port, seed, recorder, stop, rng_seed):
        super().__init__(name="exporter", daemon=True)
        self.port = port
        self.seed = seed
        self.recorder = recorder
        self.stop = stop
        self.rng = random.Random(rng_seed)
        self.lines = 0
        self.completed = 0
        self.abandoned = 0
        self.cut = 0  # streams the server could not finish (the outage)

    def run(self) -> None:
        while not self.stop.is_set():
            abandon = self.rng.random() < 0.3
            endpoint = "GET /api/v2/connectionlog/export" + (" (abandoned)" if abandon else "")
            q = self.rng.choice(self.QUERIES)
            path = "/api/v2/connectionlog/export?" + urllib.parse.urlencode(
                {"q": q, "format": "ndjson"}
            )
            headers = {"Coder-Session-Token": self.seed["tokens"]["auditor"]}

            def call(path=path, headers=headers, abandon=abandon):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    if response.status != 200:
                        data = response.read()
                        check_503(self.recorder, "GET /api/v2/connectionlog/export", response, data)
                        return response.status, "", None
                    if abandon:
                        response.read(64 * 1024)  # then hang up mid-stream
                        self.abandoned += 1
                        return 200, "abandoned", None
                    try:
                        body = response.read()
                    except http.client.IncompleteRead:
                        self.cut += 1
                        return 0, "IncompleteRead", None
                    lines = body.count(b"\n")
                    self.lines += lines
                    self.completed += 1
                    return 200, "", None
                finally:
                    conn.close()

            status, _ = timed(self.recorder, endpoint, call)
            if status in (0, 503):
                time.sleep(0.5)


class Prober(threading.Thread):
    def __init__(self, port, recorder, stop):
        super().__init__(name="prober", daemon=True)
        self.http = Http(port, timeout=5)
        self.recorder = recorder
        self.stop = stop

    def run(self) -> None:
        while not self.stop.is_set():

            def call():
                response, data = self.http.request("GET", "/healthz")
                return response.status, data.decode()[:60], None

            timed(self.recorder, "GET /healthz", call)
            time.sleep(0.25)


# --- the run -------------------------------------------------------------------------------


def app_env(cluster: Cluster, database: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONNLOGS_")}
    env.update(
        DATABASE_URL=f"postgres://postgres@{HOST}:{cluster.port}/{database}",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
        CONN_MAX_AGE="60",
        CONNLOGS_CACHE_TABLE="connlogs_cache",
        CONNLOGS_CLIENT_ADDRESS_HEADER="X-Forwarded-For",
        LOG_LEVEL="WARNING",
    )
    env.pop("DEBUG", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def wait_healthy(port: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            response, _ = Http(port, timeout=2).request("GET", "/healthz")
            if response.status == 200:
                return True
        time.sleep(0.2)
    return False


# The run plays a reverse proxy: it passes each client's address in X-Forwarded-For.
ATTACKER = {"X-Forwarded-For": "203.0.113.5"}
PAGE_CLIENT = {"X-Forwarded-For": "198.51.100.7"}


def throttle_across_workers(port: int, seed: dict, failures: int) -> tuple[bool, str]:
    """Wrong passwords land on different workers; the lockout must count them all, and it
    must lock out that client only, not everybody behind the same proxy."""
    email = seed["throttle_user"]["email"]
    right = {"email": email, "password": seed["throttle_user"]["password"]}
    statuses = []
    for _ in range(failures):
        response, _ = Http(port).request(
            "POST", "/api/v2/users/login", {"email": email, "password": "wrong"}, ATTACKER
        )
        statuses.append(response.status)
    locked, _ = Http(port).request("POST", "/api/v2/users/login", right, ATTACKER)
    statuses.append(locked.status)
    other, _ = Http(port).request(
        "POST", "/api/v2/users/login", {**right, "email": seed["page_user"]["email"]}, PAGE_CLIENT
    )
    statuses.append(other.status)
    ok = (
        statuses[:failures] == [401] * failures
        and locked.status == 429
        and locked.getheader("Retry-After")
        and other.status == 201
    )
    return bool(ok), " ".join(map(str, statuses))


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def verify(cluster: Cluster, database: str, seed: dict, ledger: Ledger) -> dict:
    """The database holds exactly the acknowledged events."""
    spaces = ",".join(f"'{space}'" for space in seed["workspace_ids"])
    agent = cluster.psql(
        "SELECT connection_id, to_char(connect_time AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'), coalesce(to_char(disconnect_time AT TIME ZONE '
        "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), ''), coalesce(code::text, '') "
        f"FROM connlogs_connectionlog WHERE workspace_id IN ({spaces}) "
        "AND connection_id IS NOT NULL",
        database,
    )
    rows: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for line in filter(None, agent.splitlines()):
        cid, connect, disconnect, code = line.split("|")
        rows[cid].append((connect, disconnect, code))
    web = cluster.psql(
        "SELECT slug_or_port, count(*) FROM connlogs_connectionlog "
        f"WHERE workspace_id IN ({spaces}) AND connection_id IS NULL GROUP BY slug_or_port",
        database,
    )
    web_counts = {
        marker: int(count)
        for marker, count in (line.split("|") for line in filter(None, web.splitlines()))
    }

    lost_connects = [cid for cid in ledger.connects if cid not in rows]
    doubled = [cid for cid, found in rows.items() if len(found) > 1]
    unexpected = [cid for cid in rows if cid not in ledger.connects]
    wrong_times, lost_disconnects, phantom_disconnects = [], [], []
    for cid, (_space, connect) in ledger.connects.items():
        for found_connect, found_disconnect, code in rows.get(cid, [])[:1]:
            if found_connect != connect:
                wrong_times.append(cid)
            if cid in ledger.disconnects:
                _, end, exit_code = ledger.disconnects[cid]
                if found_disconnect != end or code != str(exit_code):
                    lost_disconnects.append(cid)
            elif found_disconnect:
                phantom_disconnects.append(cid)
    lost_web = [marker for marker in ledger.web if marker not in web_counts]
    web_doubles = [marker for marker, count in web_counts.items() if count > 1]
    # Batches carry an Idempotency-Key, so even a retry after a lost answer must not double
    # a web event; the two kinds of double are reported apart to tell a cause.
    doubled_web = [marker for marker in web_doubles if marker not in ledger.web_retried]
    doubled_by_retry = [marker for marker in web_doubles if marker in ledger.web_retried]
    unexpected_web = [marker for marker in web_counts if marker not in ledger.web]
    result = {
        "acknowledged_batches": ledger.batches,
        "deliberate_repeats": ledger.repeats,
        "repeats_that_changed_something": ledger.repeat_changes,
        "batches_retried_after_503_or_reset": ledger.retried_batches,
        "retries": ledger.retries,
        "batches_given_up": ledger.gave_up,
        "expected_agent_rows": len(ledger.connects),
        "agent_rows_found": sum(len(found) for found in rows.values()),
        "expected_disconnects": len(ledger.disconnects),
        "expected_web_rows": len(ledger.web),
        "web_rows_found": sum(web_counts.values()),
        "lost_connects": len(lost_connects),
        "doubled_connections": len(doubled),
        "unexpected_agent_rows": len(unexpected),
        "wrong_connect_times": len(wrong_times),
        "lost_or_wrong_disconnects": len(lost_disconnects),
        "disconnects_never_acknowledged": len(phantom_disconnects),
        "lost_web_events": len(lost_web),
        "doubled_web_events": len(doubled_web),
        "web_events_of_retried_batches": len(ledger.web_retried),
        "web_events_doubled_by_a_retry_after_a_lost_answer": len(doubled_by_retry),
        "unexpected_web_rows": len(unexpected_web),
    }
    result["exact"] = all(
        result[key] == 0
        for key in (
            "lost_connects", "doubled_connections", "unexpected_agent_rows",
            "wrong_connect_times", "lost_or_wrong_disconnects", "disconnects_never_acknowledged",
            "lost_web_events", "doubled_web_events", "unexpected_web_rows",
            "repeats_that_changed_something", "batches_given_up",
            "web_events_doubled_by_a_retry_after_a_lost_answer",
        )
    )  # fmt: skip
    return result


def report(recorder: Recorder, duration: float) -> tuple[str, dict]:
    by_endpoint: dict[str, list[Sample]] = defaultdict(list)
    for sample in recorder.samples:
        by_endpoint[sample.endpoint].append(sample)
    lines = [
        f"{'endpoint':44} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'2xx/3xx':>7} {'4xx':>5} {'503':>5} {'5xx*':>5} {'no ans':>6}"
    ]
    totals: dict = {}
    for endpoint in sorted(by_endpoint):
        samples = by_endpoint[endpoint]
        answered = [s for s in samples if s.status and s.status != 503]
        latencies = [s.seconds * 1000 for s in answered]
        row = {
            "requests": len(samples),
            "rps": len(samples) / duration,
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "ok": sum(1 for s in samples if 200 <= s.status < 400),
            "4xx": sum(1 for s in samples if 400 <= s.status < 500),
            "503": sum(1 for s in samples if s.status == 503),
            "5xx_other": sum(1 for s in samples if s.status >= 500 and s.status != 503),
            "no_answer": sum(1 for s in samples if s.status == 0),
        }
        totals[endpoint] = row
        lines.append(
            f"{endpoint:44} {row['requests']:8d} {row['rps']:7.1f} {row['p50']:8.1f} "
            f"{row['p95']:8.1f} {row['p99']:8.1f} {row['ok']:7d} {row['4xx']:5d} {row['503']:5d} "
            f"{row['5xx_other']:5d} {row['no_answer']:6d}"
        )
    lines.append("(latencies of answered requests other than 503; 5xx* = 5xx other than 503)")
    return "\n".join(lines), totals


def outage_timeline(recorder: Recorder, down: float, up: float) -> dict:
    during = [s for s in recorder.samples if down <= s.started <= up]
    after = sorted((s for s in recorder.samples if s.started > up), key=lambda s: s.started)
    statuses: dict[str, int] = defaultdict(int)
    for sample in during:
        statuses[str(sample.status)] += 1
    first_503 = min((s.started for s in recorder.samples if s.status == 503), default=None)
    last_503 = max(
        (s.started + s.seconds for s in recorder.samples if s.status == 503), default=None
    )
    health_back = next(
        (s.started for s in after if s.endpoint == "GET /healthz" and s.status == 200), None
    )
    events_back = next(
        (s.started for s in after if s.endpoint.startswith("POST") and s.status == 200), None
    )
    return {
        "stopped_at_s": round(down, 2),
        "started_at_s": round(up, 2),
        "answers_during_outage": dict(statuses),
        "first_503_at_s": round(first_503, 2) if first_503 is not None else None,
        "last_503_at_s": round(last_503, 2) if last_503 is not None else None,
        "healthz_ok_again_s_after_start": round(health_back - up, 2) if health_back else None,
        "events_ok_again_s_after_start": round(events_back - up, 2) if events_back else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (>= 60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--restart-at", type=float, default=20.0, help="seconds into the load")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL is down")
    parser.add_argument("--restart-mode", choices=["immediate", "fast"], default="immediate")
    parser.add_argument("--demo-rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the cluster is started as postgres with runuser")

    cluster = Cluster()
    gunicorn: subprocess.Popen | None = None
    database = "connlogs"

    def cleanup(*_):
        if gunicorn is not None and gunicorn.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(gunicorn.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                gunicorn.wait(timeout=15)
        cluster.destroy()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        say(
            f"cluster {cluster.root} on {HOST}:{cluster.port} "
            f"(PostgreSQL {cluster.bin.split('/')[4]}, fsync on)"
        )
        cluster.init()
        cluster.start()
        cluster.psql(f"CREATE DATABASE {database}")
        env = app_env(cluster, database)
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "createcachetable")
        if args.demo_rows:
            say(f"demo data: {args.demo_rows} rows")
            manage(env, "demo", "--rows", str(args.demo_rows))
        seed = json.loads(subprocess.run(
            [PY, str(ROOT / "bench" / "load_fault_seed.py"), "20"], cwd=ROOT, env=env,
            check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1])  # fmt: skip

        port = free_port()
        error_log = cluster.root / "gunicorn.log"
        say(f"gunicorn: {args.workers} sync workers on {HOST}:{port}")
        gunicorn = subprocess.Popen(
            [GUNICORN, "project.wsgi:application", "--bind", f"{HOST}:{port}",
             "--workers", str(args.workers), "--timeout", "60", "--graceful-timeout", "10",
             "--error-logfile", str(error_log), "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        if not wait_healthy(port):
            raise SystemExit(f"gunicorn did not become healthy; see {error_log}")

        failures = 5
        throttled, statuses = throttle_across_workers(port, seed, failures)
        say(f"sign-in throttle across workers: {'ok' if throttled else 'FAILED'} ({statuses})")

        stop = threading.Event()
        origin = time.monotonic()
        recorder = Recorder(origin)
        ledger = Ledger()
        clock = Clock()
        writers = [
            Writer(i, port, seed, ledger, recorder, stop, clock, args.seed * 100 + i)
            for i in range(args.writers)
        ]
        readers = [
            Reader(i, port, seed, recorder, stop, args.seed * 200 + i) for i in range(args.readers)
        ]
        pages = PageReader(port, seed, recorder, stop, args.seed * 300)
        exporter = Exporter(port, seed, recorder, stop, args.seed * 400)
        prober = Prober(port, recorder, stop)
        threads = [*writers, *readers, pages, exporter, prober]
        say(
            f"load for {args.duration:.0f}s: {args.writers} writers, {args.readers} readers, "
            f"1 page reader, 1 exporter, 1 health prober; PostgreSQL {args.restart_mode} stop "
            f"at {args.restart_at:.0f}s for {args.outage:.0f}s"
        )
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, args.restart_at - (time.monotonic() - origin)))
        down = time.monotonic() - origin
        cluster.stop(args.restart_mode)
        stopped = time.monotonic() - origin
        say(f"PostgreSQL stopping ({args.restart_mode}) at {down:.1f}s, down at {stopped:.1f}s")
        time.sleep(args.outage)
        cluster.start()
        up = time.monotonic() - origin
        say(f"PostgreSQL started again at {up:.1f}s")
        time.sleep(max(0.0, args.duration - (time.monotonic() - origin)))
        stop.set()
        load_seconds = time.monotonic() - origin
        say("load stopped; writers finish the batches they started")
        for thread in threads:
            thread.join(timeout=120)

        table, totals = report(recorder, load_seconds)
        timeline = outage_timeline(recorder, down, up)
        integrity = verify(cluster, database, seed, ledger)
        leftover = cluster.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'",
            database,
        )
        log_text = error_log.read_text(errors="replace") if error_log.exists() else ""
        kept = ROOT / "bench" / "out" / "load_fault"
        kept.mkdir(parents=True, exist_ok=True)
        (kept / "gunicorn.log").write_text(log_text)
        (kept / "postgresql.log").write_text(
            (cluster.root / "log").read_text(errors="replace")
            if (cluster.root / "log").exists()
            else ""
        )
        errors_500 = sum(row["5xx_other"] for row in totals.values())
        # gunicorn's error records: "[date] [pid] [LEVEL] message" then any traceback lines.
        records = re.split(r"(?m)^(?=\[\d{4}-\d{2}-\d{2} )", log_text)
        failed = [record for record in records if "Traceback (most recent call last)" in record]
        tracebacks = len(failed)
        # A stream cut by the outage can only end early (its 200 and headers are sent): the
        # server logs it. Any other traceback is a request that failed without an answer.
        other_tracebacks = sum(1 for record in failed if "connlogs/export.py" not in record)
        server_errors = len(re.findall(r"Internal Server Error", log_text))

        print()
        print(
            f"== load: {load_seconds:.1f}s, gunicorn {args.workers} workers, "
            f"PostgreSQL on {HOST}:{cluster.port}"
        )
        print(table)
        print()
        print(f"== outage ({args.restart_mode} stop for {args.outage:.0f}s)")
        for key, value in timeline.items():
            print(f"  {key}: {value}")
        print()
        print("== integrity (database vs acknowledged events)")
        for key, value in integrity.items():
            print(f"  {key}: {value}")
        print()
        print("== exporter")
        print(
            f"  completed: {exporter.completed} ({exporter.lines} lines), abandoned on purpose: "
            f"{exporter.abandoned}, cut by the outage: {exporter.cut}"
        )
        print("== server")
        print(f"  sign-in throttle shared across workers: {throttled} ({statuses})")
        print(f"  answers 500 (or other 5xx but 503): {errors_500}")
        print(
            f"  'Internal Server Error' in the server log: {server_errors}; "
            f"tracebacks: {tracebacks} ({tracebacks - other_tracebacks} in streams cut by the "
            f"outage, {other_tracebacks} elsewhere)"
        )
        print(f"  idle-in-transaction connections left: {leftover}")
        problems = sorted(set(recorder.problems))
        print(f"  contract problems seen by clients: {len(problems)}")
        for problem in problems[:20]:
            print(f"    - {problem}")
        passed = (
            integrity["exact"]
            and errors_500 == 0
            and server_errors == 0
            and other_tracebacks == 0
            and not problems
            and throttled
            and leftover == "0"
            and timeline["healthz_ok_again_s_after_start"] is not None
        )
        print()
        print(f"== {'PASSED' if passed else 'FAILED'}")
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"endpoints": totals, "outage": timeline, "integrity": integrity,
                 "throttle": statuses, "errors_500": errors_500, "tracebacks": tracebacks,
                 "load_seconds": load_seconds, "passed": passed}, indent=2,
            ))  # fmt: skip
        if failed:
            print("\n== server log errors (first 3, last lines)")
            for record in failed[:3]:
                print("\n".join(record.strip().splitlines()[:1] + record.strip().splitlines()[-3:]))
        return 0 if passed else 1
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
