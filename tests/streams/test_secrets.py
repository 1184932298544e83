"""Streams' secrets at rest: the database column never holds the plaintext; a wrong key is the
stream's last error (the worker goes on); rotation re-encrypts with the new key; the
migration encrypts the plaintext secrets kept before it and can give them back."""

from __future__ import annotations

import importlib
import io

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from connlogs.alerts.models import AlertRule
from connlogs.streams import delivery
from connlogs.streams.models import Stream, StreamKind
from tests.conftest import as_user
from tests.feed.conftest import connect, record

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
MIGRATION = importlib.import_module("connlogs.migrations.0014_stream_secrets")


def stored(stream_id) -> str:
    """The secret column as the database holds it (raw SQL: no model code in between)."""
    table = connection.ops.quote_name(Stream._meta.db_table)
    with connection.cursor() as cursor:
        key = Stream._meta.pk.get_db_prep_value(stream_id, connection)
        cursor.execute(f"SELECT secret_encrypted FROM {table} WHERE id = %s", [key])
        return cursor.fetchone()[0]


def test_the_database_never_holds_the_plaintext_secret(world):
    created = as_user(world.owner).post(
        "/api/v2/connectionlog/streams",
        {"name": "hec", "kind": "splunk_hec", "url": "http://127.0.0.1:9/", "secret": "tok-42"},
        format="json",
    )
    stream = Stream.objects.get(pk=created.json()["id"])

    column = stored(stream.pk)
    assert column and "tok-42" not in column
    assert stream.secret_value() == "tok-42"


@override_settings(CONNLOGS_SECRETS_KEY=[OLD_KEY])
def test_a_wrong_key_is_the_streams_last_error_not_a_crash(world, receiver, make_stream):
    record(connect(world.acme_ws))
    stream = make_stream(kind=StreamKind.SPLUNK_HEC, url=receiver.url, secret="hec-token")

    with override_settings(CONNLOGS_SECRETS_KEY=[NEW_KEY]):
        result = delivery.deliver_round(stream.pk, "w1")

    stream.refresh_from_db()
    assert result.claimed and result.records == 0
    assert "cannot be decrypted" in stream.last_error and "hec-token" not in stream.last_error
    assert stream.failures == 1 and stream.lease_owner == "" and receiver.records == []
    with override_settings(CONNLOGS_SECRETS_KEY=[NEW_KEY, OLD_KEY]):  # the old key back
        assert delivery.deliver_round(stream.pk, "w1").records == 1
    assert receiver.bodies[0][0]["Authorization"] == "Splunk hec-token"


def test_rotation_re_encrypts_every_secret_with_the_new_key(world, make_stream):
    with override_settings(CONNLOGS_SECRETS_KEY=[OLD_KEY]):
        stream = make_stream(url="http://127.0.0.1:9/", secret="hmac-key")
        make_stream(name="none", url="http://127.0.0.1:9/")
        rule = AlertRule(name="r", kind="each_match", channel="webhook", created_by=world.owner)
        rule.set_secret("rule-key")
        rule.save()
    before = stored(stream.pk)

    with override_settings(CONNLOGS_SECRETS_KEY=[NEW_KEY, OLD_KEY]):
        call_command("reencrypt_stream_secrets", stdout=io.StringIO())

    assert stored(stream.pk) != before
    with override_settings(CONNLOGS_SECRETS_KEY=[NEW_KEY]):  # the old key dropped
        assert Stream.objects.get(pk=stream.pk).secret_value() == "hmac-key"
        assert AlertRule.objects.get(pk=rule.pk).secret_value() == "rule-key"


@override_settings(CONNLOGS_SECRETS_KEY=[OLD_KEY])
def test_rotation_names_a_secret_no_key_opens(world, make_stream):
    make_stream(name="lost", url="http://127.0.0.1:9/", secret="k")

    with override_settings(CONNLOGS_SECRETS_KEY=[NEW_KEY]):
        with pytest.raises(CommandError, match="lost"):
            call_command("reencrypt_stream_secrets", stdout=io.StringIO())


def test_the_migration_encrypts_plaintext_secrets_and_reverses(world, make_stream):
    stream = make_stream(url="http://127.0.0.1:9/")
    Stream.objects.filter(pk=stream.pk).update(secret_encrypted="from-before")  # as 0010 kept it

    MIGRATION.encrypt_plaintext(apps, connection.schema_editor())
    assert "from-before" not in stored(stream.pk)
    assert Stream.objects.get(pk=stream.pk).secret_value() == "from-before"
    MIGRATION.encrypt_plaintext(apps, connection.schema_editor())  # twice: still once
    assert Stream.objects.get(pk=stream.pk).secret_value() == "from-before"

    MIGRATION.decrypt_to_plaintext(apps, connection.schema_editor())
    assert stored(stream.pk) == "from-before"


@override_settings(CONNLOGS_SECRETS_KEY=["not-a-fernet-key"])
def test_a_malformed_key_says_what_a_key_looks_like(world, make_stream):
    with pytest.raises(ImproperlyConfigured, match="32 url-safe base64-encoded bytes"):
        make_stream(url="http://127.0.0.1:9/", secret="s")
