"""A loopback NDJSON receiver for the stream bench: counts the records POSTed to it and
the distinct feed seqs among them; ``GET /count`` answers ``{"records", "distinct"}``.

    python bench/stream_receiver.py PORT [--log FILE]

``--log FILE``: every record's seq is also appended to FILE (one a line, written and flushed
before the batch is acknowledged), so what a receiver took survives its being killed and
restarted (bench/stream_drill.py).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEQ = re.compile(rb'^\{"seq":(\d+),', re.MULTILINE)
seen: set[int] = set()
total = 0
lock = threading.Lock()
log = None


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The answer's header and body are two writes: with Nagle's algorithm the body waits
    # for the client's delayed ACK of the header (~40 ms on Linux), which capped every
    # batch at ~40 ms more than the worker spent on it.
    disable_nagle_algorithm = True

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
            if log is not None:
                log.write(b"".join(b"%d\n" % seq for seq in seqs))
                log.flush()
        self._answer(b"{}")

    def do_GET(self):  # noqa: N802
        with lock:
            self._answer(json.dumps({"records": total, "distinct": len(seen)}).encode())

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--log", type=argparse.FileType("ab"))
    args = parser.parse_args()
    log = args.log
    ThreadingHTTPServer(("127.0.0.1", args.port), Receiver).serve_forever()
