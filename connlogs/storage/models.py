"""The tables derived from the connection log, kept in the same transaction as its rows.

* ``ConnectionKey``: one row per agent connection (the merge key) naming its log row. On
  PostgreSQL the log is partitioned by month and cannot hold a unique index on the key
  (it must contain the partition key); this table does, so two writers can never make two
  rows of one connection, and a disconnect finds its connect whatever month it is in.
* ``ConnectionRollup``: per hour (UTC), organization and stripe, one counter per cell
  (``storage.cells``): the chart counts 30 days from these instead of the rows.

Both are written by database triggers (``storage.ddl``, ``storage.rollups``), like an index,
so every writer keeps them: event ingest, the bulk loaders, the ORM, the retention purge.
"""

from __future__ import annotations

from django.db import models

from connlogs.storage.cells import COLUMNS

# Rollup rows are spread over this many stripes (a stripe per writing transaction, by its
# id): two concurrent batches then rarely wait on each other's row lock of the same hour and
# organization. Readers sum the stripes; maintenance folds past hours into stripe 0.
ROLLUP_STRIPES = 8


class ConnectionKey(models.Model):
    """The log row of an agent connection (``connection_id``, workspace, agent name)."""

    pk = models.CompositePrimaryKey("connection_id", "workspace_id", "agent_name")
    connection_id = models.UUIDField()
    workspace_id = models.UUIDField()
    agent_name = models.CharField(max_length=64)
    log_id = models.UUIDField()
    connect_time = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["connect_time"], name="connection_key_time_idx")]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.workspace_id} {self.agent_name} -> {self.log_id}"


class ConnectionRollup(models.Model):
    """Counts of log rows that connected in one hour (UTC) in one organization, per cell."""

    pk = models.CompositePrimaryKey("hour", "organization_id", "stripe")
    hour = models.DateTimeField()
    organization_id = models.UUIDField()
    stripe = models.SmallIntegerField(default=0)
    for _column in COLUMNS:
        locals()[_column] = models.IntegerField(default=0)
    del _column

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.organization_id} #{self.stripe}"
