"""The senders: one batch of records to one stream's receiver, or ``DeliveryFailed``.

Every record is the change feed's entry as the API answers it (``{"seq", "action",
"connection_log": {...}}``), so a receiver can de-duplicate by ``seq`` or by
``connection_log.id``. A batch counts as delivered when the receiver acknowledged it: an HTTP
2xx answer, or (syslog over TCP/TLS, which has no acknowledgement) every byte written to a
connection that was still open; UDP syslog is fire-and-forget.

* HTTP JSON: one POST of NDJSON (``application/x-ndjson``), with
  ``X-Connlogs-Signature: sha256=<hex HMAC-SHA256 of the body>`` when the stream has a secret.
* Splunk HEC: one POST of concatenated ``{"time", "event", "sourcetype"}`` objects with
  ``Authorization: Splunk <token>`` (Splunk's "Format events for HTTP Event Collector");
  acknowledged by a 2xx whose JSON ``code`` is 0 (``hec_refusal``).
* Syslog: RFC 5424 messages, one JSON record each; octet-counting framing on TCP and TLS
  (RFC 6587 section 3.4.1, RFC 5425 section 4.3), one datagram each on UDP (RFC 5426).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import requests

from connlogs.streams.models import Stream, StreamKind

TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Connlogs-Signature"
HEC_SOURCETYPE = "connlogs:connection"
# RFC 5424: facility 13 ("log audit") * 8 + severity 6 ("informational").
SYSLOG_PRI = 13 * 8 + 6
SYSLOG_APP = "connlogs"
SYSLOG_MSGID = "connection"


class DeliveryFailed(Exception):
    """The receiver did not take the batch; the text says why (no secret in it)."""


@dataclass(frozen=True)
class Record:
    """One outgoing record: the connection's ``time`` (HEC's ``time``) and its JSON ``data``."""

    time: dt.datetime
    data: dict


# ``json.dumps(data, separators=(",", ":"))`` without building an encoder per record; no
# cycle check (a record is a tree).
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def hmac_signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(session: requests.Session, url: str, body: bytes, headers: dict) -> requests.Response:
    """POST ``body``; the answer if it is a 2xx. Raises ``DeliveryFailed`` (no answer within
    ``TIMEOUT_SECONDS``, or another status), its text without any header's value."""
    try:
        response = session.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    return response


def hec_refusal(response: requests.Response) -> str:
    """Why a 2xx HEC answer still refused the batch, ``""`` when it took it.

    Splunk answers every request with ``{"text": …, "code": N}``, ``code`` 0 meaning
    "Success" (Splunk docs, "Troubleshoot HTTP Event Collector": the status codes table); a
    body that is not such an object (a proxy's empty 200) says nothing against the batch.
    """
    try:
        answer = response.json()
    except ValueError:
        return ""
    code = answer.get("code", 0) if isinstance(answer, dict) else 0
    if code == 0:
        return ""
    return f"HEC code {code}: {str(answer.get('text', ''))[:200]}"


def send_http(stream: Stream, records: list[Record], session: requests.Session) -> None:
    """POST the batch as NDJSON (signed when the stream has a secret)."""
    body = "".join(_dumps(record.data) + "\n" for record in records).encode()
    headers = {"Content-Type": "application/x-ndjson"}
    secret = stream.secret_value()
    if secret:
        headers[SIGNATURE_HEADER] = hmac_signature(secret, body)
    post(session, stream.url, body, headers)


def send_splunk_hec(stream: Stream, records: list[Record], session: requests.Session) -> None:
    """POST the batch to a Splunk HTTP Event Collector (``…/services/collector/event``)."""
    events = (
        {"time": record.time.timestamp(), "event": record.data, "sourcetype": HEC_SOURCETYPE}
        for record in records
    )
    body = "\n".join(_dumps(event) for event in events).encode()
    headers = {
        "Authorization": f"Splunk {stream.secret_value()}",
        "Content-Type": "application/json",
    }
    refusal = hec_refusal(post(session, stream.url, body, headers))
    if refusal:
        raise DeliveryFailed(refusal)


def syslog_message(record: Record, hostname: str) -> bytes:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG``, the
    timestamp being the connection's time in UTC, the MSG the record's JSON (ASCII)."""
    timestamp = record.time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = f"<{SYSLOG_PRI}>1 {timestamp} {hostname or '-'} {SYSLOG_APP} - {SYSLOG_MSGID} -"
    return f"{header} {_dumps(record.data)}".encode()


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting framing: ``MSG-LEN SP SYSLOG-MSG``."""
    return b"%d %s" % (len(message), message)


def _hostname() -> str:
    # RFC 5424 HOSTNAME: printable US-ASCII, at most 255 characters.
    name = socket.gethostname().encode("ascii", "replace").decode()
    return "".join(c for c in name if 33 <= ord(c) <= 126)[:255]


def send_syslog(stream: Stream, records: list[Record], session: requests.Session) -> None:
    """Write the batch to a syslog receiver over TCP (TLS) or UDP."""
    hostname = _hostname()
    messages = [syslog_message(record, hostname) for record in records]
    address = (stream.host, stream.port or 514)
    try:
        if stream.kind == StreamKind.SYSLOG_UDP:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for message in messages:
                    udp.sendto(message, address)
            return
        with socket.create_connection(address, timeout=TIMEOUT_SECONDS) as tcp:
            if stream.kind == StreamKind.SYSLOG_TLS:
                context = ssl.create_default_context(cadata=stream.tls_ca or None)
                with context.wrap_socket(tcp, server_hostname=stream.host) as tls:
                    tls.sendall(b"".join(octet_counted(m) for m in messages))
                return
            tcp.sendall(b"".join(octet_counted(m) for m in messages))
    except (OSError, ssl.SSLError) as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}") from None


SENDERS: dict[str, Callable[[Stream, list[Record], requests.Session], None]] = {
    StreamKind.HTTP: send_http,
    StreamKind.SPLUNK_HEC: send_splunk_hec,
    StreamKind.SYSLOG_TCP: send_syslog,
    StreamKind.SYSLOG_TLS: send_syslog,
    StreamKind.SYSLOG_UDP: send_syslog,
}


def send(stream: Stream, records: list[Record], session: requests.Session) -> None:
    """Deliver ``records`` to ``stream``'s receiver; raises ``DeliveryFailed``."""
    SENDERS[stream.kind](stream, records, session)
