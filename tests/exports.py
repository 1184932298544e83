"""Reading exports in tests: an NDJSON export ends with its provenance record."""

from __future__ import annotations

import json


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
