"""Follow the change feed while events are posted, and check that nothing is lost or doubled.

    follow_changes.py --url http://127.0.0.1:8000 --token KEY follow [--q Q] [--after N]
    follow_changes.py --url … --token KEY drill --dsn "host=… dbname=…" [--writers 2]
        [--batches 40] [--batch-size 1000]

``follow`` prints each change as a JSON line until interrupted (the loop of docs/api.md).
``drill`` starts a follower at the end of the feed, posts ``--batches`` batches from each of
``--writers`` concurrent clients (agent connects, their disconnects a batch later, web
requests), waits until the follower has read up to the end, and prints one JSON summary:
events posted, the changes the answers account for (``created`` + ``updated``: here each
event changes a row of its own), changes followed, distinct seqs, and any seq or row change
seen twice. Standard library and psycopg only; the token must read every organization.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import uuid

AGENT_TYPES = ("ssh", "vscode", "jetbrains", "reconnecting_pty")
WEB_TYPES = ("workspace_app", "port_forwarding", "tunnel")


class Api:
    def __init__(self, url: str, token: str):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port, self.token = parsed.hostname, parsed.port or 80, token
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Coder-Session-Token": self.token, "Content-Type": "application/json"}
        payload = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, path, payload, headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def changes(self, after: int | None, q: str = "", limit: int = 1000) -> dict:
        params = {"limit": str(limit), **({"q": q} if q else {})}
        if after is not None:
            params["after"] = str(after)
        status, page = self.call(
            "GET", "/api/v2/connectionlog/changes?" + urllib.parse.urlencode(params)
        )
        if status != 200:
            raise RuntimeError(f"changes: {status} {page}")
        return page


def follow(api: Api, after: int | None, q: str, on_change, stop: threading.Event) -> int:
    """Read on from ``after`` until ``stop`` is set and a read finds nothing; the last ``next``."""
    after = api.changes(None, q)["next"] if after is None else after
    while True:
        stopping = stop.is_set()  # read before the page, so the last page is read after it
        page = api.changes(after, q)
        for change in page["changes"]:
            on_change(change)
        if page["next"] == after:
            if stopping:
                return after
            time.sleep(0.2)
        after = page["next"]


class Events:
    """Batches like the benchmark's: agent connects, closed a batch later; web requests."""

    def __init__(self, workspaces: list[str], seed: int):
        self.rng, self.workspaces, self.open = random.Random(seed), workspaces, []
        self.clock = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)

    def _time(self) -> str:
        self.clock += dt.timedelta(microseconds=self.rng.randrange(1, 2000))
        return self.clock.isoformat().replace("+00:00", "Z")

    def batch(self, size: int) -> list[dict]:
        events = [
            {**event, "action": "disconnect", "time": self._time(), "exit_code": 0}
            for event in self.open[: size // 2]
        ]
        self.open = self.open[size // 2 :]
        while len(events) < size:
            base = {"time": self._time(), "workspace_id": self.rng.choice(self.workspaces)}
            if self.rng.random() < 0.8:
                event = {
                    **base,
                    "action": "connect",
                    "type": self.rng.choice(AGENT_TYPES),
                    "agent_name": "main",
                    "connection_id": str(uuid.uuid4()),
                }
                self.open.append(
                    {k: event[k] for k in ("type", "workspace_id", "agent_name", "connection_id")}
                )
            else:
                event = {
                    **base,
                    "action": "connect",
                    "type": self.rng.choice(WEB_TYPES),
                    "agent_name": "main",
                }
            events.append(event)
        return events


def drill(args) -> dict:
    import psycopg

    with psycopg.connect(args.dsn) as db:
        workspaces = [
            row[0]
            for row in db.execute(
                "SELECT id::text FROM connlogs_workspace WHERE NOT deleted ORDER BY id LIMIT 2000"
            )
        ]
    seen: list[dict] = []
    stop = threading.Event()
    start = Api(args.url, args.token).changes(None)["next"]
    follower = threading.Thread(
        target=lambda: follow(Api(args.url, args.token), start, "", seen.append, stop)
    )
    follower.start()
    answers: list[dict] = []

    def write(seed: int) -> None:
        api, events = Api(args.url, args.token), Events(workspaces, seed)
        for _ in range(args.batches):
            status, answer = api.call(
                "POST", "/api/v2/connectionlog/events", {"events": events.batch(args.batch_size)}
            )
            if status != 200:
                raise RuntimeError(f"events: {status} {answer}")
            answers.append(answer)

    began = time.perf_counter()
    writers = [threading.Thread(target=write, args=(seed,)) for seed in range(args.writers)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    seconds = time.perf_counter() - began
    stop.set()
    follower.join()
    seqs = [change["seq"] for change in seen]
    row_changes = [(change["connection_log"]["id"], change["action"]) for change in seen]
    return {
        "writers": args.writers,
        "events_posted": args.writers * args.batches * args.batch_size,
        "ingest_events_per_s": round(args.writers * args.batches * args.batch_size / seconds),
        "changes_answered": sum(a["created"] + a["updated"] for a in answers),
        "changes_followed": len(seen),
        "distinct_seqs": len(set(seqs)),
        "seqs_in_order": seqs == sorted(seqs),
        "seqs_seen_twice": len(seqs) - len(set(seqs)),
        "row_changes_seen_twice": len(row_changes) - len(set(row_changes)),
        "feed_from": start,
        "feed_to": seqs[-1] if seqs else start,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("follow")
    one.add_argument("--q", default="")
    one.add_argument("--after", type=int, default=None)
    many = sub.add_parser("drill")
    many.add_argument("--dsn", required=True)
    many.add_argument("--writers", type=int, default=2)
    many.add_argument("--batches", type=int, default=40)
    many.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    if args.command == "follow":
        try:
            follow(
                Api(args.url, args.token),
                args.after,
                args.q,
                lambda c: print(json.dumps(c)),
                threading.Event(),
            )
        except KeyboardInterrupt:
            pass
        return 0
    print(json.dumps(drill(args), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
