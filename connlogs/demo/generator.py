"""Seeded demo rows: ``DemoRow`` (a row as the merging rules store it) and ``RowGenerator``."""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Iterator
from typing import NamedTuple

from connlogs import values
from connlogs.demo.distributions import (
    ANONYMOUS_STATUS_CODES,
    DURATIONS,
    HOSTILE_USER_AGENT,
    HOUR_WEIGHTS,
    IDE_EXIT_CODES,
    LOST_CONNECT,
    LOST_DISCONNECT,
    MAX_SESSION,
    REASONS,
    SHELL_EXIT_CODES,
    SLUGS,
    STATUS_CODES,
    TUNNEL_STATUS_CODES,
    TYPE_MIX,
    USER_AGENTS,
    WEEKEND_WEIGHT,
    person_addresses,
    weighted,
)
from connlogs.demo.people import PEOPLE, Cast, DemoWorkspace
from connlogs.ingest import CONNECT, DISCONNECT
from connlogs.models import WEB_TYPES, Workspace

DEFAULT_DAYS = 30


class DemoRow(NamedTuple):
    """One connection-log row, as the merging rules store it."""

    type: str
    workspace: Workspace
    agent_name: str
    connect_time: dt.datetime
    disconnect_time: dt.datetime | None = None
    reason: str = ""
    code: int | None = None  # exit code (agent rows), HTTP status (web rows)
    ip: str | None = None
    connection_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    user_agent: str = ""
    slug_or_port: str = ""

    @property
    def is_web(self) -> bool:
        return self.type in WEB_TYPES

    @property
    def is_ongoing(self) -> bool:
        return not self.is_web and self.disconnect_time is None

    def events(self) -> list[dict]:
        """The events a reporter sends for this row; merged, they make exactly this row."""
        common = {
            "type": self.type,
            "workspace_id": str(self.workspace.id),
            "agent_name": self.agent_name,
        }
        if self.ip is not None:
            common["ip"] = self.ip
        if self.is_web:
            event = {**common, "action": CONNECT, "time": values.format_time(self.connect_time)}
            if self.user_id is not None:
                event["user_id"] = str(self.user_id)
            if self.user_agent:
                event["user_agent"] = self.user_agent
            if self.slug_or_port:
                event["slug_or_port"] = self.slug_or_port
            if self.code != 200:  # a missing status is stored as 200
                event["status_code"] = self.code
            return [event]
        common["connection_id"] = str(self.connection_id)
        sent = []
        if self.disconnect_time != self.connect_time:
            # A disconnect alone (its connect lost) makes a row with both times equal.
            sent.append(
                {**common, "action": CONNECT, "time": values.format_time(self.connect_time)}
            )
        if self.disconnect_time is not None:
            event = {
                **common,
                "action": DISCONNECT,
                "time": values.format_time(self.disconnect_time),
            }
            if self.reason:
                event["reason"] = self.reason
            if self.code is not None:
                event["exit_code"] = self.code
            sent.append(event)
        return sent


