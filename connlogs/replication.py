"""How far the read replica is behind the primary, measured by each worker (docs/scaling.md).

``monitor.state()`` answers from a measurement at most ``CONNLOGS_REPLICA_CHECK_SECONDS``
old, taking a new one when the last is older: two one-row queries, the primary's WAL
position (``pg_current_wal_lsn()``) and then the replica's replay position and the commit
time of the last transaction it replayed (``pg_last_wal_replay_lsn()``,
``pg_last_xact_replay_timestamp()``; PostgreSQL manual, "Monitoring" and "Recovery Control
Functions"). From these:

* ``lag_bytes``: WAL the replica has yet to replay (0 when it has replayed all the primary had
  written when asked);
* ``lag_seconds``: 0 when caught up, else the smaller of two bounds: the age of the last
  transaction it replayed, and the time since this worker last saw it caught up (it then
  held everything the primary had). The first alone would overstate the lag after an idle
  spell (the last replayed commit is old); both err on the safe side.

A replica that does not answer is ``available=False`` until the next measurement; so is
one further behind than ``CONNLOGS_REPLICA_MAX_LAG`` for ``usable``. The router then sends
reads to the primary. On SQLite, or with checks off (``CONNLOGS_REPLICA_CHECK_SECONDS=0``),
the replica is taken as usable and caught up without asking.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger("connlogs.replication")

REPLICA = "replica"


def parse_lsn(text: str | None) -> int | None:
    """A WAL position ``"16/B374D848"`` as a byte offset; None for None."""
    if not text:
        return None
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class ReplicaState:
    """One measurement. ``replay_lsn`` is a byte offset (``parse_lsn``), None if unknown."""

    available: bool
    lag_seconds: float = 0.0
    lag_bytes: int = 0
    replay_lsn: int | None = None
    checked_at: float = 0.0  # time.monotonic() of the measurement
    error: str = ""

    @property
    def usable(self) -> bool:
        """Whether reads may go to the replica now."""
        return self.available and self.lag_seconds <= settings.CONNLOGS_REPLICA_MAX_LAG

    def as_json(self) -> dict:
        """What /healthz shows: status ``streaming``, ``lagging`` or ``down``; where reads go."""
        status = "down" if not self.available else "streaming" if self.usable else "lagging"
        answer = {
            "status": status,
            "reads": "replica" if self.usable else "primary",
            "lag_seconds": round(self.lag_seconds, 3),
            "lag_bytes": self.lag_bytes,
            "max_lag_seconds": settings.CONNLOGS_REPLICA_MAX_LAG,
        }
        if self.error:
            answer["error"] = self.error
        return answer


def _one_row(alias: str, sql: str) -> tuple:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def _forget_connection(alias: str) -> None:
    # A broken connection would fail again; the next use opens a new one.
    try:
        connections[alias].close()
    except DatabaseError:
        pass


class ReplicaMonitor:
    """The last measurement of this process, refreshed when older than the check interval."""

    def __init__(self) -> None:
        self._state: ReplicaState | None = None
        self._lock = threading.Lock()
        self._caught_up_at: float | None = None  # time.monotonic() of the last caught-up check

    def measuring(self) -> bool:
        return (
            REPLICA in connections.settings
            and connections[REPLICA].vendor == "postgresql"
            and settings.CONNLOGS_REPLICA_CHECK_SECONDS > 0
        )

    def state(self) -> ReplicaState:
        """The current measurement (taking a new one if due)."""
        if not self.measuring():
            return ReplicaState(available=True)
        state = self._state
        if state is None or time.monotonic() - state.checked_at >= (
            settings.CONNLOGS_REPLICA_CHECK_SECONDS
        ):
            state = self.refresh()
        return state

    def refresh(self) -> ReplicaState:
        """Measure now; a replica that fails to answer is marked down."""
        with self._lock:
            self._state = self._measure()
            return self._state

    def mark_down(self, error: BaseException) -> None:
        """A read on the replica failed: send reads to the primary until the next check."""
        _forget_connection(REPLICA)
        with self._lock:
            self._state = ReplicaState(
                available=False, checked_at=time.monotonic(), error=type(error).__name__
            )

    def replayed(self, lsn: int) -> bool:
        """Whether the replica has replayed the WAL up to ``lsn`` (asking it if the last
        measurement is behind that)."""
        state = self.state()
        if not state.available:
            return False
        if state.replay_lsn is not None and state.replay_lsn >= lsn:
            return True
        try:
            (replay,) = _one_row(REPLICA, "SELECT pg_last_wal_replay_lsn()::text")
        except DatabaseError as error:
            self.mark_down(error)
            return False
        replay_lsn = parse_lsn(replay)
        if replay_lsn is None:  # not a standby: the "replica" is the primary itself
            return True
        with self._lock:
            if self._state is not None:
                self._state = replace(self._state, replay_lsn=replay_lsn)
        return replay_lsn >= lsn

    def _measure(self) -> ReplicaState:
        now = time.monotonic()
        try:
            (primary,) = _one_row(DEFAULT_DB_ALIAS, "SELECT pg_current_wal_lsn()::text")
        except DatabaseError:
            primary = None  # the primary is down: the replica is all there is; lag unknown
            _forget_connection(DEFAULT_DB_ALIAS)
        try:
            replay, seconds_behind = _one_row(
                REPLICA,
                "SELECT pg_last_wal_replay_lsn()::text, "
                "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
            )
        except DatabaseError as error:
            logger.warning("read replica unavailable: %s", error)
            _forget_connection(REPLICA)
            return ReplicaState(available=False, checked_at=now, error=type(error).__name__)
        replay_lsn, primary_lsn = parse_lsn(replay), parse_lsn(primary)
        if replay_lsn is None:  # not in recovery (tests mirror the primary): nothing to lag
            return ReplicaState(available=True, checked_at=now)
        lag_bytes = max(0, primary_lsn - replay_lsn) if primary_lsn is not None else 0
        if not lag_bytes:
            self._caught_up_at = now
            return ReplicaState(True, 0.0, 0, replay_lsn, now)
        lag_seconds = max(0.0, seconds_behind or 0.0)
        if self._caught_up_at is not None:
            lag_seconds = min(lag_seconds, now - self._caught_up_at)
        return ReplicaState(True, lag_seconds, lag_bytes, replay_lsn, now)


monitor = ReplicaMonitor()


def fallback_for(alias: str, error: BaseException) -> str | None:
    """The alias to read from after a read on ``alias`` failed with ``error``: the primary
    if ``alias`` is the replica (marked down meanwhile), else None (nothing to fall back to)."""
    if alias != REPLICA:
        return None
    logger.warning("read replica failed mid-read, reading from the primary: %s", error)
    monitor.mark_down(error)
    return DEFAULT_DB_ALIAS


def primary_lsn() -> int | None:
    """The primary's WAL write position now (past every commit acknowledged so far)."""
    (lsn,) = _one_row(DEFAULT_DB_ALIAS, "SELECT pg_current_wal_lsn()::text")
    return parse_lsn(lsn)
