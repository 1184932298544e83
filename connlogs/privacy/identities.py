"""What one viewer, or one stream, is shown of the people and addresses in log rows.

A row is *protected* when data protection mode is on for its organization (the site setting
``CONNLOGS_DATA_PROTECTION``, or ``Organization.data_protection``). A protected row is
*concealed* from a viewer who may not reveal identities (``roles.may_reveal_identities``):
its workspace owner, its web user and its address are replaced by their pseudonyms. A
protected row shown in clear to a viewer who may reveal is a *reveal*, which the access log
records (``Identities.revealed``).

``Identities`` is made per read (``for_viewer``) or per stream batch (``for_stream``: no
request, no viewer) and used by every door:

* model rows (list, detail, admin, chart-free pages, the feed): ``conceal_row``;
* export tuples: ``connlogs.export.rows`` asks ``conceals`` once per organization and
  ``user`` / ``ip`` once per distinct value (cached);
* contract JSON (change feed, outbound streams): ``serializers.conceal_entry``.

It records every pseudonym it shows (``shown``); ``remember`` indexes them after the
response, so that each can be typed back into ``q`` (``connlogs.privacy.resolve``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings

from connlogs import roles
from connlogs.models import ConnectionLog, Organization, Pseudonym, User, Workspace
from connlogs.privacy import pseudonyms
from connlogs.privacy.deferred import after_response

MODE_ON, MODE_ORGANIZATIONS, MODE_OFF = "on", "organizations", "off"

# Times of a pseudonymous user object: Go's zero time, what a Coder client reads as "unset".
ZERO_TIME = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


def protected_organization_ids() -> list[uuid.UUID]:
    """The organizations that turned data protection mode on for themselves (one query)."""
    return list(
        Organization.objects.filter(data_protection=True).order_by().values_list("pk", flat=True)
    )


class Identities:
    """The identities shown in one read.

    ``reveal``  the reader may see real identities in protected rows;
    ``mode``    ``CONNLOGS_DATA_PROTECTION``: ``"on"`` (every organization), ``"organizations"``
                (those with ``data_protection`` set) or ``"off"``;
    ``revealed`` set once a protected row was shown in clear (a reveal);
    ``shown``   ``{pseudonym: (kind, value)}`` of the pseudonyms shown so far.
    """

    def __init__(self, *, reveal: bool, mode: str | None = None):
        self.reveal = reveal
        self.mode = mode or settings.CONNLOGS_DATA_PROTECTION
        self.revealed = False
        self.shown: dict[str, tuple[str, str]] = {}
        self._key: pseudonyms.Key | None = None
        self._protected_ids: frozenset[str] | None = None

    @classmethod
    def for_viewer(cls, viewer: User) -> Identities:
        """What ``viewer`` is shown (no query: roles and settings only)."""
        return cls(reveal=roles.may_reveal_identities(viewer))

    @classmethod
    def for_stream(cls, *, pseudonymise: bool = True) -> Identities:
        """What a stream without a viewer sends (an outbound stream, a feed consumer):
        protected rows pseudonymised unless a site owner chose otherwise for the stream."""
        return cls(reveal=not pseudonymise)

    @property
    def enabled(self) -> bool:
        return self.mode != MODE_OFF

    @property
    def key(self) -> pseudonyms.Key:
        # Read only once a protected row is concealed: a read with the mode off costs nothing.
        if self._key is None:
            self._key = pseudonyms.current_key()
        return self._key

    # --- which rows -----------------------------------------------------------------------

    def protects(self, organization: Organization) -> bool:
        """Whether data protection mode covers rows of ``organization`` (a loaded model)."""
        return self.protects_flag(organization.data_protection)

    def protects_flag(self, data_protection: bool) -> bool:
        """``protects`` of an organization whose ``data_protection`` flag was read."""
        return self.mode == MODE_ON or (self.mode == MODE_ORGANIZATIONS and bool(data_protection))

    def protects_id(self, organization_id: uuid.UUID | str) -> bool:
        """``protects`` by id (for JSON entries): one query per ``Identities`` at most."""
        if self.mode != MODE_ORGANIZATIONS:
            return self.mode == MODE_ON
        if self._protected_ids is None:
            self._protected_ids = frozenset(str(pk) for pk in protected_organization_ids())
        return str(organization_id) in self._protected_ids

    def conceals(self, protected: bool) -> bool:
        """Whether a row is shown with pseudonyms; a protected row shown in clear is noted
        as a reveal."""
        if not protected:
            return False
        if self.reveal:
            self.revealed = True
            return False
        return True

    # --- what is shown instead ------------------------------------------------------------

    def user(self, user_id: uuid.UUID | str) -> pseudonyms.UserPseudonym:
        found = self.key.user(user_id)
        self.shown[found.username] = (Pseudonym.Kind.USER, str(user_id))
        return found

    def ip(self, address: str) -> str:
        found = self.key.ip(address)
        self.shown[found] = (Pseudonym.Kind.IP, str(address))
        return found

    def stand_in(
        self,
        user_id: uuid.UUID | str,
        status: str = User.Status.ACTIVE,
        login_type: str = User.LoginType.NONE,
    ) -> User:
        """An unsaved user that carries only a pseudonym: no name, no avatar, no roles, Go's
        zero time for its times. Status and login type stay (they describe patterns, not a
        person). Assigned to a row, it cannot be saved back."""
        found = self.user(user_id)
        return User(
            id=found.id,
            username=found.username,
            email=found.email,
            name="",
            avatar_url="",
            status=status,
            login_type=login_type,
            site_roles=[],
            created_at=ZERO_TIME,
            updated_at=ZERO_TIME,
            last_seen_at=ZERO_TIME,
        )

    def conceal_row(self, row: ConnectionLog) -> ConnectionLog:
        """``row`` (loaded with ``with_related()``) as this reader sees it, changed in place.

        A concealed row's owner, web user and address become stand-ins and pseudonyms, so
        every later step (the JSON entry, a page, the admin) shows only those; its
        ``identities_concealed`` says so. Applied once.
        """
        if getattr(row, "_identities_applied", False):
            return row
        row._identities_applied = True
        row.identities_concealed = self.conceals(self.protects(row.organization))
        if not row.identities_concealed:
            return row
        row.workspace_owner = self.stand_in(row.workspace_owner_id)
        if row.user_id is not None:
            row.user = self.stand_in(row.user_id, row.user.status, row.user.login_type)
        if row.ip:
            row.ip = self.ip(row.ip)
        return row

    def conceal_workspace(self, workspace: Workspace, viewer: User) -> dict:
        """``{"owner_id", "owner_name"}`` of ``workspace`` (loaded with its owner and
        organization) as ``viewer`` is shown them: the pseudonym its log rows show, unless
        ``viewer`` owns it or may see the real owner. A workspace's id is in every log row,
        so the directory must not name the person the log hides."""
        owner_id, owner_name = workspace.owner_id, workspace.owner.username
        if owner_id != viewer.pk and self.conceals(self.protects(workspace.organization)):
            owner = self.user(owner_id)
            owner_id, owner_name = owner.id, owner.username
        return {"owner_id": str(owner_id), "owner_name": owner_name}

    # --- after the response ---------------------------------------------------------------

    def remember(self) -> None:
        """Index the pseudonyms shown (one INSERT at most; none when all are known)."""
        if self.shown:
            pseudonyms.remember(self.key, dict(self.shown))

    def remember_after_response(self) -> None:
        after_response(self.remember)
