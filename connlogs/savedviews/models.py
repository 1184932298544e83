"""Saved views: a name, a ``q`` and display choices, personal or shared; and each user's start
view (the one ``/connectionlog`` opens with).

A view is a query, never a grant: whoever opens it reads the rows their own role lets them
read (``connlogs.savedviews.access``).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_Q = 2000


class Sharing(models.TextChoices):
    PERSONAL = "personal"  # its owner only
    ORGANIZATION = "organization"  # the members of one organization
    EVERYONE = "everyone"  # every signed-in user


def keep_shared_views(collector, field, sub_objs, using) -> None:
    """``on_delete`` of a view's owner: their personal views go with them; views they shared
    stay, owned by nobody, until an owner or organization admin gives them a new owner."""
    personal = sub_objs.filter(sharing=Sharing.PERSONAL)
    shared = sub_objs.exclude(sharing=Sharing.PERSONAL)
    models.CASCADE(collector, field, personal, using)
    collector.add_field_update(field, None, shared)


class SavedView(models.Model):
    """A saved search. ``page_size``, ``time_zone`` and ``columns`` are the list page's display
    choices; each is null (blank for the zone) when the view leaves it to the page."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=MAX_NAME)
    description = models.TextField(blank=True, default="", max_length=MAX_DESCRIPTION)
    q = models.TextField(blank=True, default="")
    page_size = models.PositiveSmallIntegerField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, default="")
    columns = models.JSONField(null=True, blank=True)
    sharing = models.CharField(max_length=16, choices=Sharing.choices, default=Sharing.PERSONAL)
    organization = models.ForeignKey(
        "connlogs.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_views",
    )
    owner = models.ForeignKey(
        "connlogs.User",
        on_delete=keep_shared_views,
        null=True,
        blank=True,
        related_name="saved_views",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(sharing=Sharing.PERSONAL, owner__isnull=False, organization__isnull=True)
                    | Q(sharing=Sharing.ORGANIZATION, organization__isnull=False)
                    | Q(sharing=Sharing.EVERYONE, organization__isnull=True)
                ),
                name="saved_view_sharing_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StartView(models.Model):
    """The view a user's ``/connectionlog`` opens with: a saved view or a built-in one
    (``preset``, a key of ``connlogs.savedviews.presets.PRESETS``). Deleting the view deletes
    the choice; a view the user may no longer see is ignored when read."""

    user = models.OneToOneField(
        "connlogs.User", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    view = models.ForeignKey(
        SavedView, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    preset = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(view__isnull=False, preset="") | Q(view__isnull=True) & ~Q(preset=""),
                name="start_view_one_choice",
            ),
        ]

    def __str__(self) -> str:
        return f"start view of {self.user_id}"
