"""Fields a resource of some kind never reads, when a body sets them anyway.

An alert rule reads its numbers by kind and its destination by channel; a stream reads a
URL or a host by kind. A body that sets a field its resource never reads was stored and
ignored; ``set_unread`` names such fields so the caller can refuse them, as the events
endpoint refuses a field an event type does not carry (docs/decisions.md, "Writes").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def unread_of(reads: Mapping[str, Iterable[str]], kind: str) -> set[str]:
    """The fields of every kind in ``reads`` that ``kind`` does not read (none for a kind
    ``reads`` does not know: its own check names the kind)."""
    every = {name for names in reads.values() for name in names}
    return every - set(reads.get(kind, every))


def set_unread(unread: Iterable[str], data: Mapping, stored: Mapping) -> list[str]:
    """The names in ``unread`` that ``data`` (a request body) sets, sorted. Clearing one
    (``""``, ``null``) is not setting it, and neither is sending back the ``stored`` value
    (compared without surrounding spaces: a page strips what it posts), so a body read back
    whole, and the pages that post every field, pass on older records."""
    return sorted(
        name
        for name in unread
        if data.get(name) not in (None, "") and not _same(data[name], stored.get(name))
    )


def _same(sent, stored) -> bool:
    if isinstance(sent, str) and isinstance(stored, str):
        return sent.strip() == stored.strip()
    return sent == stored
