"""The load/fault run's writers and their ledger: event batches posted until acknowledged,
every acknowledged event written down, and the check that the database holds exactly those
(none lost, none doubled, nothing half-written)."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from common import AGENT_TYPES, EVENTS_PATH, WEB_TYPES, Cluster, Http
from fault_record import check_503, timed


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
                response, data = self.http.request("POST", EVENTS_PATH, {"events": events}, headers)
                check_503(self.recorder, f"POST {EVENTS_PATH}", response, data)
                return response.status, "", (response, data)

            status, result = timed(self.recorder, f"POST {EVENTS_PATH}", call)
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
