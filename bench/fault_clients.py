"""The load/fault run's other clients: API readers with random filters and paging, a page
reader signed in through the sign-in form, an exporter (some downloads abandoned half-way)
and a health prober. Each records what it saw (fault_record.Recorder)."""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
import urllib.parse
from collections import defaultdict

from common import Http, connect
from fault_ledger import Clock, Writer
from fault_record import check_503, timed

# The run plays a reverse proxy: it passes each client's address in X-Forwarded-For.
ATTACKER = {"X-Forwarded-For": "203.0.113.5"}
PAGE_CLIENT = {"X-Forwarded-For": "198.51.100.7"}


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
                conn = connect(self.port, 60)
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


def make_clients(args, port: int, seed: dict, recorder, ledger, stop, timeout=None) -> dict:
    """The run's writers, API readers, page reader and health prober (not started):
    ``{"writers": [...], "others": [...]}``; ``timeout`` (seconds) replaces each client's
    own (30, the prober's 5) when given."""
    clock = Clock()
    writers = [
        Writer(i, port, seed, ledger, recorder, stop, clock, args.seed * 100 + i)
        for i in range(args.writers)
    ]
    readers = [
        Reader(i, port, seed, recorder, stop, args.seed * 200 + i) for i in range(args.readers)
    ]
    others = [*readers, PageReader(port, seed, recorder, stop, args.seed * 300)]
    others.append(Prober(port, recorder, stop))
    for client in [*writers, *others]:
        client.http.timeout = timeout or client.http.timeout
    return {"writers": writers, "others": others}
