"""``GET /metrics``: Prometheus metrics, for a scraper that proves who it is (docs/deployment.md).

What it exposes:

* per view and method: request counts and latency histograms, responses by status
  (django-prometheus' middleware, ``django_http_*``);
* ingest: ``connlogs_ingest_events_total{outcome}`` (events of batches recorded; a replayed
  or rejected batch's events count under their outcome) and
  ``connlogs_ingest_batch_seconds{outcome}`` (the whole request, parse to answer);
* ``connlogs_export_streams_in_progress``: downloads being streamed now;
* read at each scrape: ``connlogs_db_connections{alias,state}`` (server connections of this
  database, from ``pg_stat_activity``: behind PgBouncer, the pool's server side),
  ``connlogs_replica_up``, ``connlogs_replica_lag_seconds``, ``connlogs_replica_lag_bytes``,
  ``connlogs_replica_reads`` (1 while connection-log reads go to the replica).

Under gunicorn with several workers set ``PROMETHEUS_MULTIPROC_DIR`` (an empty folder per
server, see deploy/gunicorn.conf.py): counters and histograms are then summed over the
workers; without it each scrape sees the one worker that answered.

Who may read it: a request with ``Authorization: Bearer <CONNLOGS_METRICS_TOKEN>``, or one
from ``CONNLOGS_METRICS_NETWORKS``; 401/403 otherwise, 404 when neither is configured.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterator

import prometheus_client
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

from connlogs import replication

INGEST_EVENTS = prometheus_client.Counter(
    "connlogs_ingest_events", "Connection events received, by outcome of their batch", ["outcome"]
)
INGEST_BATCH_SECONDS = prometheus_client.Histogram(
    "connlogs_ingest_batch_seconds",
    "Seconds to answer an event batch, by outcome",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EXPORT_STREAMS = prometheus_client.Gauge(
    "connlogs_export_streams_in_progress",
    "Export downloads being streamed",
    multiprocess_mode="livesum",
)
# A background worker (change feed, outbound deliveries) adds its backlog gauge here.


def observe_ingest(post: Callable) -> Callable:
    """Decorates the events view's ``post(self, request)``: counts the batch's events and
    times the answer, labelled ``recorded``, ``replayed`` (an Idempotency-Key repeat) or
    ``rejected`` (an error answer or exception)."""

    @functools.wraps(post)
    def observed(self, request, *args, **kwargs):
        started = time.perf_counter()
        outcome = "rejected"
        try:
            response = post(self, request, *args, **kwargs)
            if response.status_code == 200:
                replayed = response.get("Idempotent-Replayed") == "true"
                outcome = "replayed" if replayed else "recorded"
            return response
        finally:
            INGEST_BATCH_SECONDS.labels(outcome).observe(time.perf_counter() - started)
            batch = request.data.get("events") if isinstance(request.data, dict) else None
            if isinstance(batch, list):
                INGEST_EVENTS.labels(outcome).inc(len(batch))

    return observed


def counted_stream(body: Iterator[bytes]) -> Iterator[bytes]:
    """``body``, counted in ``connlogs_export_streams_in_progress`` while it is read."""
    EXPORT_STREAMS.inc()
    try:
        yield from body
    finally:
        EXPORT_STREAMS.dec()


class ScrapeTimeCollector:
    """Values read when scraped: database connections and the replica's lag."""

    def collect(self):
        connections_in_use = GaugeMetricFamily(
            "connlogs_db_connections",
            "Server connections to this database, by state (pg_stat_activity)",
            labels=["alias", "state"],
        )
        for alias in connections:
            if connections[alias].vendor != "postgresql":
                continue
            for state, count in _connection_states(alias):
                connections_in_use.add_metric([alias, state or "unknown"], count)
        yield connections_in_use
        if not replication.monitor.measuring():
            return
        state = replication.monitor.state()
        for name, text, value in (
            ("connlogs_replica_up", "1 if the read replica answers", state.available),
            ("connlogs_replica_lag_seconds", "Replica replay lag in seconds", state.lag_seconds),
            ("connlogs_replica_lag_bytes", "WAL bytes not yet replayed", state.lag_bytes),
            ("connlogs_replica_reads", "1 while log reads go to the replica", state.usable),
        ):
            yield GaugeMetricFamily(name, text, value=float(value))


def _connection_states(alias: str) -> list[tuple[str, int]]:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT state, count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_type = 'client backend' "
                "GROUP BY state"
            )
            return cursor.fetchall()
    except DatabaseError:
        return []


_scrape_time = prometheus_client.CollectorRegistry()
_scrape_time.register(ScrapeTimeCollector())


def _allowed(request: HttpRequest) -> int:
    """0 if the request may read the metrics, else the status to refuse it with."""
    token, networks = settings.CONNLOGS_METRICS_TOKEN, settings.CONNLOGS_METRICS_NETWORKS
    if not token and not networks:
        return 404
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
        return 0
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            address = None
        if address and any(address in ipaddress.ip_network(net, strict=False) for net in networks):
            return 0
    return 401 if token else 403


def _registry() -> prometheus_client.CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format, or an empty 401/403/404."""
    refused = _allowed(request)
    if refused:
        response = HttpResponse(status=refused)
        if refused == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = prometheus_client.generate_latest(_registry())
    body += prometheus_client.generate_latest(_scrape_time)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
