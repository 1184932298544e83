"""The SQL the search keys need beyond Django's lookups, one definition for both databases.

* ``FoldCase(expr)``: the text lower-cased, ``LOWER()`` on PostgreSQL (Unicode-aware under a
  UTF-8 database); on SQLite, whose ``lower()`` folds ASCII only, Python's ``str.lower``.
* ``RowText()``: what free text searches in a row's own columns: workspace name, agent name,
  slug or port and the IP's text, joined by spaces. On PostgreSQL it is exactly the expression
  of the trigram index ``cl_text_trgm_idx`` (migration 0007), so the planner can use it.
* ``FoldedContains(expr, word)``: a case-insensitive substring test: ``ILIKE '%word%'`` with
  ``%``, ``_`` and ``\\`` escaped on PostgreSQL (the trigram index answers it), ``instr()`` over
  Python-lower-cased text on SQLite. ``word`` must already be lower-case (``q`` is).
* ``ip__within`` (registered on ``ConnectionLog.ip``): the address is in a network. PostgreSQL
  compares ``inet`` values (``=`` for a single address, ``<<=`` for a block, both answered by
  a btree on ``ip``); SQLite has no ``inet`` and compares in Python with ``ipaddress``. A row
  with no IP never matches, and Django's null handling keeps it in the negation (``-ip:``).

SQLite's functions are registered on every new connection (``register_sqlite_functions``,
connected in ``ConnlogsConfig.ready``). They are used in queries only, never in an index, so a
database file stays usable without them.
"""

from __future__ import annotations

import functools
import ipaddress

from django.db.models import F, Func, Lookup, TextField

from connlogs.literals import write_values_of

SQLITE_FOLD = "connlogs_fold"
SQLITE_IP_WITHIN = "connlogs_ip_within"


class FoldCase(Func):
    function = "LOWER"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function=SQLITE_FOLD, **extra)


class _IPText(Func):
    """The IP's text, ``''`` when unknown (``host()`` drops PostgreSQL's ``/32``)."""

    template = "COALESCE(HOST(%(expressions)s), '')"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="COALESCE(%(expressions)s, '')")


class RowText(Func):
    """``workspace_name || ' ' || agent_name || ' ' || slug_or_port || ' ' || ip text``.

    Words of ``q`` never hold a space, so the separators never let a word match across two
    columns.
    """

    template = "(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()

    def __init__(self, *, with_ip: bool = True):
        # ``with_ip=False``: the text a reader shown address pseudonyms may search (no index
        # serves it; it only rechecks rows the indexed text found).
        columns = [F("workspace_name"), F("agent_name"), F("slug_or_port")]
        super().__init__(*columns, *([_IPText(F("ip"))] if with_ip else []))


def like_pattern(word: str) -> str:
    """``%word%`` for LIKE/ILIKE, with the pattern characters escaped (``\\`` is the escape)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class FoldedContains(Lookup):
    """``lhs`` contains ``rhs`` (a lower-case word), ignoring case; used as a condition."""

    lookup_name = "folded_contains"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.lhs)
        return f"{lhs} ILIKE %s", [*lhs_params, like_pattern(self.rhs)]

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.lhs)
        return f"instr({SQLITE_FOLD}({lhs}), %s) > 0", [*lhs_params, self.rhs]


class IPWithin(Lookup):
    """``ip__within=<network text>``: the address is in the network (``a/32`` is one address)."""

    lookup_name = "within"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        network = ipaddress.ip_network(self.rhs)
        if network.prefixlen == network.max_prefixlen:
            return f"{lhs} = %s::inet", [*lhs_params, str(network.network_address)]
        # Written into the SQL (``ipaddress``'s own text: digits, dots, colons, a slash):
        # PostgreSQL turns ``<<=`` into a range of the btree only for a constant, so a
        # prepared statement's generic plan of a bound network tested every address.
        return f"{lhs} <<= '{network}'::inet", [*lhs_params]

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{SQLITE_IP_WITHIN}({lhs}, %s)", [*lhs_params, str(self.rhs)]


@functools.lru_cache(maxsize=256)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def _ip_within(address: str | None, network: str | None) -> int | None:
    if address is None or network is None:
        return None
    try:
        return int(ipaddress.ip_address(address) in _network(network))
    except ValueError:
        return 0


def _fold(text: str | None) -> str | None:
    return None if text is None else str(text).lower()


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: the Python functions the SQLite queries call."""
    if connection.vendor != "sqlite":
        return
    connection.connection.create_function(SQLITE_FOLD, 1, _fold, deterministic=True)
    connection.connection.create_function(SQLITE_IP_WITHIN, 2, _ip_within, deterministic=True)


def register_lookups() -> None:
    """``ip__within`` on the log's ``ip`` field only (not on every ``GenericIPAddressField``);
    the log's ``type``, ``code`` and organization compared with literals on PostgreSQL
    (``literals``)."""
    from connlogs.models import ConnectionLog

    field = ConnectionLog._meta.get_field
    field("ip").register_lookup(IPWithin)
    write_values_of(field("type"), field("code"), field("organization"))
