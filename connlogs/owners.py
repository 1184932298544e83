"""The site keeps at least one active owner, also when owners change each other at once.

Every path that can take ownership away — a change of site roles (the API's
``PUT /api/v2/users/{user}/roles``, the admin's user form, ``manage.py set_roles``), a
suspension (the admin's user form), a deletion (the admin) — calls ``keep_an_owner`` inside
the transaction that writes the change. It locks the rows of the owners and of the users
being changed (``SELECT ... FOR UPDATE``, in primary-key order, so two such transactions
never deadlock), reads them again under the lock and refuses a change that would leave no
active owner. Of two owners demoting each other at the same moment, the second waits for the
first to commit, then sees that it is the last owner.

On SQLite the write transaction itself is the lock (``transaction_mode`` IMMEDIATE).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.db import transaction

from connlogs import roles
from connlogs.models import User

LAST_OWNER = "The site must keep at least one owner."

# What happens to a user: new field values ({"site_roles": [...], "status": "..."}), or
# None when the user is deleted.
Change = Mapping[str, object] | None


class LastOwnerError(Exception):
    """The change would leave the site without an active owner."""

    def __init__(self) -> None:
        super().__init__(LAST_OWNER)


def _is_active_owner(row: Mapping[str, object]) -> bool:
    return roles.OWNER in (row["site_roles"] or []) and row["status"] != User.Status.SUSPENDED


def keep_an_owner(changes: Mapping[uuid.UUID, Change]) -> None:
    """Raise ``LastOwnerError`` if applying ``changes`` (user id -> ``Change``) would leave no
    active owner where there is one now.

    Call it inside the ``transaction.atomic()`` block that then writes the change: the row
    locks it takes last until that block commits.
    """
    with transaction.atomic():
        # Owners are few; JSON containment is not available on SQLite, so scan the column.
        owner_ids = {
            pk
            for pk, site_roles in User.objects.values_list("pk", "site_roles")
            if roles.OWNER in (site_roles or [])
        }
        locked = (
            User.objects.select_for_update()
            .filter(pk__in=owner_ids | set(changes))
            .order_by("pk")
            .values("pk", "site_roles", "status")
        )
        before = after = 0
        for row in locked:
            before += _is_active_owner(row)
            if row["pk"] in changes:
                change = changes[row["pk"]]
                if change is None:
                    continue
                row = {**row, **change}
            after += _is_active_owner(row)
        if before and not after:
            raise LastOwnerError()
