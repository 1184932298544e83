"""Work done after a response is sent: the client does not wait for it.

``after_response(task)`` queues ``task`` until the request is finished (Django's
``request_finished``, sent when the server closes the response: after the last byte of a
download, too). Outside a request (a management command, a stream worker) the task runs at
once. A task that fails is logged, never raised: what runs here is bookkeeping (the index of
shown pseudonyms, chaining access-log entries) that the next request or command catches up
on, not the read itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.core.signals import request_finished, request_started

logger = logging.getLogger(__name__)

_state = threading.local()


def after_response(task: Callable[[], object]) -> None:
    """Run ``task`` once the current response is sent (now, outside a request)."""
    queue = getattr(_state, "queue", None)
    if queue is None:
        _run(task)
    elif task not in queue:
        queue.append(task)


def in_request() -> bool:
    return getattr(_state, "queue", None) is not None


def _run(task: Callable[[], object]) -> None:
    try:
        task()
    except Exception:  # noqa: BLE001 - bookkeeping must never break the answer already sent
        logger.exception("deferred task %r failed", task)


def _started(**kwargs) -> None:
    _state.queue = []


def _finished(**kwargs) -> None:
    queue = getattr(_state, "queue", None)
    _state.queue = None
    for task in queue or ():
        _run(task)


def connect() -> None:
    """Hook the queue to Django's request signals (``ConnlogsConfig.ready``)."""
    request_started.connect(_started, dispatch_uid="connlogs.privacy.deferred.started")
    request_finished.connect(_finished, dispatch_uid="connlogs.privacy.deferred.finished")
