"""The audit log: one JSON line per recorded event on "connlogs.events.audit", after commit,
only when CONNLOGS_EVENT_LOG is on."""

import io
import json
import logging

import pytest
from django.db import transaction

from connlogs.ingest import EventValidationError, record_events
from tests.factories import WorkspaceFactory

CID = "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908"


@pytest.fixture
def ws(db):
    return WorkspaceFactory(name="dev")


@pytest.fixture
def server_log():
    """What the configured "audit" handler (settings.LOGGING) writes, as text."""
    handler = next(
        h for h in logging.getLogger("connlogs.events.audit").handlers if h.name == "audit"
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def batch(ws):
    return [
        {
            "action": "connect",
            "time": "2025-07-10T10:00:00Z",
            "type": "ssh",
            "workspace_id": str(ws.id),
            "agent_name": "main",
            "connection_id": CID,
            "ip": "10.1.2.3",
        },
        {
            "action": "disconnect",
            "time": "2025-07-10T10:05:00.5Z",
            "type": "ssh",
            "workspace_id": str(ws.id),
            "agent_name": "main",
            "connection_id": CID,
            "reason": "client disconnected",
            "exit_code": 0,
        },
        {
            "action": "connect",
            "time": "2025-07-10T10:06:00Z",
            "type": "workspace_app",
            "workspace_id": str(ws.id),
            "agent_name": "main",
            "user_agent": "curl/8",
            "slug_or_port": "code-server",
            "status_code": 404,
        },
    ]


def test_one_json_line_per_event_after_commit(
    settings, ws, server_log, django_capture_on_commit_callbacks
):
    settings.CONNLOGS_EVENT_LOG = True
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record_events(batch(ws))
    assert server_log.getvalue() == ""  # nothing before the commit
    for callback in callbacks:
        callback()
    lines = server_log.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first == {
        "event": "connection_event",
        "action": "connect",
        "time": "2025-07-10T10:00:00Z",
        "type": "ssh",
        "organization_id": str(ws.organization_id),
        "workspace_owner_id": str(ws.owner_id),
        "workspace_id": str(ws.id),
        "workspace_name": "dev",
        "agent_name": "main",
        "ip": "10.1.2.3",
        "connection_id": CID,
    }
    assert (second["action"], second["reason"], second["exit_code"]) == (
        "disconnect",
        "client disconnected",
        0,
    )
    assert second["time"] == "2025-07-10T10:05:00.5Z"
    assert (third["type"], third["status_code"], third["user_agent"]) == (
        "workspace_app",
        404,
        "curl/8",
    )
    assert "connection_id" not in third and "user_id" not in third


def test_off_by_default_and_then_nothing_is_queued(
    ws, server_log, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        record_events(batch(ws))
    assert callbacks == [] and server_log.getvalue() == ""


def test_a_rolled_back_batch_logs_nothing(
    settings, ws, server_log, django_capture_on_commit_callbacks
):
    settings.CONNLOGS_EVENT_LOG = True
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            record_events(batch(ws))
            raise RuntimeError("the caller's transaction fails")
    assert server_log.getvalue() == ""


def test_a_refused_batch_logs_nothing(settings, ws, server_log, django_capture_on_commit_callbacks):
    settings.CONNLOGS_EVENT_LOG = True
    bad = batch(ws) + [{"action": "connect"}]
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(EventValidationError):
            record_events(bad)
    assert server_log.getvalue() == ""


def test_events_posted_to_the_api_are_logged(
    settings, ws, owner_api, server_log, django_capture_on_commit_callbacks
):
    settings.CONNLOGS_EVENT_LOG = True
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post(
            "/api/v2/connectionlog/events", {"events": batch(ws)}, format="json"
        )
    assert response.status_code == 200, response.content
    actions = [json.loads(line)["action"] for line in server_log.getvalue().splitlines()]
    assert actions == ["connect", "disconnect", "connect"]


# Every character Python's str.splitlines() splits on; JSON escapes those below U+0020 itself.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def test_one_record_is_one_line_whatever_line_breaks_its_text_holds(
    settings, ws, server_log, django_capture_on_commit_callbacks
):
    settings.CONNLOGS_EVENT_LOG = True
    events = batch(ws)
    events[1]["reason"] = f"killed{LINE_BREAKS}by the OOM killer"
    events[2]["user_agent"] = "\u2028".join(["curl/8", "x"])
    with django_capture_on_commit_callbacks(execute=True):
        record_events(events)
    lines = server_log.getvalue().splitlines()  # splits on every Unicode line boundary
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert records[1]["reason"] == events[1]["reason"]
    assert records[2]["user_agent"] == "curl/8\u2028x"


def test_a_truncated_field_is_named_in_its_record(
    settings, ws, server_log, django_capture_on_commit_callbacks
):
    settings.CONNLOGS_EVENT_LOG = True
    events = batch(ws)
    events[2]["user_agent"] = "x" * 5000
    with django_capture_on_commit_callbacks(execute=True):
        record_events(events)
    records = [json.loads(line) for line in server_log.getvalue().splitlines()]
    assert records[2]["truncated"] == ["user_agent"] and len(records[2]["user_agent"]) == 4096
    assert "truncated" not in records[0]
