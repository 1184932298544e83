"""A search by a person who exists and one by a made-up person answer a reader shown
pseudonyms the same, byte for byte apart from the value echoed, in every mode and for every
person key: "No user named …" (Coder's empty answer explained, on the pages) would otherwise
tell them which real names exist."""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

import pytest
from django.test import Client

from connlogs.models import Organization
from tests.conftest import as_user

LIST = "/api/v2/connectionlog"
# (key, a real value, a made-up one)
PERSON_SEARCHES = (
    ("workspace_owner", "alice-owner", "zed-nobody-x"),
    ("username", "bob-user", "zed-nobody-x"),
    ("workspace_owner_email", "alice@corp.example", "zed@corp.example"),
    ("user_email", "bob@corp.example", "zed@corp.example"),
    ("workspace", "alice-owner/dev", "zed-nobody-x/dev"),
    ("-workspace_owner", "alice-owner", "zed-nobody-x"),
    ("-user_email", "bob@corp.example", "zed@corp.example"),
)
MODES = ("on", "organizations", "off")


@pytest.fixture(params=MODES)
def mode(request, settings, people):
    settings.CONNLOGS_DATA_PROTECTION = request.param
    if request.param == "organizations":
        Organization.objects.filter(pk=people.acme.pk).update(data_protection=True)
    return request.param


def echo_free(body: bytes, value: str) -> bytes:
    """``body`` with ``value`` (as typed, escaped, in addresses) and the page's per-request
    tokens taken out."""
    text = body.decode()
    for form in {quote_plus(value), quote(value, safe=""), quote(value), value}:
        text = text.replace(form, "VALUE")
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    # How long an ongoing session has lasted ticks between the two requests, and so may the
    # minute that ends the chart's window ("31 Oct 2026, 05:36", "2026-11-30T05:36:00Z").
    text = re.sub(r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2}", "WHEN", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z", "WHEN", text)
    return re.sub(r'(data-since="[^"]+">)[^<]*', r"\1", text).encode()


def answers(reader, key: str, value: str) -> tuple[bytes, bytes]:
    q = f"{key}:{value} type:ssh"
    page = Client()
    page.force_login(reader)
    html = page.get("/connectionlog", {"q": q})
    api = as_user(reader).get(LIST, {"q": q})
    assert html.status_code == api.status_code == 200
    return echo_free(html.content, value), echo_free(api.content, value)


@pytest.mark.parametrize(("key", "real", "made_up"), PERSON_SEARCHES)
def test_a_real_name_and_a_made_up_one_answer_alike_who_sees_pseudonyms(
    people, mode, key, real, made_up
):
    reader = people.auditor  # reads acme (protected but with the mode off)
    for_real, for_made_up = answers(reader, key, real), answers(reader, key, made_up)
    if mode == "off":
        # Everyone sees real names: the page says which name is no one's.
        assert b"No user" not in for_real[0]
        if not key.startswith(("-", "workspace")) or key == "workspace_owner":
            assert b"No user" in for_made_up[0]
        return
    assert for_real[1] == for_made_up[1]
    assert for_real[0] == for_made_up[0]
    assert b"No user" not in for_made_up[0]


def test_who_sees_identities_is_still_told_a_name_is_no_ones(people, settings):
    settings.CONNLOGS_DATA_PROTECTION = "organizations"
    Organization.objects.filter(pk=people.acme.pk).update(data_protection=True)
    page = Client()
    page.force_login(people.viewer)
    html = page.get("/connectionlog", {"q": "workspace_owner:zed-nobody-x"}).content
    assert b"No user named &quot;zed-nobody-x&quot;" in html
