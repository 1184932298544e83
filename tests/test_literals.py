"""Only typed values and words of the type vocabulary are ever written into a search's SQL
(``connlogs.search.literals``); anything else, above all text a person or an agent sent,
stays a bound parameter."""

import datetime as dt

import pytest

from connlogs.models import ConnectionLog
from connlogs.search.literals import Written, literal


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (400, "400"),
        (-1, "-1"),
        ("port_forwarding", "'port_forwarding'"),
        (dt.timedelta(hours=1), "'0 days 3600 seconds 0 microseconds'::interval"),
        (
            dt.datetime(2026, 11, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
            "'2026-11-02T03:04:05.000006+00:00'::timestamptz",
        ),
    ],
)
def test_typed_values_and_type_words_are_written(value, written):
    assert literal(value) == written


@pytest.mark.parametrize(
    "value",
    [
        "ssh' OR '1'='1",
        "SSH",
        "ssh ",
        "x" * 33,
        "",
        "ssh;--",
        "é",
        True,
        1.5,
        None,
        dt.datetime(2026, 11, 2),  # no time zone: its meaning depends on the session
        b"ssh",
    ],
)
def test_anything_else_stays_bound(value):
    assert literal(value) is None


@pytest.mark.django_db
def test_a_value_that_cannot_be_written_is_bound_and_still_matches():
    """A type value outside the vocabulary's shape (never valid in ``q``, but possible from
    code) is sent as a parameter: the query still runs and answers correctly."""
    odd = "ssh' OR '1'='1"
    assert not ConnectionLog.objects.filter(type__in=[odd, "ssh"], code=Written(7)).exists()
    sql, params = ConnectionLog.objects.filter(type__in=[odd]).query.sql_with_params()
    assert odd in params and odd not in sql
