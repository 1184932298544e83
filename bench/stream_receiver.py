"""A loopback NDJSON receiver for the stream bench: counts the records POSTed to it and
the distinct feed seqs among them; ``GET /count`` answers ``{"records", "distinct"}``.

    python bench/stream_receiver.py PORT
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEQ = re.compile(rb'^\{"seq":(\d+),', re.MULTILINE)
seen: set[int] = set()
total = 0
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - http.server's name
        global total
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seqs = [int(found) for found in SEQ.findall(body)]
        with lock:
            total += len(seqs)
            seen.update(seqs)
        self._answer(b"{}")

    def do_GET(self):  # noqa: N802
        with lock:
            self._answer(json.dumps({"records": total, "distinct": len(seen)}).encode())

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
