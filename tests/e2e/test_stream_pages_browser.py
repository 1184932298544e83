"""A stream made from the page in a real browser: the form, a refusal next to its field, the
new stream's health row, and that row after a delivery round (to a loopback receiver)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from connlogs.streams import delivery
from connlogs.streams.models import Stream
from tests.e2e.test_follow_and_views import post_connect, world  # noqa: F401 - shared fixture
from tests.e2e.test_phone_and_refresh import sign_in
from tests.streams.receivers import HttpReceiver

STREAMS = "/connectionlog/streams"


@pytest.fixture
def receiver():
    http = HttpReceiver()
    yield http
    http.stop()


def test_a_stream_made_on_the_page_shows_its_health_and_delivers(
    page: Page,
    live_server,
    world,  # noqa: F811
    receiver,
):
    sign_in(page, live_server, "root", STREAMS)
    page.get_by_role("link", name="New stream").click()

    page.get_by_label("Name").fill("siem <b>one</b>")
    page.get_by_label("Kind").select_option("splunk_hec")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("From the oldest change the feed keeps").check()
    page.get_by_role("button", name="Create stream").click()
    # A Splunk HEC stream needs its token: said next to the secret field, nothing saved.
    expect(page.locator("#field-secret .field-error")).to_have_text(
        "A Splunk HEC stream needs its token."
    )
    assert not Stream.objects.exists()
    page.get_by_label("Secret").fill("hec-token-1")
    page.get_by_role("button", name="Create stream").click()

    expect(page).to_have_url(live_server.url + STREAMS)
    expect(page.get_by_role("status")).to_contain_text("created")
    row = page.get_by_role("row", name="siem <b>one</b>")
    expect(row).to_contain_text("Splunk HTTP Event Collector")
    expect(row).to_contain_text("Running")
    expect(row).to_contain_text("never")
    assert "hec-token-1" not in page.content()

    post_connect(live_server, world, "main")
    delivery.deliver_round(Stream.objects.get().pk, "e2e-worker")
    page.reload()

    row = page.get_by_role("row", name="siem <b>one</b>")
    expect(row.get_by_role("cell").nth(7)).to_have_text("1")  # delivered in the last hour
    expect(row).not_to_contain_text("never")
    assert receiver.bodies[0][0]["Authorization"] == "Splunk hec-token-1"

    row.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("row", name="siem <b>one</b>")).to_contain_text("Paused")
