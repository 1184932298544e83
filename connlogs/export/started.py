"""A download's body whose first piece is read inside the view.

A streamed body is read by the server after the view has returned, outside every
middleware: had the database gone away, the first read would fail where
``DatabaseUnavailableMiddleware`` cannot answer it, and the server (gunicorn) sends its own
bare ``500`` before any header (found by the lab's drill: one 500 while the primary
crashed). Reading the first piece in the view sends such a failure through the middleware
(``503`` with ``Retry-After``, the door's error shape); a failure after the first byte can
only cut the stream, which clients see as an incomplete download.
"""

from __future__ import annotations

from collections.abc import Iterator


class StartedBody:
    """``body`` (an iterator of pieces, with an optional ``close``) with its first piece read
    now. Iterates the same pieces in the same order; ``close`` closes ``body``.

    Raises whatever the first read raises, after closing ``body`` (so an export slot or any
    other resource it holds is given back).
    """

    def __init__(self, body: Iterator):
        self._body = body
        try:
            self._first = [next(body)]
        except StopIteration:
            self._first = []
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> StartedBody:
        return self

    def __next__(self):
        if self._first:
            return self._first.pop()
        return next(self._body)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()
