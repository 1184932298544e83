"""Rows for the search language's own keys: one of every shape an incident search meets.

Times are relative to the start of the day five days ago (``day``), so relative times
(``-1h``), ``duration`` of open sessions and ``status:stale`` hold whenever the suite runs.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from tests.factories import ConnectionLogFactory, OrganizationFactory, UserFactory, WorkspaceFactory

API = "/api/v2/connectionlog"


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def incident(db):
    now = timezone.now()
    day = dt.datetime.combine((now - dt.timedelta(days=5)).date(), dt.time(), tzinfo=dt.UTC)

    def at(hours: float, days: int = 0) -> dt.datetime:
        return day + dt.timedelta(days=days, hours=hours)

    acme = OrganizationFactory(name="acme")
    globex = OrganizationFactory(name="globex")
    frank = UserFactory(username="frank", email="frank@acme.test")
    alice = UserFactory(username="Alice", email="alice@acme.test")
    bob = UserFactory(username="bob", email="bob@globex.test")
    carol = UserFactory(username="carol", email="carol@acme.test")
    mobile = WorkspaceFactory(organization=acme, owner=frank, name="mobile-app")
    dev = WorkspaceFactory(organization=acme, owner=alice, name="dev")
    bobs_mobile = WorkspaceFactory(organization=globex, owner=bob, name="mobile-app")
    gone = WorkspaceFactory(organization=globex, owner=bob, name="scratch", deleted=True)
    renamed = WorkspaceFactory(organization=acme, owner=frank, name="web-new")

    def session(name, workspace, start, end=None, **fields):
        return name, ConnectionLogFactory(
            workspace=workspace, connect_time=start, disconnect_time=end, **fields
        )

    made = dict(
        [
            # The session of the issue: 08:30 to 10:00, exit code 0.
            session("ssh_0830", mobile, at(8.5), at(10), type="ssh", ip="10.1.2.3", code=0),
            session(
                "ssh_9h",
                dev,
                at(0, -4),
                at(9, -4),
                type="ssh",
                ip="2001:db8::5",
                code=137,
                agent_name="GPU-Box",
            ),
            session(
                "vscode_30s",
                mobile,
                at(12),
                at(12) + dt.timedelta(seconds=30),
                type="vscode",
                ip="198.51.100.7",
                code=1,
            ),
            session(
                "ssh_45m",
                bobs_mobile,
                at(10, -2),
                at(10.75, -2),
                type="ssh",
                ip="10.9.9.9",
                code=0,
                agent_name="Éditeur",
            ),
            session("ssh_open", dev, now - dt.timedelta(minutes=10), type="ssh", ip=None),
            session(
                "ssh_stale", gone, now - dt.timedelta(days=30), type="ssh", ip="198.51.100.200"
            ),
            session(
                "jetbrains_no_code",
                dev,
                at(1, -1),
                at(2, -1),
                type="jetbrains",
                ip="10.1.2.4",
                code=None,
            ),
            session(
                "app_404",
                mobile,
                at(9.5),
                type="workspace_app",
                code=404,
                user=carol,
                slug_or_port="code-server",
                ip="198.51.100.9",
            ),
            session(
                "app_200",
                dev,
                at(20),
                type="workspace_app",
                code=200,
                user=None,
                slug_or_port="grafana",
                ip="203.0.113.5",
            ),
            session(
                "pf_502",
                bobs_mobile,
                at(10, -1),
                type="port_forwarding",
                code=502,
                user=bob,
                slug_or_port="8080",
                ip="2001:db8:1::9",
            ),
            session(
                "tunnel_101",
                renamed,
                at(0, 1),
                type="tunnel",
                code=101,
                user=frank,
                ip="203.0.113.77",
                workspace_name="web-old",
            ),
        ]
    )
    return SimpleNamespace(
        rows=made,
        now=now,
        day=day,
        at=at,
        users={"frank": frank, "alice": alice, "bob": bob, "carol": carol},
        workspaces={"mobile": mobile, "dev": dev, "gone": gone},
        organizations={"acme": acme, "globex": globex},
    )


ALL = frozenset(
    {
        "ssh_0830",
        "ssh_9h",
        "vscode_30s",
        "ssh_45m",
        "ssh_open",
        "ssh_stale",
        "jetbrains_no_code",
        "app_404",
        "app_200",
        "pf_502",
        "tunnel_101",
    }
)


def found(world, client, q: str) -> set[str]:
    """The names of the rows ``q`` returns (the page and the count agree)."""
    response = client.get(API, {"q": q, "limit": 1000})
    assert response.status_code == 200, (q, response.json())
    by_id = {str(row.id): name for name, row in world.rows.items()}
    body = response.json()
    names = {by_id[entry["id"]] for entry in body["connection_logs"]}
    assert body["count"] == len(names), q
    return names


def validations(client, q: str) -> list[dict]:
    response = client.get(API, {"q": q})
    assert response.status_code == 400, (q, response.content)
    assert response.json()["message"] == "Invalid connection search query."
    return response.json()["validations"]
