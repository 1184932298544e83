"""Only typed values and words of the type vocabulary are ever written into a search's SQL
(``connlogs.literals``); anything else, above all text a person or an agent sent,
stays a bound parameter."""

import datetime as dt
import uuid

import pytest
from django.db import connection

from connlogs.literals import Written, literal
from connlogs.models import ConnectionLog
from tests.factories import ConnectionLogFactory, OrganizationFactory, WorkspaceFactory

AN_ID = "bd9c66b3-ad3c-4d6d-9a3d-1fa7bc8960a9"


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
        (uuid.UUID(AN_ID), f"'{AN_ID}'::uuid"),
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
        AN_ID,  # an id as text, not a UUID: not known to be one
        f"{AN_ID}'::uuid OR true --",
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


@pytest.mark.django_db
def test_organizations_compare_by_instance_id_or_list_and_are_written_on_postgresql():
    """The log's organization lookups (a search's ``organization:``, every reader's scope)
    take a model instance, an id or a list, answer the same, and on PostgreSQL carry the
    ids in the SQL (one statement an organization: ``literals``' docstring)."""
    acme, globex = OrganizationFactory(), OrganizationFactory()
    mine = ConnectionLogFactory(workspace=WorkspaceFactory(organization=acme))
    ConnectionLogFactory(workspace=WorkspaceFactory(organization=globex))
    log = ConnectionLog.objects
    for matching in (
        log.filter(organization=acme),
        log.filter(organization_id=acme.id),
        log.filter(organization__in=[acme]),
        log.filter(organization_id__in=[acme.id, uuid.uuid4()]),
    ):
        assert list(matching) == [mine]
        sql, params = matching.query.sql_with_params()
        if connection.vendor == "postgresql":
            assert params == () and f"'{acme.id}'::uuid" in sql
        else:
            assert params
