"""The demo data command and the one-command start."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from connlogs import demo, roles
from connlogs.models import AGENT_TYPES, WEB_TYPES, ConnectionLog, ConnectionType, Membership, User

pytestmark = pytest.mark.django_db

ROW_FIELDS = (
    "connect_time",
    "organization_id",
    "workspace_owner_id",
    "workspace_id",
    "workspace_name",
    "agent_name",
    "ip",
    "type",
    "code",
    "user_agent",
    "user_id",
    "slug_or_port",
    "connection_id",
    "disconnect_time",
    "disconnect_reason",
)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def assert_rows_follow_the_merging_rules() -> None:
    for row in ConnectionLog.objects.all():
        if row.type in WEB_TYPES:
            assert row.connection_id is None and row.disconnect_time is None
            assert row.disconnect_reason == "" and 100 <= row.code <= 599
        else:
            assert row.connection_id is not None
            assert row.user_id is None and row.user_agent == "" and row.slug_or_port == ""
            if row.disconnect_time is None:
                assert row.code is None and row.disconnect_reason == ""
            else:
                assert row.disconnect_time >= row.connect_time
        workspace = row.workspace
        assert (row.organization_id, row.workspace_owner_id, row.workspace_name) == (
            workspace.organization_id,
            workspace.owner_id,
            workspace.name,
        )


@pytest.fixture
def default_demo():
    return run("demo", "--seed", "7")


def test_demo_creates_users_with_every_role(default_demo):
    site_roles = {role for user in User.objects.all() for role in user.site_roles}
    assert site_roles == {roles.OWNER, roles.AUDITOR, roles.CONNECTION_REPORTER}
    admins = {
        m.organization.name for m in Membership.objects.all() if roles.ORGANIZATION_ADMIN in m.roles
    }
    auditors = {
        m.organization.name
        for m in Membership.objects.all()
        if roles.ORGANIZATION_AUDITOR in m.roles
    }
    assert len(admins) >= 2 and len(auditors) >= 2 and admins != auditors
    assert Membership.objects.filter(roles=[]).count() >= 3  # plain members
    owner = User.objects.get(username=demo.DEMO_OWNER)
    assert owner.email == demo.DEMO_OWNER_EMAIL
    assert roles.is_owner(owner) and owner.check_password(demo.DEMO_PASSWORD)
    assert demo.DEMO_OWNER in default_demo and demo.DEMO_PASSWORD in default_demo


def test_demo_has_every_kind_of_row(default_demo):
    rows = ConnectionLog.objects.all()
    assert rows.count() == demo.DEFAULT_ROWS
    assert set(rows.values_list("type", flat=True)) == set(ConnectionType.values)
    ongoing = rows.filter(type__in=AGENT_TYPES, disconnect_time__isnull=True)
    assert ongoing.exists()
    assert rows.filter(type__in=AGENT_TYPES, disconnect_time__isnull=False).exists()
    assert rows.filter(type__in=WEB_TYPES, code__gte=400, code__lt=500).exists()
    assert rows.filter(type__in=WEB_TYPES, code__gte=500).exists()
    assert rows.filter(type__in=WEB_TYPES, user__isnull=True).exists()  # not signed in
    # Tunnels as the read contract has them: accepted (101) or denied (403), both shown.
    tunnels = set(rows.filter(type="tunnel").values_list("code", flat=True))
    assert tunnels == {101, 403}
    addresses = [
        ipaddress.ip_address(ip) for ip in rows.exclude(ip=None).values_list("ip", flat=True)
    ]
    assert {address.version for address in addresses} == {4, 6}
    assert rows.filter(ip=None).exists()
    assert rows.filter(user_agent=demo.HOSTILE_USER_AGENT).exists()
    assert rows.exclude(disconnect_reason="").exists()
    assert rows.filter(type="ssh", code=0).exists() and rows.filter(type="ssh", code=255).exists()
    assert rows.filter(workspace__deleted=True).exists()
    oldest = rows.order_by("connect_time").first().connect_time
    assert oldest >= timezone.now() - dt.timedelta(days=demo.DEFAULT_DAYS, minutes=1)
    assert_rows_follow_the_merging_rules()


def test_running_twice_keeps_one_of_everything(default_demo):
    users, orgs, logs = (
        User.objects.count(),
        Membership.objects.count(),
        ConnectionLog.objects.count(),
    )
    output = run("demo", "--seed", "7")
    assert User.objects.filter(username=demo.DEMO_OWNER).count() == 1
    assert (User.objects.count(), Membership.objects.count()) == (users, orgs)
    assert ConnectionLog.objects.count() == logs  # without --rows, nothing is added twice
    assert "none added" in output


def test_running_again_never_rewrites_an_existing_account(default_demo):
    owner = User.objects.get(username=demo.DEMO_OWNER)
    owner.set_password("changed-by-the-owner")
    owner.save()
    run("demo", "--rows", "5")
    owner.refresh_from_db()
    assert owner.check_password("changed-by-the-owner")


def test_rows_adds_exactly_n_through_record_events():
    output = run("demo", "--rows", "37", "--seed", "3")
    assert ConnectionLog.objects.count() == 37
    assert "via record_events" in output
    run("demo", "--rows", "20")  # a second load adds, never collides
    assert ConnectionLog.objects.count() == 57
    assert_rows_follow_the_merging_rules()


def test_rows_adds_exactly_n_through_the_fast_path():
    output = run("demo", "--rows", "41", "--fast-over", "0")
    assert ConnectionLog.objects.count() == 41
    expected = "COPY" if connection.vendor == "postgresql" else "bulk_create"
    assert f"via {expected}" in output
    run("demo", "--rows", "30", "--fast-over", "0")
    assert ConnectionLog.objects.count() == 71
    assert_rows_follow_the_merging_rules()


def test_fast_path_stores_what_merging_the_events_stores():
    """The bulk loader is only allowed because it writes the rows record_events would."""
    cast = demo.ensure_cast()
    now = timezone.now()
    generator = demo.RowGenerator(cast, seed=11, now=now)
    rows = list(generator.rows(400))

    def stored() -> list[tuple]:
        return sorted(
            ConnectionLog.objects.values_list(*ROW_FIELDS),
            key=lambda values: (values[0], str(values[12]), values[8], str(values[6])),
        )

    demo.write_through_events(rows, demo.LoadReport())
    merged = stored()
    ConnectionLog.objects.all().delete()
    report = demo.LoadReport()
    demo.write_bulk(rows, report)
    assert report.method in ("COPY", "bulk_create")
    assert len(merged) == 400
    assert stored() == merged


def test_hostile_text_survives_copy_unchanged():
    # COPY's text format gives tabs, newlines and backslashes meanings: they must be escaped.
    cast = demo.ensure_cast()
    generator = demo.RowGenerator(cast, seed=1, now=timezone.now())
    odd = "tab\there\nnew line \\N back\\slash \r<script>alert(1)</script>"
    row = generator.showcase()[7]._replace(user_agent=odd, slug_or_port="a\tb")
    demo.write_bulk([row], demo.LoadReport())
    stored = ConnectionLog.objects.get()
    assert stored.user_agent == odd and stored.slug_or_port == "a\tb"


def test_demo_rejects_negative_rows():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        run("demo", "--rows", "-1")


# --- serve -----------------------------------------------------------------------------------


@pytest.fixture
def runserver_calls(monkeypatch):
    """Record ``runserver`` instead of starting a server; run every other command."""
    from connlogs.management.commands import serve

    calls = []

    def fake_call_command(name, *args, **kwargs):
        if name == "runserver":
            calls.append((args, kwargs))
            return None
        return call_command(name, *args, **kwargs)

    class FakeWorker:
        def __init__(self, stdout):
            calls.append("worker started")

        def stop(self):
            calls.append("worker stopped")

    monkeypatch.setattr(serve, "call_command", fake_call_command)
    monkeypatch.setattr(serve, "BackgroundWorker", FakeWorker)
    return calls


def test_serve_loads_the_demo_into_an_empty_database_and_starts(runserver_calls):
    output = run("serve")
    assert ConnectionLog.objects.count() == demo.DEFAULT_ROWS
    assert runserver_calls == [
        "worker started",
        (("127.0.0.1:8000",), {"use_reloader": False}),
        "worker stopped",
    ]
    assert "http://127.0.0.1:8000/" in output
    assert f"{demo.DEMO_OWNER} / {demo.DEMO_PASSWORD}" in output


def test_serve_keeps_existing_data_and_takes_an_address(runserver_calls):
    run("demo", "--rows", "5")
    output = run("serve", "0.0.0.0:9000")
    assert ConnectionLog.objects.count() == 5
    assert (("0.0.0.0:9000",), {"use_reloader": False}) in runserver_calls
    assert "http://127.0.0.1:9000/" in output


def test_serve_without_a_worker_starts_none(runserver_calls):
    run("serve", "--no-worker", "--no-demo")
    assert runserver_calls == [(("127.0.0.1:8000",), {"use_reloader": False})]


def test_serve_without_demo_leaves_the_database_empty(runserver_calls):
    output = run("serve", "--no-demo")
    assert ConnectionLog.objects.count() == 0
    assert runserver_calls and demo.DEMO_PASSWORD not in output
