"""Streams' fixtures: the feed's small world, loopback receivers, and a stream factory."""

from __future__ import annotations

import pytest

from connlogs.streams.models import Stream, StreamKind
from tests.feed.conftest import world  # noqa: F401 - the feed's fixture, shared
from tests.streams.receivers import HttpReceiver


@pytest.fixture
def receiver():
    http = HttpReceiver()
    yield http
    http.stop()


@pytest.fixture
def make_stream(world):  # noqa: F811
    def make(**fields) -> Stream:
        fields.setdefault("name", "siem")
        fields.setdefault("kind", StreamKind.HTTP)
        fields.setdefault("created_by", world.owner)
        secret = fields.pop("secret", "")
        stream = Stream(**fields)
        stream.set_secret(secret)
        stream.save()
        return stream

    return make
