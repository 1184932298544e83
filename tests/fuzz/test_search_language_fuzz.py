"""Generated queries of the whole search language against a plain Python reference filter.

The queries mix the keys that are ours (docs/search.md) with some of Coder's, each maybe
negated (``-key:``) and with lists of values (``key:a,b``), relative times, bare dates and
free words. The reference below is written from docs/search.md, not from the code under test;
the suite runs on SQLite and on PostgreSQL, so passing on both means both databases give the
same rows. (test_query_fuzz.py does the same for Coder's language, with every role and paging.)

Times relative to the present are kept at least half an hour from every bound a query can
name, so the seconds between the data's ``now`` and a request's do not matter.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from connlogs import roles
from connlogs.models import ConnectionLog
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    auth_header,
)
from tests.fuzz.conftest import fuzz_settings

API = "/api/v2/connectionlog"
AGENT = ("ssh", "vscode", "jetbrains", "reconnecting_pty")
WEB = ("workspace_app", "port_forwarding", "tunnel")
IPS = [None, "10.0.0.7", "10.200.1.9", "198.51.100.20", "203.0.113.5", "2001:db8::5",
       "2001:db8:1::9", "fd7a:115c:a1e0::1", "127.0.0.1"]  # fmt: skip
AGENT_NAMES = ["main", "Main", "GPU-Box", "Éditeur", "db"]
SLUGS = ["code-server", "grafana", "8080", "terminal", "a_b", "100%"]
LENGTHS = [dt.timedelta(seconds=30), dt.timedelta(minutes=59), dt.timedelta(hours=1),
           dt.timedelta(hours=3), dt.timedelta(hours=9), dt.timedelta(days=2)]  # fmt: skip
# Ages of open sessions: a whole number of hours plus 30 minutes.
OPEN_AGES = [dt.timedelta(minutes=30), dt.timedelta(hours=2, minutes=30),
             dt.timedelta(days=3, minutes=30), dt.timedelta(days=8, minutes=30),
             dt.timedelta(days=40, minutes=30)]  # fmt: skip
STALE_AFTER = dt.timedelta(days=7)


@pytest.fixture
def world(db):
    now = timezone.now()
    acme, globex = OrganizationFactory(name="acme"), OrganizationFactory(name="globex")
    people = [UserFactory(username=name) for name in ("frank", "Alice", "bob", "carol")]
    workspaces = [
        WorkspaceFactory(organization=acme, owner=people[0], name="mobile-app"),
        WorkspaceFactory(organization=acme, owner=people[1], name="dev"),
        WorkspaceFactory(organization=globex, owner=people[2], name="mobile-app"),
        WorkspaceFactory(organization=globex, owner=people[2], name="old", deleted=True),
    ]
    base = now - dt.timedelta(days=20, minutes=30)
    for index in range(36):
        kind = (AGENT + WEB)[index % 7]
        workspace = workspaces[index % 4]
        start = base + dt.timedelta(hours=13 * index)
        fields = {
            "workspace": workspace,
            "type": kind,
            "connect_time": start,
            "ip": IPS[index % len(IPS)],
            "agent_name": AGENT_NAMES[index % len(AGENT_NAMES)],
        }
        if index % 9 == 4:
            fields["workspace_name"] = "renamed"  # the name recorded before a rename
        if kind in WEB:
            fields.update(
                user=[None, *people][index % 5],
                code=[200, 404, 502, 101, 301, 503][index % 6],
                slug_or_port=SLUGS[index % len(SLUGS)],
            )
        elif index % 5 == 0:
            fields["connect_time"] = now - OPEN_AGES[(index // 5) % len(OPEN_AGES)]
        else:
            fields.update(
                disconnect_time=start + LENGTHS[index % len(LENGTHS)],
                code=[0, 1, 137, None][index % 4],
            )
        ConnectionLogFactory(**fields)
    root = UserFactory(username="root", site_roles=[roles.OWNER])
    client = APIClient()
    client.credentials(**auth_header(root))
    rows = list(ConnectionLog.objects.select_related("workspace_owner", "user"))
    return SimpleNamespace(now=now, rows=rows, client=client, people=people)


# --- the reference: one predicate per value, from docs/search.md ------------------------


@dataclass(frozen=True)
class Value:
    text: str
    keeps: Callable  # row -> bool


def length_of(row, now):
    if row.type not in AGENT:
        return None
    return (row.disconnect_time or now) - row.connect_time


def compare(op: str, left, right) -> bool:
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def value_strategies(world) -> dict[str, st.SearchStrategy[Value]]:
    now = world.now
    times = sorted(
        {row.connect_time for row in world.rows}
        | {row.disconnect_time for row in world.rows} - {None}
    )
    day_starts = sorted({dt.datetime.combine(t.date(), dt.time(), dt.UTC) for t in times})

    def time_value(text_and_instant, after: bool, active: bool) -> Value:
        text, instant = text_and_instant

        def keeps(row):
            if not after:
                return row.connect_time <= instant
            if not active:
                return row.connect_time >= instant
            open_session = row.type in AGENT and row.disconnect_time is None
            ended = row.disconnect_time is not None and row.disconnect_time >= instant
            return row.connect_time >= instant or ended or open_session

        return Value(text, keeps)

    def times_for(after: bool) -> st.SearchStrategy:
        exact = st.sampled_from(times).flatmap(
            lambda t: st.sampled_from(
                [dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(microseconds=-1)]
            ).map(  # fmt: skip
                lambda d: (f'"{rfc3339(t + d)}"', t + d)
            )
        )
        last = dt.timedelta(days=1, microseconds=-1)
        dates = st.sampled_from(day_starts).map(
            lambda d: (d.date().isoformat(), d if after else d + last)
        )
        relative = st.sampled_from(["-1h", "-6h", "-1d", "-3d", "-2w"]).map(
            lambda text: (text, now - {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1),
                                       "w": dt.timedelta(weeks=1)}[text[-1]] * int(text[1:-1]))
        )  # fmt: skip
        return st.one_of(exact, dates, relative)

    def code_value(web: bool) -> st.SearchStrategy[Value]:
        kinds = WEB if web else AGENT
        forms = [("404", "=", 404), ("0", "=", 0), ("137", "=", 137), (">=400", ">=", 400),
                 (">0", ">", 0), ("<300", "<", 300), ("<=101", "<=", 101)]  # fmt: skip
        plain = st.sampled_from(forms).map(
            lambda f: Value(f[0], lambda r, f=f: r.type in kinds and r.code is not None
                            and compare(f[1], r.code, f[2]) if f[1] != "=" else
                            r.type in kinds and r.code == f[2])
        )  # fmt: skip
        if not web:
            return plain
        classes = st.sampled_from(["1xx", "2xx", "4xx", "5xx"]).map(
            lambda c: Value(c, lambda r, c=c: r.type in WEB and r.code is not None
                            and r.code // 100 == int(c[0]))
        )  # fmt: skip
        return st.one_of(plain, classes)

    def word_value(word: str) -> Value:
        lowered = word.lower()

        def keeps(row):
            user = row.user.username if row.user else ""
            texts = [row.workspace_name, row.agent_name, row.slug_or_port, str(row.ip or ""),
                     row.workspace_owner.username, user]  # fmt: skip
            return any(lowered in text.lower() for text in texts)

        return Value(word, keeps)

    networks = ["10.0.0.0/8", "198.51.100.0/24", '"2001:db8::/32"', "0.0.0.0/0", "10.0.0.7",
                '"2001:db8::5"', "192.0.2.1"]  # fmt: skip
    durations = [(op, text) for op in ("<", "<=", ">", ">=") for text in ("1m", "1h", "9h", "1d")]
    units = {"m": dt.timedelta(minutes=1), "h": dt.timedelta(hours=1), "d": dt.timedelta(days=1)}
    return {
        "type": st.sampled_from(AGENT + WEB).map(lambda t: Value(t, lambda r, t=t: r.type == t)),
        "status": st.sampled_from(["ongoing", "completed", "stale"]).map(
            lambda s: Value(
                s,
                lambda r, s=s: (
                    r.type in AGENT
                    and (
                        r.disconnect_time is not None
                        if s == "completed"
                        else r.disconnect_time is None
                        and (s == "ongoing" or r.connect_time < now - STALE_AFTER)
                    )
                ),
            )
        ),  # fmt: skip
        "workspace_owner": st.sampled_from(["frank", "ALICE", "bob", "nobody"]).map(
            lambda n: Value(n, lambda r, n=n: r.workspace_owner.username.lower() == n.lower())
        ),
        "ip": st.sampled_from(networks).map(
            lambda n: Value(
                n,
                lambda r, n=n: (
                    r.ip is not None
                    and ipaddress.ip_address(r.ip)
                    in ipaddress.ip_network(n.strip('"'), strict=False)
                ),
            )
        ),  # fmt: skip
        "workspace": st.sampled_from(
            ["mobile-app", "frank/mobile-app", "BOB/old", "renamed", "dev", "nobody/dev"]
        ).map(  # fmt: skip
            lambda w: Value(
                w,
                lambda r, w=w: (
                    r.workspace_name.lower() == w.lower().split("/")[-1]
                    and (
                        "/" not in w
                        or r.workspace_owner.username.lower() == w.lower().split("/")[0]
                    )
                ),
            )
        ),  # fmt: skip
        "agent": st.sampled_from(["main", "gpu-box", "ÉDITEUR", "db", "gpu"]).map(
            lambda a: Value(a, lambda r, a=a: r.agent_name.lower() == a.lower())
        ),
        "status_code": code_value(web=True),
        "exit_code": code_value(web=False),
        "result": st.sampled_from(["ok", "failed"]).map(
            lambda v: Value(
                v,
                lambda r, v=v: (
                    r.code is not None
                    and (
                        (r.type in WEB and (r.code >= 400) == (v == "failed"))
                        or (r.type in AGENT and (r.code != 0) == (v == "failed"))
                    )
                ),
            )
        ),  # fmt: skip
        "duration": st.sampled_from(durations).map(
            lambda d: Value(
                d[0] + d[1],
                lambda r, d=d: (
                    length_of(r, now) is not None
                    and compare(d[0], length_of(r, now), int(d[1][:-1]) * units[d[1][-1]])
                ),
            )
        ),  # fmt: skip
        "connected_after": times_for(True).map(lambda v: time_value(v, True, False)),
        "connected_before": times_for(False).map(lambda v: time_value(v, False, False)),
        "active_after": times_for(True).map(lambda v: time_value(v, True, True)),
        "active_before": times_for(False).map(lambda v: time_value(v, False, True)),
        "search": st.sampled_from(
            [
                "mobile",
                "GPU",
                "édit",
                "grafana",
                "198.51",
                "db8",
                "ali",
                "frank",
                "a_b",
                "100%",
                "_",
                "old",
                "zzz",
            ]
        ).map(word_value),  # fmt: skip
    }


LISTABLE = {"type", "status", "workspace_owner", "ip", "workspace", "agent", "status_code",
            "exit_code", "result", "duration", "search"}  # fmt: skip


@st.composite
def queries(draw, strategies):
    keys = draw(st.lists(st.sampled_from(sorted(strategies)), min_size=1, max_size=3))
    terms, texts = [], []
    seen = set()
    for key in keys:
        negated = draw(st.booleans())
        name = ("-" if negated else "") + key
        if name in seen:
            continue
        seen.add(name)
        size = draw(st.integers(1, 3)) if key in LISTABLE else 1
        values = [draw(strategies[key]) for _ in range(size)]
        # A list with a quoted item is quoted as a whole: ip:"10.0.0.0/8,2001:db8::/32".
        joined = ",".join(v.text.strip('"') for v in values)
        quote = any(v.text.startswith('"') for v in values)
        texts.append(f'{name}:"{joined}"' if quote else f"{name}:{joined}")
        terms.append((negated, values))
    return " ".join(texts), terms


def expected(world, terms) -> set[str]:
    return {
        str(row.id)
        for row in world.rows
        if all(any(v.keeps(row) for v in values) != negated for negated, values in terms)
    }


def test_generated_queries_return_the_rows_the_reference_predicts(world):
    strategies = value_strategies(world)

    @fuzz_settings(scale=6)
    @given(query=queries(strategies))
    def check(query):
        q, terms = query
        response = world.client.get(API, {"q": q, "limit": 1000})
        assert response.status_code == 200, (q, response.json())
        got = {entry["id"] for entry in response.json()["connection_logs"]}
        assert got == expected(world, terms), q

    check()
