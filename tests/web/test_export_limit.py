"""Long exports must not hold every thread of a server: over CONNLOGS_MAX_EXPORTS_PER_PROCESS
exports at once, one more is refused with 429 and Retry-After, in each door's error shape."""

from __future__ import annotations

import json

import pytest
from django.http import StreamingHttpResponse

from connlogs.export import formats as export_formats
from connlogs.export import rows as export_rows
from connlogs.export import slots as export_slots
from tests.exports import hang_up, ndjson_entries, split_provenance
from tests.factories import auth_header
from tests.web.conftest import signed_in

API = "/api/v2/connectionlog/export"
PAGE = "/connectionlog/export"


@pytest.fixture
def one_export_at_a_time(settings):
    settings.CONNLOGS_MAX_EXPORTS_PER_PROCESS = 1


@pytest.fixture
def owner_api(world, api):
    api.credentials(**auth_header(world.people["owner"]))
    return api


def assert_refused_in_the_api_shape(response) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert json.loads(response.content) == {"message": export_slots.BUSY_MESSAGE}


def test_an_export_over_the_limit_is_a_429_with_retry_after(one_export_at_a_time, owner_api):
    streaming = owner_api.get(API, {"format": "ndjson"})
    assert isinstance(streaming, StreamingHttpResponse) and streaming.status_code == 200

    assert_refused_in_the_api_shape(owner_api.get(API, {"format": "ndjson"}))

    body = b"".join(streaming.streaming_content)
    # Every row and the provenance record: the refusal did not cut the export that was streaming.
    assert len(ndjson_entries(body)) == 5
    assert split_provenance(body)[1]["status"] == "complete"
    again = owner_api.get(API, {"format": "csv"})
    assert again.status_code == 200  # read to the end, the first export gave its slot back
    b"".join(again.streaming_content)


def test_the_download_button_is_refused_with_a_page(one_export_at_a_time, world, owner_api):
    streaming = owner_api.get(API)
    client = signed_in(world.people["owner"])
    refused = client.get(PAGE, {"format": "csv"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused["Content-Type"].startswith("text/html")
    assert export_slots.BUSY_MESSAGE in refused.content.decode()
    hang_up(streaming)
    assert client.get(PAGE, {"format": "csv"}).status_code == 200


def test_an_abandoned_or_failed_stream_gives_its_slot_back(
    one_export_at_a_time, owner_api, monkeypatch
):
    abandoned = owner_api.get(API)
    next(iter(abandoned.streaming_content))  # the client read a little, then hung up
    assert owner_api.get(API).status_code == 429  # still streaming: it holds the one slot
    hang_up(abandoned)
    assert export_slots.streaming() == 0

    real_entries = export_rows._entries

    def broken(directory, queryset):
        for entry in real_entries(directory, queryset):
            yield entry  # the first row is sent...
            raise ConnectionError("the database went away mid-stream")

    monkeypatch.setattr(export_formats, "FLUSH_AT", 10)  # a piece per row
    monkeypatch.setattr(export_rows, "_entries", broken)
    failing = owner_api.get(API)
    assert export_slots.streaming() == 1
    with pytest.raises(ConnectionError):
        b"".join(failing.streaming_content)
    assert export_slots.streaming() == 0
    monkeypatch.undo()
    again = owner_api.get(API)
    assert again.status_code == 200
    hang_up(again)


def test_the_limit_is_per_process_and_defaults_above_one(settings, owner_api):
    assert settings.CONNLOGS_MAX_EXPORTS_PER_PROCESS == 4
    held = [owner_api.get(API) for _ in range(4)]
    assert [r.status_code for r in held] == [200] * 4
    assert_refused_in_the_api_shape(owner_api.get(API))
    for response in held:
        hang_up(response)
    assert export_slots.streaming() == 0
