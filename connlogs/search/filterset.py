"""One FilterSet for connection logs: one filter per search key of the ``q`` language.

Every door (the API list, the export, the list page, the chart, the download, the admin)
reaches it through ``connlogs.search.request.LogSearch``; the error sentences of Coder's keys
are the contract's, word for word (the value fields in ``connlogs.search.fields``).

Each key also exists negated, ``-key:value`` (the rows the key would not match, rows with no
value for it included), and its value may be a list, ``key:a,b`` (either). A filter turns its
cleaned value into one ``Q`` (``condition``), ``~Q`` when negated; the meaning of each key is
the ``q_<key>`` method here or the function of ``connlogs.search.conditions`` it calls.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from functools import cached_property, reduce

import django_filters
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from connlogs import roles
from connlogs.alerts.models import AlertFiringRow
from connlogs.models import ConnectionType, User
from connlogs.privacy.resolve import concealed_rows, resolve_ip, resolve_person
from connlogs.search import conditions, grammar
from connlogs.search.fields import (
    ChoiceValueField,
    CodeValueField,
    DurationValueField,
    FreeTextField,
    IPValueField,
    KeyedField,
    OrganizationValueField,
    TimeValueField,
    UUIDValueField,
    WorkspaceName,
    WorkspaceValueField,
    form_validations,
)

STATUS_VALUES = ("ongoing", "completed", "stale")
RESULT_VALUES = ("ok", "failed")
AUTHENTICATED_VALUES = ("yes", "no")
NEGATION = grammar.NEGATION


class KeyFilter(django_filters.Filter):
    """One key of ``q``: the field that cleans its value; ``negated`` for ``-key``."""

    def __init__(self, field_class: type[KeyedField] = KeyedField, **kwargs):
        self.field_class = field_class
        self.negated = False
        super().__init__(**kwargs)

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if value is None:
            return qs
        condition = self.parent.condition(self.field_name, value)
        return qs.filter(~condition if self.negated else condition)


def nobody(value: str) -> list[uuid.UUID]:
    """The ids to filter on when a person key names nobody: one id no user has (a version-5
    UUID; users' are version 4), derived from the value. The query then runs as it does for
    a real person with no rows (an empty ``IN ()`` would skip it and answer sooner, telling
    who exists), and each made-up name has its own id, as each person does (the chart's
    cache keys on the query's values)."""
    return [uuid.uuid5(roles.NO_ID, value)]


class ConnectionLogFilterSet(django_filters.FilterSet):
    # Coder's keys, in the contract's order (their validations come in this order).
    organization = KeyFilter(OrganizationValueField)
    workspace_owner = KeyFilter()
    workspace_owner_email = KeyFilter()
    type = KeyFilter(ChoiceValueField, allowed=tuple(ConnectionType.values))
    username = KeyFilter()
    user_email = KeyFilter()
    connected_after = KeyFilter(TimeValueField)
    connected_before = KeyFilter(TimeValueField, end_of_day=True)
    workspace_id = KeyFilter(UUIDValueField)
    connection_id = KeyFilter(UUIDValueField)
    status = KeyFilter(ChoiceValueField, allowed=STATUS_VALUES)
    # Ours.
    ip = KeyFilter(IPValueField, hint="an address, or a CIDR block such as 10.0.0.0/8")
    workspace = KeyFilter(WorkspaceValueField, hint="a workspace name, or owner/name")
    agent = KeyFilter()
    status_code = KeyFilter(
        CodeValueField,
        classes=True,
        hint="a status such as 404, a class such as 4xx, or a comparison such as >=400",
    )
    exit_code = KeyFilter(
        CodeValueField, hint="an exit code such as 137, or a comparison such as >0"
    )
    result = KeyFilter(ChoiceValueField, allowed=RESULT_VALUES, hint="ok or failed")
    active_after = KeyFilter(TimeValueField)
    active_before = KeyFilter(TimeValueField, end_of_day=True)
    duration = KeyFilter(
        DurationValueField,
        hint=(
            "a comparison and a length such as >8h or <1m, in s, m, h, d or w, at most 10,000 years"
        ),
    )
    authenticated = KeyFilter(ChoiceValueField, allowed=AUTHENTICATED_VALUES, hint="yes or no")
    alert_firing = KeyFilter(UUIDValueField)
    search = KeyFilter(FreeTextField)

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, now=None):
        # Only the keys ``q`` names are bound: django-filter deep-copies each filter and its
        # form field for every FilterSet, and with each key's negation there are 46 of them
        # (~1.5 ms a request), where a search names none, one or two.
        named = data or {}
        self.base_filters = {k: f for k, f in type(self).base_filters.items() if k in named}
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.now: dt.datetime = now or timezone.now()
        self.parse_errors: list[grammar.Validation] = []
        self.notices: list[str] = []
        for name, declared in self.filters.items():
            declared.extra["query_key"] = name
            if declared.field_class is TimeValueField:
                declared.extra["now"] = self.now
            if declared.field_class is OrganizationValueField and name in (data or {}):
                user = getattr(request, "user", None)
                declared.extra["visible_ids"] = (
                    roles.visible_organization_ids(user) if user is not None else []
                )

    @classmethod
    def from_query(
        cls, q: str | None, queryset: QuerySet, request, now: dt.datetime | None = None
    ) -> ConnectionLogFilterSet:
        """Parse ``q`` and bind its terms; check ``validations`` before reading ``qs``.

        ``now`` is the clock of relative times, ``duration`` and ``status:stale``: one per
        request, so a page, its count and its chart agree (default: the present).
        """
        parsed = grammar.parse(q, cls.base_filters)
        filterset = cls(parsed.terms, queryset, request=request, now=now)
        filterset.parse_errors = parsed.errors
        return filterset

    @classmethod
    def keys(cls) -> list[str]:
        """The keys of ``q``, without their negations, in the order of the docs."""
        return [key for key in cls.base_filters if not key.startswith(NEGATION)]

    @property
    def validations(self) -> list[grammar.Validation]:
        """The contract's validations: each key's value errors, then unknown keys."""
        return form_validations(self, self.parse_errors)

    @property
    def terms(self) -> dict[str, str]:
        return dict(self.data)

    def condition(self, key: str, value) -> Q:
        """What ``key`` (never negated here) with its cleaned ``value`` matches."""
        return getattr(self, f"q_{key}")(value)

    # --- people: resolved to ids first, so the main query filters on an indexed id -------

    def _people(self, names: tuple[str, ...]) -> list:
        """User ids of usernames (compared case-insensitively) or ``me``; a name that is
        nobody's matches nothing, as in Coder, leaves a notice for the page and stands as
        its ``nobody`` id, so the query costs the same whether or not the person exists."""
        ids, wanted = [], []
        for name in names:
            if name == "me":
                user = getattr(self.request, "user", None)
                authenticated = getattr(user, "is_authenticated", False)
                ids += [user.pk] if authenticated else nobody(name)
            else:
                wanted.append(name.lower())
        if wanted:
            # lower(username) = value uses the case-insensitive unique index (iexact's UPPER()
            # would scan every user); the q string is lower-cased already.
            found = dict(
                User.objects.annotate(username_lower=Lower("username"))
                .filter(username_lower__in=wanted)
                .values_list("username_lower", "id")
            )
            ids += self._found_or_nobody(wanted, found, "No user named {}")
        return ids

    @property
    def _viewer(self):
        return getattr(self.request, "user", None)

    @cached_property
    def _concealed_rows(self) -> Q | None:
        """The rows this viewer is shown pseudonyms in (``privacy.resolve.concealed_rows``)."""
        return concealed_rows(self._viewer)

    def _person(self, column: str, items: tuple[str, ...], real_ids) -> Q:
        """Either of ``items`` on ``column``: ``me`` is the caller, whoever may see what; any
        other value may be a pseudonym (data protection mode, ``connlogs.privacy.resolve``).
        ``real_ids(names)`` gives the ids of real names (``_people`` or ``_emails``)."""
        return conditions.either(
            Q(**{f"{column}__in": real_ids((item,))})
            if item == "me"
            else resolve_person(
                item, self._viewer, column=column, real_ids=lambda value: real_ids((value,))
            )
            for item in items
        )

    def _emails(self, emails: tuple[str, ...]) -> list:
        wanted = [email.lower() for email in emails]
        found = dict(User.objects.filter(email__in=wanted).values_list("email", "id"))
        return self._found_or_nobody(wanted, found, "No user with the email {}")

    def _found_or_nobody(self, wanted: list[str], found: dict, sentence: str) -> list:
        """The id of each wanted name: the user's, or a ``nobody`` id with a notice.

        No notice for a reader shown pseudonyms anywhere (data protection mode, in every
        organization or only in some): it would tell them which real names exist, which
        their answer must not (docs/privacy.md)."""
        ids = []
        for name in wanted:
            if name in found:
                ids.append(found[name])
                continue
            ids += nobody(name)
            notice = sentence.format(grammar.quote(name))
            if self._concealed_rows is None and notice not in self.notices:
                self.notices.append(notice)
        return ids

    # --- Coder's keys ------------------------------------------------------------------

    def q_organization(self, items):
        # Sorted and once each: the same organizations are the same SQL (ids are written).
        return Q(organization_id__in=sorted(set(items)))

    def q_workspace_owner(self, items):
        return self._person("workspace_owner_id", items, self._people)

    def q_workspace_owner_email(self, items):
        return self._person("workspace_owner_id", items, self._emails)

    def q_type(self, items):
        return Q(type__in=items)

    def q_username(self, items):
        return self._person("user_id", items, self._people)

    def q_user_email(self, items):
        return self._person("user_id", items, self._emails)

    def q_connected_after(self, time):
        return Q(connect_time__gte=time)

    def q_connected_before(self, time):
        return Q(connect_time__lte=time)

    def q_workspace_id(self, items):
        return Q(workspace_id__in=items)

    def q_connection_id(self, items):
        return Q(connection_id__in=items)

    def q_status(self, items):
        return conditions.status(items, self.now)

    # --- ours ---------------------------------------------------------------------------

    def q_ip(self, items):
        # An address may be a pseudonym (data protection mode), resolved as the admin's
        # search by address is; a network never is one.
        def one(network) -> Q:
            host = network.prefixlen == network.max_prefixlen
            typed = str(network.network_address) if host else str(network)
            real = conditions.ip((network,))
            return resolve_ip(typed, self._viewer, real=lambda _: real)

        return conditions.either(one(network) for network in items)

    def q_workspace(self, items: tuple[WorkspaceName, ...]):
        def one(item: WorkspaceName) -> Q:
            named = conditions.workspace_name(item)
            if item.owner is None:
                return named
            return named & self._person("workspace_owner_id", (item.owner,), self._people)

        return conditions.either(one(item) for item in items)

    def q_agent(self, items):
        return conditions.agent(items)

    def q_status_code(self, items):
        return conditions.status_code(items)

    def q_exit_code(self, items):
        return conditions.exit_code(items)

    def q_result(self, items):
        return conditions.result(items)

    def q_active_after(self, time):
        return conditions.active_after(time)

    def q_active_before(self, time):
        return conditions.active_before(time)

    def q_duration(self, items):
        return conditions.duration(items, self.now)

    def q_authenticated(self, items):
        return conditions.authenticated(items)

    def q_alert_firing(self, items):
        # The rows alert firings matched: the alerts page links each firing here.
        return Q(id__in=AlertFiringRow.objects.filter(firing_id__in=items).values("log_id"))

    def q_search(self, words: tuple[tuple[str, ...], ...]):
        """Every word matches (one of its ``a,b`` alternatives) some column of the row, the
        owner's username or the connecting user's username."""

        def users_containing(word: str) -> list:
            return list(User.objects.filter(username__icontains=word).values_list("id", flat=True))

        def one(word: str) -> Q:
            # For a reader shown pseudonyms, usernames and addresses are pseudonyms too: a
            # word finds a person by their pseudonym (``resolve_person``), and never by the
            # real address in the rows they see concealed.
            text = conditions.row_text(word)
            hidden = self._concealed_rows
            if hidden is not None:
                without_ip = conditions.row_text(word, with_ip=False)
                text &= (without_ip | ~hidden) if hidden else without_ip
            columns = ("workspace_owner_id", "user_id")
            people = resolve_person(word, self._viewer, column=columns, real_ids=users_containing)
            return text | people

        return reduce(
            lambda left, right: left & right,
            (conditions.either(one(alternative) for alternative in word) for word in words),
        )


def _add_negations(filterset_class: type[ConnectionLogFilterSet]) -> None:
    """``-key`` for every key: the same field and meaning, excluded instead of required."""
    for key, declared in list(filterset_class.base_filters.items()):
        negation = copy.deepcopy(declared)
        negation.negated = True
        filterset_class.base_filters[NEGATION + key] = negation


_add_negations(ConnectionLogFilterSet)
