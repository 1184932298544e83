"""Loopback receivers for stream tests and the bench: an HTTP one (plain NDJSON or
Splunk-HEC-shaped) and a syslog one over TCP (octet-counting) or UDP. Each runs in a thread
on 127.0.0.1, keeps what it received, and can be told to refuse (HTTP 503) or be stopped and
started again on the same port."""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpReceiver:
    """Collects POSTed bodies; ``records`` are their JSON lines (HEC objects are split on
    newlines too). ``refuse = True`` answers 503 without keeping the body; ``answer`` is the
    body of a 200 (Splunk HEC answers ``{"text": "Success", "code": 0}``)."""

    def __init__(self, port: int = 0):
        self.bodies: list[tuple[dict, bytes]] = []
        self.refuse = False
        self.answer = b"{}"
        self.delay = 0.0
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    @property
    def records(self) -> list[dict]:
        with self.lock:
            return [json.loads(line) for _, body in self.bodies for line in body.splitlines()]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The head and the body of an answer go out as two writes: without this, the
            # body waits for the client's delayed ACK (~40 ms per batch).
            disable_nagle_algorithm = True

            def setup(self):
                super().setup()
                with receiver.lock:
                    receiver.connections.add(self.connection)

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(receiver.delay)
                if receiver.refuse:
                    self.send_response(503)
                else:
                    with receiver.lock:
                        receiver.bodies.append((dict(self.headers), body))
                    self.send_response(200)
                answer = b"{}" if receiver.refuse else receiver.answer
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Go down as a killed process would: kept-alive connections are cut too."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.lock:
            for open_connection in self.connections:
                try:
                    open_connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()


def parse_octet_counted(data: bytes) -> list[bytes]:
    """Split an RFC 6587 octet-counted byte stream into its messages."""
    messages = []
    while data:
        length, _, rest = data.partition(b" ")
        size = int(length)
        messages.append(rest[:size])
        data = rest[size:]
    return messages


class SyslogReceiver:
    """Collects syslog messages over TCP (octet-counting) or UDP."""

    def __init__(self, udp: bool = False, tls: ssl.SSLContext | None = None):
        self.messages: list[bytes] = []
        self.lock = threading.Lock()
        receiver = self
        if udp:

            class Handler(socketserver.BaseRequestHandler):
                def handle(self):
                    with receiver.lock:
                        receiver.messages.append(self.request[0])

            self.server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)
        else:

            class Handler(socketserver.StreamRequestHandler):
                def handle(self):
                    data = b"".join(iter(lambda: self.rfile.read(65536), b""))
                    with receiver.lock:
                        receiver.messages.extend(parse_octet_counted(data))

            self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
            if tls is not None:
                self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
