"""The cells of the hourly rollup: which counter a log row adds to.

A rollup row is one hour (UTC) of one organization; its counters are one per cell, a cell
being a connection type, a result and, for agent sessions, whether the session is open:

* result ``failed``: a web request answered 400 or more, an agent session that exited
  non-zero; ``ok``: under 400, exit 0; ``none``: no code (the ``result:`` search key's
  meaning);
* ``open``: an agent session without a disconnect (``status:ongoing``); web requests are
  point-in-time and never open or closed.

So the rollup answers, per hour, "how many rows of these organizations, these types, this
status and this result": the chart's question for every ``q`` made only of those keys.
The same rules are written three times, each checked against the others by the tests: as
Python here (``cell_of``), as SQL for the triggers and the rebuild (``column_counts_sql``),
and as ORM filters in ``rollups``.
"""

from __future__ import annotations

from dataclasses import dataclass

from connlogs.connection_types import AGENT_TYPE_VALUES, TYPE_VALUES, WEB_TYPE_VALUES

RESULTS = ("ok", "failed", "none")
FAILED_WEB_STATUS = 400


@dataclass(frozen=True)
class Cell:
    """One counter: rows of ``type`` with ``result``, open or not (``open`` is None for web
    types, which are neither)."""

    type: str
    result: str
    open: bool | None

    @property
    def column(self) -> str:
        if self.open is None:
            return f"{self.type}_{self.result}"
        return f"{self.type}_{'open' if self.open else 'closed'}_{self.result}"


CELLS: tuple[Cell, ...] = tuple(
    Cell(kind, result, state)
    for kind in TYPE_VALUES
    for state in ((True, False) if kind in AGENT_TYPE_VALUES else (None,))
    for result in RESULTS
)
COLUMNS: tuple[str, ...] = tuple(cell.column for cell in CELLS)


def result_of(kind: str, code: int | None) -> str:
    """``ok``/``failed``/``none`` of a row's type and code."""
    if code is None:
        return "none"
    if kind in WEB_TYPE_VALUES:
        return "failed" if code >= FAILED_WEB_STATUS else "ok"
    return "ok" if code == 0 else "failed"


def cell_of(kind: str, code: int | None, disconnected: bool) -> Cell:
    """The cell a row counts in."""
    open_ = None if kind in WEB_TYPE_VALUES else not disconnected
    return Cell(kind, result_of(kind, code), open_)


def _quoted(values_: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values_)


def result_sql(prefix: str = "") -> str:
    """The result of a row as SQL (PostgreSQL and SQLite), its columns named ``prefix``+."""
    return (
        f"CASE WHEN {prefix}code IS NULL THEN 'none' "
        f"WHEN {prefix}type IN ({_quoted(WEB_TYPE_VALUES)}) THEN "
        f"CASE WHEN {prefix}code >= {FAILED_WEB_STATUS} THEN 'failed' ELSE 'ok' END "
        f"WHEN {prefix}code = 0 THEN 'ok' ELSE 'failed' END"
    )


def condition_sql(cell: Cell, prefix: str = "") -> str:
    """SQL true for the rows of ``cell``."""
    parts = [f"{prefix}type = '{cell.type}'", f"({result_sql(prefix)}) = '{cell.result}'"]
    if cell.open is not None:
        parts.append(f"{prefix}disconnect_time IS {'' if cell.open else 'NOT '}NULL")
    return " AND ".join(parts)
