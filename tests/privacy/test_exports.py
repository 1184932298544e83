"""Exports that prove themselves: ``manage.py verify_export`` on files as a caller saved them."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from django.core.management import call_command

from connlogs.models import AccessLogEntry
from tests.conftest import as_user
from tests.exports import hang_up, split_provenance

EXPORT = "/api/v2/connectionlog/export"
FILE_NAME = re.compile(r'filename="([^"]+)"')


def download(user, fmt: str, q: str = "") -> tuple[str, bytes]:
    """An export as a browser saves it: its file name and every byte."""
    response = as_user(user).get(EXPORT, {"format": fmt, "q": q})
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    return FILE_NAME.search(response["Content-Disposition"]).group(1), body


def sidecar(user, name: str) -> str:
    response = as_user(user).get(f"/api/v2/connectionlog/exports/{name}.sha256")
    assert response.status_code == 200, response.content
    return response.content.decode()


def verify(tmp_path, data: bytes, sidecar_text: str | None = None) -> tuple[int, str]:
    """``manage.py verify_export`` of ``data`` saved to a file: its exit code and output."""
    file = tmp_path / "export"
    file.write_bytes(data)
    args = [str(file)]
    if sidecar_text is not None:
        checksum = tmp_path / "export.sha256"
        checksum.write_text(sidecar_text)
        args.append(str(checksum))
    out = io.StringIO()
    try:
        call_command("verify_export", *args, stdout=out)
    except SystemExit as exit:
        return exit.code, out.getvalue()
    return 0, out.getvalue()


def one_byte_changed(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and old in data
    return data.replace(old, new, 1)


def test_an_ndjson_export_proves_itself(people, tmp_path):
    name, body = download(people.auditor, "ndjson", "type:ssh")
    content, provenance = split_provenance(body)
    entry = AccessLogEntry.objects.get(export_name=name)
    assert provenance["sha256"] == entry.export_sha256 == hashlib.sha256(content).hexdigest()
    assert (provenance["rows"], provenance["q"], provenance["caller"]["username"]) == (
        1,
        "type:ssh",
        "acme-auditor",
    )
    code, out = verify(tmp_path, body)
    assert code == 0, out
    assert "OK: this is exactly the file connlogs produced" in out
    assert f"export {name}: " in out and "complete, 1 rows" in out.lower()
    assert 'of q "type:ssh", made for acme-auditor (token "test") through api-export' in out


def test_one_changed_byte_in_an_ndjson_export_is_detected(people, tmp_path):
    _, body = download(people.auditor, "ndjson")
    changed = one_byte_changed(body, b'"type":"ssh"', b'"type":"sSh"')
    code, out = verify(tmp_path, changed)
    assert code == 1
    assert "the rows were changed after the export" in out and "FAILED" in out


def test_a_changed_provenance_record_is_detected(people, tmp_path):
    _, body = download(people.auditor, "ndjson")
    content, provenance = split_provenance(body)
    provenance["rows"] = 1  # two rows were exported
    forged = content + json.dumps({"provenance": provenance}).encode() + b"\n"
    code, out = verify(tmp_path, forged)
    assert code == 1 and "the provenance record differs from the access log's entry" in out


def test_an_ndjson_export_without_its_provenance_line_is_not_the_file_produced(people, tmp_path):
    """Its rows are intact, but the file is not what connlogs sent: verify_export says the
    last line is missing and fails (an abandoned export, which never had one, is incomplete)."""
    name, body = download(people.auditor, "ndjson")
    content, _ = split_provenance(body)
    code, out = verify(tmp_path, content)
    assert code == 1 and "FAILED" in out and f"export {name}" in out
    assert "the provenance record connlogs wrote after the rows, is missing" in out


def test_a_csv_export_and_its_checksum_file_prove_themselves(people, tmp_path):
    name, body = download(people.auditor, "csv")
    checksum = sidecar(people.auditor, name)
    assert body.startswith(b"id,")  # a plain table: a spreadsheet opens it as before
    assert checksum.splitlines()[-1] == f"{AccessLogEntry.objects.get().export_sha256}  {name}"
    code, out = verify(tmp_path, body, checksum)
    assert code == 0 and "OK" in out, out
    # Without the checksum file the access log alone still knows the content.
    code, out = verify(tmp_path, body)
    assert code == 0 and f"export {name}" in out, out


@pytest.mark.parametrize("with_checksum", [True, False], ids=["checksum file", "file alone"])
def test_one_changed_byte_in_a_csv_export_is_detected(people, tmp_path, with_checksum):
    name, body = download(people.auditor, "csv")
    checksum = sidecar(people.auditor, name) if with_checksum else None
    changed = one_byte_changed(body, b",ssh,", b",sSh,")
    code, out = verify(tmp_path, changed, checksum)
    assert code == 1 and "FAILED: not exactly a file connlogs produced" in out
    assert "the access log has no export with this content" in out
    if with_checksum:
        assert "its checksum file says" in out


def test_a_file_connlogs_never_produced_is_refused(people, tmp_path):
    code, out = verify(tmp_path, b'{"id":"made up"}\n')
    assert code == 1 and "the access log has no export with this content" in out


def test_an_abandoned_export_is_said_to_be_incomplete(people, tmp_path, monkeypatch):
    from connlogs.export import formats

    monkeypatch.setattr(formats, "FLUSH_AT", 10)  # a piece per row
    response = as_user(people.owner).get(EXPORT, {"format": "csv"})
    pieces = iter(response.streaming_content)
    partial = next(pieces)
    hang_up(response)
    code, out = verify(tmp_path, partial)
    assert code == 1 and "INCOMPLETE" in out and "abandoned" in out


def test_a_checksum_file_is_only_its_callers_and_site_owners(people):
    name, _ = download(people.auditor, "csv")
    path = f"/api/v2/connectionlog/exports/{name}.sha256"
    assert as_user(people.owner).get(path).status_code == 200
    assert as_user(people.both_auditor).get(path).status_code == 404


@pytest.mark.parametrize(
    "record",
    [
        b"5",
        b'"x"',
        b"null",
        b'{"access_log_entry": "x", "sha256": "y"}',
        b'{"access_log_entry": [1]}',
        b'{"access_log_entry": true}',
        b'{"access_log_entry": 99999999999999999999999}',
    ],
)
def test_a_malformed_provenance_line_is_a_problem_not_a_traceback(people, tmp_path, record):
    code, out = verify(tmp_path, b'{"id": "1"}\n{"provenance": ' + record + b"}\n")
    assert code == 1 and "FAILED" in out
