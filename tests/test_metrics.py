"""GET /metrics: refused without the token or an allowed network, Prometheus text with it;
the ingest, export and replica metrics move with what the server does."""

import re

import pytest
from django.test import Client

from tests.exports import ndjson_entries
from tests.factories import ConnectionLogFactory, UserFactory, WorkspaceFactory

TOKEN = "scrape-secret-1"


def scrape(client: Client | None = None, **headers) -> str:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def value(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def token(settings):
    settings.CONNLOGS_METRICS_TOKEN = TOKEN
    settings.CONNLOGS_METRICS_NETWORKS = []
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.mark.django_db
def test_metrics_are_off_until_a_token_or_a_network_is_configured(settings):
    settings.CONNLOGS_METRICS_TOKEN, settings.CONNLOGS_METRICS_NETWORKS = "", []
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.django_db
def test_the_token_is_required(token):
    refused = Client().get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert b"connlogs" not in refused.content
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "django_http_requests_latency_seconds_by_view_method" in scrape(**token)


@pytest.mark.django_db
def test_an_allowed_network_needs_no_token(settings):
    settings.CONNLOGS_METRICS_TOKEN = ""
    settings.CONNLOGS_METRICS_NETWORKS = ["10.0.0.0/8"]
    assert Client().get("/metrics", REMOTE_ADDR="192.0.2.9").status_code == 403
    scrape(REMOTE_ADDR="10.1.2.3")


@pytest.mark.django_db
def test_ingest_counts_events_and_times_batches(token, client_for):
    reporter = client_for(UserFactory(site_roles=["connection-reporter"]))
    workspace = WorkspaceFactory()
    before = scrape(**token)
    events = [
        {"action": "connect", "time": "2025-07-10T10:00:00Z", "type": "ssh",
         "workspace_id": str(workspace.id), "agent_name": "main", "connection_id": cid}
        for cid in ("7a6fafdc-e3d0-43cb-a1b7-1f19802d7908", "0b9c4f6e-2d4e-4a8e-9a51-3f1c1f0c9d11")
    ]  # fmt: skip
    good = reporter.post("/api/v2/connectionlog/events", {"events": events}, format="json")
    assert good.status_code == 200
    bad = reporter.post("/api/v2/connectionlog/events", {"events": [{}]}, format="json")
    assert bad.status_code == 400
    after = scrape(**token)
    recorded = 'connlogs_ingest_events_total{outcome="recorded"}'
    assert value(after, recorded) - value(before, recorded) == 2
    rejected = 'connlogs_ingest_events_total{outcome="rejected"}'
    assert value(after, rejected) - value(before, rejected) == 1
    batches = 'connlogs_ingest_batch_seconds_count{outcome="recorded"}'
    assert value(after, batches) - value(before, batches) == 1


@pytest.mark.django_db
def test_export_streams_in_progress(token, client_for):
    ConnectionLogFactory.create_batch(3)
    auditor = client_for(UserFactory(site_roles=["auditor"]))
    gauge = "connlogs_export_streams_in_progress"
    idle = value(scrape(**token), gauge)
    response = auditor.get("/api/v2/connectionlog/export?format=ndjson")
    pieces = iter(response.streaming_content)
    first = next(pieces)
    assert value(scrape(**token), gauge) == idle + 1  # being sent, not finished
    assert len(ndjson_entries(b"".join([first, *pieces]))) == 3
    response.close()
    assert value(scrape(**token), gauge) == idle


@pytest.mark.django_db
def test_healthz_without_a_replica_says_ok_and_the_workers_heartbeat():
    assert Client().get("/healthz").json() == {
        "status": "ok",
        "workers": {"last_heartbeat": None, "seconds_since": None, "alive": 0},
    }