class RowGenerator:
    """Seeded connection-log rows over the ``days`` before ``now``."""

    def __init__(self, cast: Cast, *, seed: int, now: dt.datetime, days: int = DEFAULT_DAYS):
        self.rng = random.Random(seed)
        # Ids come from a separately, randomly seeded source: a second load never collides.
        self.ids = random.Random()
        self.cast = cast
        self.now = now
        self.now_ts = now.timestamp()
        self.window = days * 86400.0
        self.workspaces, self.workspace_weights = weighted(
            (ws, ws.weight) for ws in cast.workspaces if ws.weight > 0
        )
        people = {person.username: index for index, person in enumerate(PEOPLE)}
        self.addresses = {
            user.id: person_addresses(self.rng, people.get(name, 0))
            for name, user in cast.users.items()
        }
        self.members = {
            org.id: [user.id for user in cast.members_of(org.id)]
            for org in cast.organizations.values()
        }

    def new_id(self) -> uuid.UUID:
        """A fresh version-4 id (never from the seeded source)."""
        return uuid.UUID(int=self.ids.getrandbits(128), version=4)

    def _time(self, demo_ws: DemoWorkspace) -> float:
        """A connect time: busier on weekday working hours, never after the workspace died."""
        rng, now_ts, window = self.rng, self.now_ts, self.window
        while True:
            ts = now_ts - rng.random() * window
            hour = int(ts // 3600) % 24
            weekday = (int(ts // 86400) + 3) % 7  # 1970-01-01 was a Thursday
            weight = HOUR_WEIGHTS[hour] * (WEEKEND_WEIGHT if weekday >= 5 else 1.0)
            if rng.random() < weight:
                break
        if demo_ws.until is not None:
            # Squeeze the window so it ends when the workspace was deleted.
            until_ts = demo_ws.until.timestamp()
            start = now_ts - window
            ts = start + (ts - start) * max(0.0, until_ts - start) / window
        return ts

    def _address(self, user_id) -> str | None:
        items, cumulative = self.addresses[user_id]
        return self.rng.choices(items, cum_weights=cumulative)[0]

    def row(self) -> DemoRow:
        """One random row: a session (agent types) or a request (web types)."""
        rng = self.rng
        demo_ws = rng.choices(self.workspaces, cum_weights=self.workspace_weights)[0]
        workspace = demo_ws.workspace
        kind = rng.choices(TYPE_MIX[0], cum_weights=TYPE_MIX[1])[0]
        agent = demo_ws.agents[0] if rng.random() < 0.75 else rng.choice(demo_ws.agents)
        ts = self._time(demo_ws)
        connect = dt.datetime.fromtimestamp(ts, dt.UTC)
        if kind in WEB_TYPES:
            return self._web_row(kind, workspace, agent, connect)

        owner_id = workspace.owner_id
        ip = self._address(owner_id)
        if rng.random() < LOST_CONNECT:
            # Only the disconnect arrived: connect and disconnect times are equal.
            return DemoRow(
                kind,
                workspace,
                agent,
                connect,
                connect,
                rng.choices(REASONS[0], cum_weights=REASONS[1])[0],
                self._exit_code(kind),
                ip,
                self.new_id(),
            )
        median, spread = DURATIONS[kind]
        duration = min(rng.lognormvariate(math.log(median), spread), MAX_SESSION)
        end_ts = ts + duration
        limit_ts = demo_ws.until.timestamp() if demo_ws.until is not None else self.now_ts
        if demo_ws.until is not None and end_ts > limit_ts:
            end_ts, reason = limit_ts, "workspace deleted"
        elif end_ts > limit_ts or rng.random() < LOST_DISCONNECT:
            return DemoRow(kind, workspace, agent, connect, None, "", None, ip, self.new_id())
        else:
            reason = rng.choices(REASONS[0], cum_weights=REASONS[1])[0]
        disconnect = dt.datetime.fromtimestamp(max(end_ts, ts + 0.001), dt.UTC)
        return DemoRow(
            kind,
            workspace,
            agent,
            connect,
            disconnect,
            reason,
            self._exit_code(kind),
            ip,
            self.new_id(),
        )

    def _exit_code(self, kind: str) -> int | None:
        codes = SHELL_EXIT_CODES if kind in ("ssh", "reconnecting_pty") else IDE_EXIT_CODES
        return self.rng.choices(codes[0], cum_weights=codes[1])[0]

    def _web_row(self, kind, workspace, agent, connect) -> DemoRow:
        rng = self.rng
        roll = rng.random()
        if roll < 0.85:
            user_id = workspace.owner_id
        elif roll < 0.95:
            user_id = rng.choice(self.members[workspace.organization_id] or [workspace.owner_id])
        else:
            user_id = None  # not signed in
        if kind == "tunnel":
            codes = TUNNEL_STATUS_CODES if user_id is not None else ([403], [1])
            status = rng.choices(codes[0], cum_weights=codes[1])
            ip = self._address(user_id) if user_id is not None else "192.0.2.77"
        elif user_id is None:
            status = rng.choices(ANONYMOUS_STATUS_CODES[0], cum_weights=ANONYMOUS_STATUS_CODES[1])
            ip = rng.choice(["192.0.2.77", "fd7a:115c:a1e0:ffff::17", "198.51.100.250"])
        else:
            status = rng.choices(STATUS_CODES[0], cum_weights=STATUS_CODES[1])
            ip = self._address(user_id)
        user_agent = rng.choices(USER_AGENTS[0], cum_weights=USER_AGENTS[1])[0]
        return DemoRow(
            kind,
            workspace,
            agent,
            connect,
            code=status[0],
            ip=ip,
            user_id=user_id,
            user_agent=user_agent,
            slug_or_port=rng.choice(SLUGS[kind]),
        )

    def showcase(self) -> list[DemoRow]:
        """A fixed handful so every kind of row is present however few rows are asked for."""
        live = [demo_ws.workspace for demo_ws in self.cast.workspaces if demo_ws.until is None]
        one, two, three = live[1 % len(live)], live[3 % len(live)], live[5 % len(live)]
        chrome = USER_AGENTS[0][0]

        def ago(minutes: float) -> dt.datetime:
            return self.now - dt.timedelta(minutes=minutes)

        def session(kind, ws, start, end=None, reason="", code=None, ip=None) -> DemoRow:
            return DemoRow(kind, ws, "main", start, end, reason, code, ip, self.new_id())

        def request(kind, ws, at, code, ip=None, signed_in=True, agent="", slug="") -> DemoRow:
            user_id = ws.owner_id if signed_in else None
            return DemoRow(
                kind,
                ws,
                "main",
                at,
                code=code,
                ip=ip,
                user_id=user_id,
                user_agent=agent,
                slug_or_port=slug,
            )

        return [
            session("ssh", one, ago(20), ip="fd7a:115c:a1e0:1::42"),  # ongoing, IPv6
            session("vscode", two, ago(95), ip="203.0.113.24"),  # ongoing
            session(
                "jetbrains", three, ago(600), ago(420), "client disconnected", None, "198.51.100.7"
            ),
            session(
                "reconnecting_pty", one, ago(300), ago(290), "normal closure", 130, "10.20.30.40"
            ),
            session(
                "ssh",
                two,
                ago(200),
                ago(150),
                "connection reset by peer",
                255,
                "fd7a:115c:a1e0:2::7",
            ),
            session("ssh", three, ago(180), ago(180), "agent shutting down", 0),  # connect lost
            request(
                "workspace_app", one, ago(12), 200, "203.0.113.24", agent=chrome, slug="code-server"
            ),
            request(
                "workspace_app",
                two,
                ago(30),
                502,
                "192.0.2.66",
                agent=HOSTILE_USER_AGENT,
                slug="jupyter",
            ),
            request(
                "workspace_app", three, ago(45), 403, "192.0.2.77", False, "curl/8.8.0", "grafana"
            ),
            request(
                "port_forwarding",
                one,
                ago(60),
                200,
                "fd7a:115c:a1e0:1::42",
                agent=chrome,
                slug="8080",
            ),
            request(
                "port_forwarding",
                two,
                ago(75),
                404,
                "198.51.100.7",
                agent="Go-http-client/1.1",
                slug="3000",
            ),
            request("tunnel", three, ago(90), 101, slug="5432"),  # address unknown
            request(
                "workspace_app", one, ago(100), 500, "203.0.113.24", agent=chrome, slug="jupyter"
            ),
        ]

    def rows(self, count: int) -> Iterator[DemoRow]:
        """``count`` rows: the showcase first (as much of it as fits), then random ones."""
        showcase = self.showcase()[:count]
        yield from showcase
        for _ in range(count - len(showcase)):
            yield self.row()
