"""One delivery round, in process: what a receiver gets, in which order and shape, and what
a failure, a pause or a lost lease does to the cursor."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import ssl
import subprocess
import time
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from connlogs.feed.models import FeedEntry
from connlogs.feed.trimming import trim
from connlogs.models import ConnectionLog
from connlogs.streams import delivery
from connlogs.streams.destinations import SIGNATURE_HEADER
from connlogs.streams.models import Stream, StreamBatch, StreamKind
from tests.feed.conftest import connect, disconnect, record
from tests.streams.receivers import SyslogReceiver


def deliver(stream: Stream, worker: str = "w1") -> delivery.RoundResult:
    return delivery.deliver_round(stream.pk, worker)


def test_records_arrive_in_feed_order_with_seq_and_row_id(world, receiver, make_stream):
    cid = uuid.uuid4()
    record(connect(world.acme_ws, cid))
    record(connect(world.globex_ws))
    record(disconnect(world.acme_ws, cid))
    stream = make_stream(url=receiver.url)

    result = deliver(stream)

    got = receiver.records
    assert result.caught_up and result.records == 3
    assert [r["seq"] for r in got] == sorted(r["seq"] for r in got)
    assert [r["action"] for r in got] == ["created", "created", "updated"]
    ssh = ConnectionLog.objects.get(connection_id=cid)
    assert got[0]["connection_log"]["id"] == got[2]["connection_log"]["id"] == str(ssh.id)
    stream.refresh_from_db()
    assert stream.cursor == got[-1]["seq"] and stream.last_success_at is not None
    assert StreamBatch.objects.get(stream=stream).records == 3


def test_the_stream_receives_only_its_search_in_its_creators_scope(world, receiver, make_stream):
    record(connect(world.acme_ws), connect(world.globex_ws), connect(world.acme_ws, kind="vscode"))
    admin = world.acme_auditor
    stream = make_stream(url=receiver.url, q="type:ssh", created_by=admin)

    deliver(stream)

    logs = [r["connection_log"] for r in receiver.records]
    assert [(log["organization"]["name"], log["type"]) for log in logs] == [("acme", "ssh")]


def test_an_organization_stream_gets_only_that_organization(world, receiver, make_stream):
    record(connect(world.acme_ws), connect(world.globex_ws))
    stream = make_stream(url=receiver.url, organization=world.globex)

    deliver(stream)

    assert [r["connection_log"]["organization"]["name"] for r in receiver.records] == ["globex"]


def test_http_batches_are_signed_with_the_shared_secret(world, receiver, make_stream):
    record(connect(world.acme_ws))
    stream = make_stream(url=receiver.url, secret="s3cret", batch_size=1)

    deliver(stream)

    headers, body = receiver.bodies[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert headers["Content-Type"] == "application/x-ndjson"


def test_splunk_hec_gets_the_token_and_time_event_sourcetype(world, receiver, make_stream):
    record(connect(world.acme_ws), connect(world.acme_ws))
    stream = make_stream(kind=StreamKind.SPLUNK_HEC, url=receiver.url, secret="hec-token")

    deliver(stream)

    headers, _ = receiver.bodies[0]
    assert headers["Authorization"] == "Splunk hec-token"
    events = receiver.records
    assert len(events) == 2 and {"time", "event", "sourcetype"} == set(events[0])
    row = ConnectionLog.objects.get(pk=events[0]["event"]["connection_log"]["id"])
    assert events[0]["time"] == row.connect_time.timestamp()


@pytest.mark.parametrize("kind", [StreamKind.SYSLOG_TCP, StreamKind.SYSLOG_UDP])
def test_syslog_gets_one_rfc5424_message_per_record(world, make_stream, kind):
    record(connect(world.acme_ws), connect(world.acme_ws), connect(world.acme_ws))
    syslog = SyslogReceiver(udp=kind == StreamKind.SYSLOG_UDP)
    try:
        stream = make_stream(kind=kind, host="127.0.0.1", port=syslog.port)
        deliver(stream)
        deadline = time.monotonic() + 5
        while len(syslog.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        syslog.stop()
    assert len(syslog.messages) == 3
    header, _, payload = syslog.messages[0].partition(b" - connection - ")
    assert header.startswith(b"<110>1 ") and header.endswith(b" connlogs")
    assert json.loads(payload)["action"] == "created"


def test_a_refused_batch_keeps_the_cursor_and_backs_off(world, receiver, make_stream):
    record(connect(world.acme_ws))
    stream = make_stream(url=receiver.url)
    receiver.refuse = True

    result = deliver(stream)

    stream.refresh_from_db()
    assert result.error.startswith("HTTP 503") and stream.cursor == 0
    assert stream.failures == 1 and stream.last_error.startswith("HTTP 503")
    assert stream.next_attempt_at > timezone.now() and stream.lease_owner == ""
    receiver.refuse = False
    deliver(stream)
    stream.refresh_from_db()
    assert len(receiver.records) == 1 and stream.failures == 0


def test_a_batch_read_ahead_goes_out_only_after_the_one_before_was_taken(
    world, receiver, make_stream, monkeypatch
):
    record(*[connect(world.acme_ws) for _ in range(3)])
    seqs = sorted(FeedEntry.objects.values_list("seq", flat=True))
    stream = make_stream(url=receiver.url, batch_size=1)
    sent = delivery.send

    def send_then_refuse(*args):
        sent(*args)  # the first batch is taken; from the second on the receiver refuses
        receiver.refuse = True

    monkeypatch.setattr(delivery, "send", send_then_refuse)
    result = deliver(stream)

    stream.refresh_from_db()
    assert result.error.startswith("HTTP 503") and stream.cursor == seqs[0]
    assert [r["seq"] for r in receiver.records] == seqs[:1]  # the third never went out
    receiver.refuse = False
    monkeypatch.setattr(delivery, "send", sent)
    deliver(stream)
    assert [r["seq"] for r in receiver.records] == seqs  # in feed order, none twice


def test_an_unreachable_receiver_is_an_error_not_a_crash(world, make_stream):
    record(connect(world.acme_ws))
    stream = make_stream(url="http://127.0.0.1:9/nothing")

    result = deliver(stream)

    assert result.error and Stream.objects.get(pk=stream.pk).cursor == 0


def test_backoff_grows_exponentially_with_jitter_and_stops_growing():
    for failures in range(1, 15):
        cap = min(delivery.BACKOFF_MAX_SECONDS, 2 ** (failures - 1))
        waits = {delivery.backoff_seconds(failures) for _ in range(20)}
        assert all(cap / 2 <= wait <= cap for wait in waits)
        assert len(waits) > 1


def test_one_worker_at_a_time_and_an_expired_lease_is_taken_over(world, make_stream):
    stream = make_stream(url="http://127.0.0.1:9/")
    assert delivery.claim(stream.pk, "w1")
    assert not delivery.claim(stream.pk, "w2")
    Stream.objects.filter(pk=stream.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert delivery.claim(stream.pk, "w2")
    # The first worker, back from a stall, can no longer move the cursor.
    stale = Stream.objects.get(pk=stream.pk)
    assert not delivery._advance(stale, "w1", 10, 1)
    assert Stream.objects.get(pk=stream.pk).cursor == 0


def test_a_paused_stream_is_not_delivered(world, receiver, make_stream):
    record(connect(world.acme_ws))
    stream = make_stream(url=receiver.url, paused=True)

    assert not deliver(stream).claimed
    assert receiver.records == []


def test_entries_trimmed_before_delivery_are_reported_and_skipped(world, receiver, make_stream):
    record(connect(world.acme_ws), connect(world.acme_ws))
    first = min(FeedEntry.objects.values_list("seq", flat=True))
    stream = make_stream(url=receiver.url, cursor=first)  # the first one was delivered
    trim(timezone.now() + dt.timedelta(seconds=1))  # retention removes both entries
    record(connect(world.acme_ws))

    deliver(stream)

    stream.refresh_from_db()
    assert "retention removed feed entries" in stream.last_error
    newest = max(FeedEntry.objects.values_list("seq", flat=True))
    assert [r["seq"] for r in receiver.records] == [newest]


@pytest.fixture
def tls_server(tmp_path):
    """A self-signed certificate for 127.0.0.1 (openssl): the server's context and the PEM."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert.read_text()


