"""Database routing for a read replica (docs/scaling.md).

Enabled by project/settings.py when ``DATABASE_REPLICA_URL`` is set. Reads of connection
logs (the list, searches, counts, charts, exports, the feed: the traffic that grows with the
data) go to the ``replica`` alias while it is usable. Everything else stays on the primary
(``default``):

* every write;
* every read made inside a transaction on the primary, so event merging reads and locks the
  rows it is about to change (a replica cannot lock, and may lag);
* every other model: tokens, sessions, users, memberships and organizations must see a
  write at once (a token created a moment ago must not be "unknown" on a lagging replica),
  and they are small;
* connection-log reads while the replica is down or further behind than
  ``CONNLOGS_REPLICA_MAX_LAG`` (``replication.monitor``), and reads by a client whose own
  write the replica has not replayed yet (read-your-writes, ``consistency``).

A page's users and organization are joined in the same query, so they are read from the
replica with the rows they belong to.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections

from connlogs import consistency
from connlogs.replication import REPLICA, monitor

# (app_label, model_name) of the models whose reads may go to the replica.
REPLICA_MODELS = frozenset({("connlogs", "connectionlog")})


def replica_configured() -> bool:
    return REPLICA in connections.settings


def _is_log(model) -> bool:
    return (model._meta.app_label, model._meta.model_name) in REPLICA_MODELS


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str | None:
        if not _is_log(model) or not replica_configured():
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        if not monitor.state().usable or consistency.must_read_primary():
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints) -> str:
        if _is_log(model):
            consistency.note_log_write()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # Both aliases hold the same data: objects from either may be related.
        return True

    def allow_migrate(self, db: str, app_label: str, model_name=None, **hints) -> bool:
        # The replica is a copy of the primary: only the primary is migrated.
        return db == DEFAULT_DB_ALIAS
