"""Reading exports in tests: an NDJSON export ends with its provenance record; a client
that hangs up."""

from __future__ import annotations

import json

import pytest
from django.db import connections


def split_provenance(body: bytes | str) -> tuple[bytes, dict]:
    """An NDJSON export's entries (the bytes before the last line) and its provenance."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    assert data.endswith(b"\n"), "an NDJSON export ends with a line feed"
    content, _, last = data[:-1].rpartition(b"\n")
    record = json.loads(last)
    assert set(record) == {"provenance"}, f"the last line is not a provenance record: {last!r}"
    return (content + b"\n" if content else b""), record["provenance"]


def ndjson_entries(body: bytes | str) -> list[dict]:
    """The entries of an NDJSON export, without its provenance record."""
    content, _ = split_provenance(body)
    # Split on newlines only: an entry may hold U+2028, which str.splitlines splits on.
    return [json.loads(line) for line in content.decode("utf-8").split("\n")[:-1]]


def hang_up(response) -> None:
    """What the server does when its client hangs up: close the response. The end of a
    request closes a database connection inside a transaction; the test's own connection
    (and transaction) is kept open meanwhile, as the test client does when it closes one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connections["default"], "close_if_unusable_or_obsolete", lambda: None)
        response.close()
