"""The pseudonym key and the index of the pseudonyms shown (registered by ``connlogs.models``).

Imports no other connlogs module: ``connlogs.models`` imports this one.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PseudonymKey(models.Model):
    """One generation of the pseudonym key: a random salt that, mixed with the deployment's
    secret (``CONNLOGS_PSEUDONYM_SECRET``), keys the HMAC of every pseudonym. The newest row
    is the key in use; ``manage.py rotate_pseudonym_key`` adds one and deletes the others
    (and with them the index of what the old key made)."""

    salt = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        app_label = "connlogs"

    def __str__(self) -> str:
        return f"pseudonym key {self.pk} of {self.created_at:%Y-%m-%d %H:%M}"


class Pseudonym(models.Model):
    """A pseudonym that was shown, and the value it stands for.

    An HMAC cannot be reversed, so a pseudonym typed into a search (``workspace_owner:user-…``)
    is found here. Rows are added after a response that showed new pseudonyms
    (``connlogs.privacy.identities``): only what was shown can be typed back. ``value`` is a
    user id (``kind`` user) or an address (``kind`` ip), as stored in the log.
    """

    class Kind(models.TextChoices):
        USER = "user"
        IP = "ip"

    token = models.CharField(primary_key=True, max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=64)
    key = models.ForeignKey(PseudonymKey, on_delete=models.CASCADE, related_name="+")

    class Meta:
        app_label = "connlogs"

    def __str__(self) -> str:
        return f"{self.kind} pseudonym {self.token}"
