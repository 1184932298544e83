"""Creating and changing a rule, for the API and the alerts page alike: every check a rule
must pass before it is saved, in one place.

``apply(user, rule, data)`` sets the fields ``data`` carries (the organization already
resolved to an ``Organization`` or ``None``), then checks the search (``q`` or ``view``, valid
for ``user``, not both), the organization (``access.may_target``), the kind's numbers and the
channel's destination. Raises ``RuleInvalid`` (the contract's validations),
``RuleForbidden`` or ``outbound.SendsIdentities``; saves nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from connlogs import destinations, roles, unread
from connlogs.alerts import access
from connlogs.alerts.models import AlertRule, Channel, RuleKind
from connlogs.feed.reading import latest_seq
from connlogs.privacy import outbound
from connlogs.privacy.shown_query import ShownQuery, kept_as_stored
from connlogs.savedviews.resolve import NOT_VISIBLE, find_view
from connlogs.search.grammar import Validation
from connlogs.search.request import LogSearch

FIELDS = (
    "name", "kind", "q", "view", "threshold", "window_minutes", "new_address_days",
    "cooldown_minutes", "channel", "url", "email_to", "paused",
)  # fmt: skip
# What a rule sends and where (``_check_steering``): its fields, organization and secret.
GUARDED_FIELDS = (*FIELDS, "organization_id", "secret_encrypted")
MAX_RECIPIENTS = 20
# What each kind and each channel reads. A rule keeps every number and destination (the
# stored defaults), but a body that sets one its kind or channel never reads is refused, as
# the events endpoint refuses a field an event type does not carry.
KIND_FIELDS = {
    RuleKind.EACH_MATCH: (),
    RuleKind.THRESHOLD: ("threshold", "window_minutes"),
    RuleKind.NEW_ADDRESS: ("new_address_days",),
}
CHANNEL_FIELDS = {
    Channel.WEBHOOK: ("url", "secret"),
    Channel.SLACK: ("url",),
    Channel.EMAIL: ("email_to",),
}
FORBIDDEN_TARGET = (
    "Organization admins watch their own organizations' rows (name one); site owners any "
    "organization's or all of them."
)


def _check_steering(user: roles.User, rule: AlertRule, before: dict) -> None:
    """What a rule sends, and where, changes only by someone who sees what its creator reads
    (``privacy.outbound``: its search finds people by the names its creator sees, whatever
    its channel); raises ``SendsIdentities``."""
    if rule._state.adding or not outbound.reads_beyond(user, rule.created_by):
        return
    after = outbound.settings_of(rule, GUARDED_FIELDS)
    outbound.check_unchanged(
        before, after, outbound.READS_AS_CREATOR, thing="rule", creator=rule.created_by.username
    )


class RuleInvalid(Exception):
    """The rule cannot be saved: ``validations`` say why, by field."""

    def __init__(self, validations: list[Validation]):
        self.validations = validations
        super().__init__("; ".join(f"{v.field}: {v.detail}" for v in validations))


class RuleForbidden(Exception):
    """The user may not keep a rule on that organization (or on all of them)."""


def _search(user: roles.User, rule: AlertRule, data: dict) -> list[Validation]:
    if "q" in data and data["q"].strip() and "view" not in data:
        rule.view = ""  # a new q replaces the view, and a new view the q
    if "view" in data and data["view"] and "q" not in data:
        rule.q = ""
    if rule.q.strip() and rule.view:
        return [Validation("view", 'A rule watches a "q" or a "view", not both.')]
    # Checked when set: a rule keeps working, and can be paused or renamed, when its view is
    # one the editor cannot see (another user's, or since deleted), as a stream does.
    if rule.view and "view" in data and find_view(rule.view, user) is None:
        return [Validation("view", NOT_VISIBLE)]
    return list(LogSearch.for_user(user, rule.q).validations) if rule.q else []


def _recipients_error(email_to: str) -> str:
    recipients = [address.strip() for address in email_to.split(",") if address.strip()]
    if not recipients:
        return "An email rule needs at least one address."
    if len(recipients) > MAX_RECIPIENTS:
        return f"At most {MAX_RECIPIENTS} addresses."
    for address in recipients:
        try:
            validate_email(address)
        except ValidationError:
            return f'"{address}" is not an email address.'
    return ""


def _destination(rule: AlertRule, before: dict) -> list[Validation]:
    if rule.channel == Channel.EMAIL:
        error = _recipients_error(rule.email_to)
        return [Validation("email_to", error)] if error else []
    unchanged = (rule.url, rule.channel) == (before["url"], before["channel"])
    if unchanged and not rule._state.adding:
        # Checked when set (the page sends every field back): a rule saved under older
        # checks can still be paused or renamed.
        return []
    try:
        destinations.http_url(rule.url)
    except ValidationError as error:
        return [
            Validation("url", f'A "{rule.channel}" rule needs an http(s) URL: {error.messages[0]}')
        ]
    return []


def unused_fields(kind: str, channel: str) -> set[str]:
    """The numbers and destination fields a rule of this kind and channel never reads
    (``KIND_FIELDS``, ``CHANNEL_FIELDS``; ``unread.unread_of``)."""
    return unread.unread_of(KIND_FIELDS, kind) | unread.unread_of(CHANNEL_FIELDS, channel)


def _unused(rule: AlertRule, data: dict, before: dict) -> list[Validation]:
    """A field ``data`` sets that the rule's kind or channel never reads
    (``unread.set_unread``: a secret can always be removed, a stored value sent back)."""
    detail = f'Not read by rules of kind "{rule.kind}" sent by "{rule.channel}".'
    unused = unused_fields(rule.kind, rule.channel)
    return [Validation(name, detail) for name in unread.set_unread(unused, data, before)]


def _numbers(rule: AlertRule) -> list[Validation]:
    limits = {
        "threshold": (1, 10_000),
        "window_minutes": (1, 24 * 60),
        "new_address_days": (1, 366),
        "cooldown_minutes": (0, 7 * 24 * 60),
    }
    errors = []
    for name, (low, high) in limits.items():
        value = getattr(rule, name)
        if not isinstance(value, int) or not low <= value <= high:
            errors.append(Validation(name, f"Must be a whole number from {low} to {high}."))
    return errors


def apply(user: roles.User, rule: AlertRule, data: dict) -> None:
    """Set ``data`` on ``rule`` and check it all (see the module); a new rule starts at the
    end of the feed (it fires for changes from now on). Raises ``RuleInvalid``,
    ``RuleForbidden`` or ``outbound.SendsIdentities``; the caller saves."""
    if "q" in data and kept_as_stored(ShownQuery.for_viewer(user), data["q"], rule.q):
        data = {name: value for name, value in data.items() if name != "q"}
    before = outbound.settings_of(rule, GUARDED_FIELDS)
    for name in FIELDS:
        if name in data:
            setattr(rule, name, data[name])
    if "secret" in data:
        rule.set_secret(data["secret"])
    if "organization" in data:
        rule.organization = data["organization"]
    if not access.may_target(user, rule.organization_id):
        raise RuleForbidden(FORBIDDEN_TARGET)
    _check_steering(user, rule, before)
    unused = _unused(rule, data, before)
    named = {validation.field for validation in unused}
    errors = _search(user, rule, data) + unused
    errors += [error for error in _numbers(rule) if error.field not in named]
    errors += _destination(rule, before)
    if not rule.name.strip():
        errors.insert(0, Validation("name", "A rule needs a name."))
    if errors:
        raise RuleInvalid(errors)
    if rule._state.adding:
        rule.cursor = latest_seq()
    if "paused" in data and not data["paused"]:
        rule.next_attempt_at, rule.failures = timezone.now(), 0
