"""A text field's length limit holds for the text as sent, as the OpenAPI schema says
(``maxLength``): whitespace around a value counts, on every door that takes a body."""

from __future__ import annotations

import pytest

from connlogs.alerts.models import AlertRule
from connlogs.savedviews.models import SavedView
from connlogs.streams.models import Stream

NAME_LIMIT = 100
PADDED = "siem" + " " * NAME_LIMIT  # 104 characters: 4 once trimmed

DOORS = [
    ("/api/v2/connectionlog/views", {"q": "type:ssh"}, SavedView),
    ("/api/v2/connectionlog/streams", {"kind": "http", "url": "http://127.0.0.1:9/"}, Stream),
    (
        "/api/v2/connectionlog/alerts/rules",
        {"kind": "each_match", "channel": "webhook", "url": "http://127.0.0.1:9/"},
        AlertRule,
    ),
]


@pytest.mark.parametrize("url, body, model", DOORS, ids=["views", "streams", "alert rules"])
def test_a_padded_value_over_the_limit_is_refused_naming_its_field(owner_api, url, body, model):
    response = owner_api.post(url, {**body, "name": PADDED}, format="json")
    assert response.status_code == 400, response.content
    assert [v["field"] for v in response.json()["validations"]] == ["name"]
    assert not model.objects.exists()
    # At the limit, the same padding is taken (and trimmed, as before).
    fits = "siem" + " " * (NAME_LIMIT - 4)
    assert owner_api.post(url, {**body, "name": fits}, format="json").status_code == 201


def test_a_secret_is_kept_exactly_as_given(owner_api):
    made = owner_api.post(
        "/api/v2/connectionlog/streams",
        {"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/", "secret": " key \t"},
        format="json",
    )
    assert made.status_code == 201
    assert Stream.objects.get().secret_value() == " key \t"
