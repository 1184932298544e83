"""Streams' secrets encrypted at rest: the column is renamed (``secret_encrypted``, so no
code reads a token as if it were the plaintext) and every plaintext secret is encrypted with
the keys of ``CONNLOGS_SECRETS_KEY`` (docs/streams.md).

Reversible while the key is at hand: going back decrypts every secret to its plaintext. A
secret no key decrypts stops the reverse (it would otherwise be lost), naming the stream.
"""

from django.db import migrations

from connlogs.streams import secrets


def encrypt_plaintext(apps, schema_editor):
    Stream = apps.get_model("connlogs", "Stream")
    for stream in Stream.objects.exclude(secret_encrypted="").only("pk", "secret_encrypted"):
        if not secrets.is_encrypted(stream.secret_encrypted):
            stream.secret_encrypted = secrets.encrypt(stream.secret_encrypted)
            stream.save(update_fields=["secret_encrypted"])


def decrypt_to_plaintext(apps, schema_editor):
    Stream = apps.get_model("connlogs", "Stream")
    for stream in Stream.objects.exclude(secret_encrypted="").only("pk", "secret_encrypted"):
        try:
            stream.secret_encrypted = secrets.decrypt(stream.secret_encrypted)
        except secrets.SecretUnreadable as error:
            raise RuntimeError(f"stream {stream.pk}: {error}") from None
        stream.save(update_fields=["secret_encrypted"])


class Migration(migrations.Migration):
    dependencies = [
        ("connlogs", "0013_alert_rules"),
    ]

    operations = [
        migrations.RenameField(
            model_name="stream", old_name="secret", new_name="secret_encrypted"
        ),
        migrations.RunPython(encrypt_plaintext, decrypt_to_plaintext, elidable=False),
    ]
