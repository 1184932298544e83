"""How many exports one server process streams at once (``CONNLOGS_MAX_EXPORTS_PER_PROCESS``).

An export holds the thread that streams it for as long as the download lasts: minutes for
millions of rows. Under gunicorn's threaded workers (docs/deployment.md) each worker process
serves requests from ``--threads`` threads and queues what it accepted for them, so exports
holding every thread of a worker would make the event batches and pages sent to that worker
wait until an export ended (found by outside testing: four 1M-row exports under four sync
workers held the whole server, and an event batch took 48 s). With fewer export slots than
threads, every worker always keeps threads for the rest.

An export over the limit is refused before any byte is sent: ``429`` with ``Retry-After``,
``{"message": …}`` under ``/api/`` and a short page on the site (``busy_answer``). A slot is
given back when the body has been read to the end, when the server closes the response (a
client that hung up, a failed stream), or at the latest when the response is dropped.

The count lives in the process, not in the database: what runs out is one process's
threads, and a count in memory dies with its process, so a worker killed mid-export cannot
leave a slot taken (a row or a session lock in the database could, or, behind PgBouncer's
transaction pooling, would not hold at all).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from connlogs.middleware import error_answer

RETRY_AFTER_SECONDS = 30
BUSY_MESSAGE = "Too many exports are running on this server; try again in a minute."


class ExportsBusy(Exception):
    """This process already streams ``CONNLOGS_MAX_EXPORTS_PER_PROCESS`` exports."""


class _Slots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.taken = 0

    def take(self) -> None:
        with self._lock:
            if self.taken >= settings.CONNLOGS_MAX_EXPORTS_PER_PROCESS:
                raise ExportsBusy(BUSY_MESSAGE)
            self.taken += 1

    def give_back(self) -> None:
        with self._lock:
            self.taken -= 1


_slots = _Slots()


def streaming() -> int:
    """How many exports this process streams now."""
    return _slots.taken


class _Held:
    """``body`` holding one slot until it ends, is closed, or is dropped."""

    def __init__(self, body: Iterator[str]):
        self._body = body
        # Called once at most: by close(), or when this object is garbage.
        self._give_back = weakref.finalize(self, _slots.give_back)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            return next(self._body)
        except BaseException:  # the end (StopIteration) or a failed stream
            self.close()
            raise

    def close(self) -> None:
        self._give_back()
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def hold(body: Iterator[str]) -> Iterable[str]:
    """``body`` (an export's pieces, not started) holding an export slot while it streams.

    Raises ``ExportsBusy`` when every slot of this process is taken; nothing is read then.
    """
    _slots.take()
    return _Held(body)


def busy_answer(request: HttpRequest) -> HttpResponse:
    """The refusal of an export over the limit: 429, ``Retry-After``, the door's error shape."""
    response = error_answer(request, 429, BUSY_MESSAGE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
