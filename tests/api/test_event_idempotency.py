"""Idempotency-Key on POST /api/v2/connectionlog/events: a retried batch is applied once."""

import threading

import pytest
from django.db import connections

from connlogs.models import ConnectionLog
from tests.conftest import as_user, requires_postgres
from tests.factories import UserFactory, WorkspaceFactory

URL = "/api/v2/connectionlog/events"


def web_batch(workspace, n=3):
    return {
        "events": [
            {
                "action": "connect",
                "time": f"2025-07-10T10:00:0{i}Z",
                "type": "workspace_app",
                "workspace_id": str(workspace.id),
                "agent_name": "main",
                "slug_or_port": "code-server",
            }
            for i in range(n)
        ]
    }


@pytest.fixture
def reporter(db):
    return as_user(UserFactory(site_roles=["connection-reporter"]))


@pytest.fixture
def workspace(db):
    return WorkspaceFactory()


def post(client, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, body, format="json", **headers)


def test_a_retried_batch_of_web_events_is_written_once(reporter, workspace):
    first = post(reporter, web_batch(workspace), key="batch-0001")
    retry = post(reporter, web_batch(workspace), key="batch-0001")
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json() == {"created": 3, "updated": 0, "unchanged": 0}
    assert retry["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert ConnectionLog.objects.count() == 3


def test_without_a_key_web_events_are_never_merged(reporter, workspace):
    post(reporter, web_batch(workspace))
    post(reporter, web_batch(workspace))
    assert ConnectionLog.objects.count() == 6


def test_a_key_reused_for_another_batch_is_a_409(reporter, workspace):
    post(reporter, web_batch(workspace, 3), key="k")
    response = post(reporter, web_batch(workspace, 2), key="k")
    assert response.status_code == 409
    assert response.json()["validations"][0]["field"] == "Idempotency-Key"
    assert ConnectionLog.objects.count() == 3


def test_a_rejected_batch_does_not_use_up_its_key(reporter, workspace):
    bad = web_batch(workspace)
    bad["events"][1]["status_code"] = 99
    assert post(reporter, bad, key="k").status_code == 400
    assert post(reporter, web_batch(workspace), key="k").json()["created"] == 3


def test_keys_belong_to_their_reporter(reporter, workspace):
    other = as_user(UserFactory(site_roles=["owner"]))
    post(reporter, web_batch(workspace), key="k")
    assert "Idempotent-Replayed" not in post(other, web_batch(workspace), key="k")
    assert ConnectionLog.objects.count() == 6


@pytest.mark.parametrize("key", ["x" * 129, "caf\u00e9"])
def test_a_bad_key_is_a_400(reporter, workspace, key):
    response = post(reporter, web_batch(workspace), key=key)
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "Idempotency-Key"
    assert ConnectionLog.objects.count() == 0


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_racing_retries_with_one_key_write_once():
    workspace = WorkspaceFactory()
    user = UserFactory(site_roles=["connection-reporter"])
    answers, barrier = [], threading.Barrier(6)

    def send():
        try:
            barrier.wait()
            answers.append(post(as_user(user), web_batch(workspace), key="race").json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [{"created": 3, "updated": 0, "unchanged": 0}] * 6
    assert ConnectionLog.objects.count() == 3
