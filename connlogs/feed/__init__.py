"""The change feed: the one ordered record of every row ingest creates or changes.

* ``models``: the entries (``seq``, row id, action, time) and retention's mark;
* ``writing``: ``record``, called by ingest in each batch's transaction, numbers entries in
  commit order;
* ``reading``: ``read_changes`` (model rows, for pages) and ``EntryReader`` / ``reader_for``
  (the API's JSON, for the API and streams), the entries after a ``seq`` that a search
  matches, in the reader's scope;
* ``trimming``: ``trim``, called by retention.

``record`` and ``trim`` are exported here (their modules import no other part of connlogs,
so the models module can import this package); import the readers from ``reading``.
"""

from connlogs.feed.trimming import trim
from connlogs.feed.writing import record

__all__ = ["record", "trim"]