def test_syslog_over_tls_checks_the_certificate(world, make_stream, tls_server):
    context, pem = tls_server
    record(connect(world.acme_ws), connect(world.acme_ws))
    syslog = SyslogReceiver(tls=context)
    try:
        untrusted = make_stream(kind=StreamKind.SYSLOG_TLS, host="127.0.0.1", port=syslog.port)
        refused = deliver(untrusted)
        trusted = make_stream(
            kind=StreamKind.SYSLOG_TLS, host="127.0.0.1", port=syslog.port, tls_ca=pem
        )
        deliver(trusted)
        deadline = time.monotonic() + 5
        while len(syslog.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        syslog.stop()
    assert "CERTIFICATE_VERIFY_FAILED" in refused.error
    assert len(syslog.messages) == 2 and syslog.messages[0].startswith(b"<110>1 ")


@pytest.mark.django_db(transaction=True)  # the pause comes from another connection
def test_a_stream_paused_mid_round_gives_its_lease_back(world, receiver, make_stream, monkeypatch):
    record(connect(world.acme_ws), connect(world.acme_ws))
    stream = make_stream(url=receiver.url, batch_size=1)
    sent = delivery.send

    def send_then_pause(*args):
        sent(*args)  # while the batch is out (in the round's sending thread), someone
        Stream.objects.filter(pk=stream.pk).update(paused=True)  # pauses the stream
        connection.close()  # this thread's own connection

    monkeypatch.setattr(delivery, "send", send_then_pause)

    deliver(stream)

    stream.refresh_from_db()
    assert len(receiver.records) == 1 and stream.cursor == 0  # the batch will be sent again
    assert stream.lease_owner == ""


def test_a_splunk_answer_with_a_nonzero_code_is_a_failure(world, receiver, make_stream):
    record(connect(world.acme_ws))
    stream = make_stream(kind=StreamKind.SPLUNK_HEC, url=receiver.url, secret="hec-token")
    # A 2xx that still refuses: Splunk's HEC answers carry a code, 0 meaning "Success".
    receiver.answer = b'{"text":"Incorrect index","code":7,"invalid-event-number":0}'

    result = deliver(stream)

    stream.refresh_from_db()
    assert result.error == "HEC code 7: Incorrect index"
    assert stream.cursor == 0 and stream.last_error == "HEC code 7: Incorrect index"
    receiver.answer = b'{"text":"Success","code":0}'
    deliver(stream)
    stream.refresh_from_db()
    assert stream.cursor > 0 and stream.failures == 0
