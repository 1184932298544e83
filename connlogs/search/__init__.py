"""The ``q`` search language, one room for every door.

* ``grammar``: text in, ``{key: value}`` terms or the contract's validations out (no Django);
* ``fields``: how each key's value is cleaned, with the contract's error sentences;
* ``filterset``: the one FilterSet, one filter per key;
* ``request``: ``LogSearch``, one read of connection logs built once per request (scope,
  parsed ``q``, the rows it matches, its time window) and handed to every later step.

The grammar's names are exported here; the Django parts are imported from their modules.
"""

from connlogs.search.grammar import (
    FREE_TEXT_KEY,
    ParsedQuery,
    Validation,
    build,
    parse,
    quote,
    repeated_param,
)

__all__ = [
    "FREE_TEXT_KEY",
    "ParsedQuery",
    "Validation",
    "build",
    "parse",
    "quote",
    "repeated_param",
]
