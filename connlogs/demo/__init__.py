"""Demo data: a realistic installation, its people, and a month of connections.

Everything here is seeded (``random.Random(seed)``) except row and connection ids, which are
always fresh so that loading twice never collides. The package has one job per module:

* ``people``: the cast (organizations, people with every role, memberships, workspaces) and
  ``ensure_cast``, which creates what is missing;
* ``distributions``: the weighted tables the rows are drawn from;
* ``generator``: ``DemoRow`` and ``RowGenerator``, which produces the rows once, as tuples;
* ``loader``: writes them one of two ways and counts them in a ``LoadReport``:

  - ``write_through_events``: as connect/disconnect events through ``events.record_events``,
    the single writer (the default, and what the tests compare against);
  - ``write_bulk``: for large loads, straight into the table (PostgreSQL ``COPY``, or
    ``bulk_create`` elsewhere). Each ``DemoRow`` is already what the merging rules make of its
    events (see ``DemoRow.events``), so both ways store the same rows; a test checks it.
"""

from connlogs.demo.distributions import HOSTILE_USER_AGENT
from connlogs.demo.generator import DEFAULT_DAYS, DemoRow, RowGenerator
from connlogs.demo.loader import (
    DEFAULT_FAST_OVER,
    DEFAULT_ROWS,
    LoadReport,
    load,
    write_bulk,
    write_through_events,
)
from connlogs.demo.people import (
    DEMO_OWNER,
    DEMO_OWNER_EMAIL,
    DEMO_PASSWORD,
    PEOPLE,
    Cast,
    Person,
    ensure_cast,
)

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_FAST_OVER",
    "DEFAULT_ROWS",
    "DEMO_OWNER",
    "DEMO_OWNER_EMAIL",
    "DEMO_PASSWORD",
    "HOSTILE_USER_AGENT",
    "PEOPLE",
    "Cast",
    "DemoRow",
    "LoadReport",
    "Person",
    "RowGenerator",
    "ensure_cast",
    "load",
    "write_bulk",
    "write_through_events",
]
