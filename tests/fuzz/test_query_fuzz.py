"""Property-based tests of the q language and the paging parameters of the read API.

1. Whatever the text, every door that takes ``q`` (the read API, the export, the list page)
   answers 200 or a 400 that says why, never a 500.
2. A query that parses returns exactly the rows that a plain Python filter over a fixed data
   set predicts, for callers of every role, with paging. The reference is written from the
   contract (shared/spec/connection-log-api.md section 3), not from the code under test, and
   the same test runs on SQLite and on PostgreSQL (CI runs the suite on both), so passing on
   both means both databases give the same rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from connlogs import roles
from connlogs.models import ConnectionLog, Membership
from tests.exports import ndjson_entries
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    auth_header,
)
from tests.fuzz.conftest import fuzz_settings

API = "/api/v2/connectionlog"
EXPORT = "/api/v2/connectionlog/export"
PAGE = "/connectionlog"

AGENT_TYPES = ("ssh", "vscode", "jetbrains", "reconnecting_pty")
WEB_TYPES = ("workspace_app", "port_forwarding", "tunnel")
KEYS = (
    "organization",
    "workspace_owner",
    "workspace_owner_email",
    "type",
    "username",
    "user_email",
    "connected_after",
    "connected_before",
    "workspace_id",
    "connection_id",
    "status",
)
BASE = dt.datetime(2025, 7, 10, 10, 0, 0, 123456, tzinfo=dt.UTC)
INT32_MAX = 2**31 - 1


# --- the data set ----------------------------------------------------------------------


@pytest.fixture
def world(db):
    """Three organizations, five callers (one per kind of reader), 30 rows of every shape."""
    acme = OrganizationFactory(name="acme")
    globex = OrganizationFactory(name="globex")
    initech = OrganizationFactory(name="initech")  # no rows
    alice = UserFactory(username="Alice", email="alice@acme.test")  # plain member of acme
    carol = UserFactory(username="carol", email="Carol@Acme.test")  # acme auditor
    bob = UserFactory(username="bob", email="bob@globex.test")  # globex admin
    dave = UserFactory(username="dave", email="dave@nowhere.test")  # owns nothing
    root = UserFactory(username="root", site_roles=[roles.OWNER])
    auditor = UserFactory(username="auditor", site_roles=[roles.AUDITOR])
    Membership.objects.create(user=alice, organization=acme)
    Membership.objects.create(user=carol, organization=acme, roles=[roles.ORGANIZATION_AUDITOR])
    Membership.objects.create(user=bob, organization=globex, roles=[roles.ORGANIZATION_ADMIN])
    workspaces = [
        WorkspaceFactory(organization=acme, owner=alice, name="dev"),
        WorkspaceFactory(organization=acme, owner=carol, name="web"),
        WorkspaceFactory(organization=globex, owner=bob, name="api"),
        WorkspaceFactory(organization=globex, owner=alice, name="old", deleted=True),
    ]
    types = AGENT_TYPES + WEB_TYPES
    web_users = [None, alice, carol, bob, dave]
    for index in range(30):
        kind = types[index % len(types)]
        workspace = workspaces[index % len(workspaces)]
        # Every fifth row shares its time with the one before: ties are broken by id.
        minutes = (index - (index % 5 == 4)) * 37
        fields = {
            "workspace": workspace,
            "type": kind,
            "connect_time": BASE + dt.timedelta(minutes=minutes, microseconds=index),
        }
        if kind in WEB_TYPES:
            fields.update(user=web_users[index % len(web_users)], code=200 + index)
        elif index % 3:
            fields.update(
                disconnect_time=fields["connect_time"] + dt.timedelta(minutes=5),
                code=index % 2,
                disconnect_reason="closed",
            )
        ConnectionLogFactory(**fields)
    rows = list(
        ConnectionLog.objects.select_related("workspace_owner", "user").order_by(
            "-connect_time", "-id"
        )
    )
    people = {"root": root, "auditor": auditor, "carol": carol, "bob": bob, "alice": alice}
    return SimpleNamespace(
        organizations={"acme": acme, "globex": globex, "initech": initech},
        users={"alice": alice, "bob": bob, "carol": carol, "dave": dave},
        workspaces=workspaces,
        rows=rows,
        people=people,
        clients={name: client_for(user) for name, user in people.items()},
        readable={
            "root": None,
            "auditor": None,
            "carol": {acme.id},
            "bob": {globex.id},
            "alice": set(),
        },
        # Organizations each caller may name in organization:<name>.
        nameable={
            "root": None,
            "auditor": None,
            "carol": {acme.id},
            "bob": {globex.id},
            "alice": {acme.id},
        },
    )


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(**auth_header(user))
    client.force_login(user)  # the list page uses the session, the API the token
    return client


# --- 1. any text: 200 or a 400 that says why -------------------------------------------

# Text that looks like the language: keys, colons, quotes, spaces, NUL, odd Unicode.
FRAGMENTS = st.sampled_from(
    [*KEYS, ":", '"', " ", "  ", "me", "search", "\x00", "é", "ß", "İ", "\u200b", "-", "{", "}"]
)
NO_SURROGATES = st.characters(exclude_categories=("Cs",))
# Well-formed key:value pairs with any text as the value, so that every key's own parsing
# (and any database lookup behind it) sees hostile text: NUL, quotes, odd Unicode.
QUOTABLE = st.one_of(st.sampled_from("\x00:- é"), NO_SURROGATES).filter(lambda c: c != '"')
KEY_VALUE = st.tuples(st.text(QUOTABLE, min_size=1, max_size=12), st.booleans()).map(
    lambda value: f'"{value[0]}"' if value[1] or any(c in value[0] for c in ": ") else value[0]
)
PAIRS = st.dictionaries(st.sampled_from(KEYS), KEY_VALUE, min_size=1, max_size=4).map(
    lambda terms: " ".join(f"{key}:{value}" for key, value in terms.items())
)
ANY_Q = st.one_of(
    st.text(NO_SURROGATES, max_size=60),
    PAIRS,
    st.lists(st.one_of(FRAGMENTS, st.text(NO_SURROGATES, max_size=8)), max_size=12).map("".join),
)


def assert_answers_or_explains(response, *, json_errors: bool = True) -> None:
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400 and json_errors:
        body = response.json()
        assert isinstance(body["message"], str) and body["message"]
        assert body["validations"], body
        for validation in body["validations"]:
            assert set(validation) == {"field", "detail"}
            assert isinstance(validation["field"], str) and validation["detail"]


def test_any_q_is_answered_or_explained_on_every_door(world):
    clients = world.clients

    @fuzz_settings(scale=2)
    @given(
        q=ANY_Q, caller=st.sampled_from(sorted(clients)), door=st.sampled_from(["api", "export"])
    )
    def check(q, caller, door):
        client = clients[caller]
        if door == "api":
            assert_answers_or_explains(client.get(API, {"q": q}))
        else:
            response = client.get(EXPORT, {"q": q, "format": "ndjson"})
            assert_answers_or_explains(response)
            if response.status_code == 200:
                b"".join(response.streaming_content)  # the whole body streams without error

    check()


def test_any_q_on_the_list_page_is_a_page_never_a_server_error(world):
    client = world.clients["carol"]

    @fuzz_settings(scale=0.5)
    @given(q=ANY_Q)
    def check(q):
        response = client.get(PAGE, {"q": q})
        assert_answers_or_explains(response, json_errors=False)
        if response.status_code == 400:
            assert b"q-errors" in response.content

    check()


PAGING_TEXT = st.one_of(
    st.text(NO_SURROGATES, max_size=12),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.sampled_from(["0", "-0", "+5", "1000", "1001", str(INT32_MAX), str(INT32_MAX + 1), " 5"]),
    st.uuids().map(str),
)
PAGING = st.dictionaries(
    st.sampled_from(["limit", "offset", "after_id"]),
    st.lists(PAGING_TEXT, min_size=1, max_size=2),
    max_size=3,
)


def test_any_paging_parameters_are_answered_or_name_the_parameter(world):
    client = world.clients["root"]

    @fuzz_settings(scale=2)
    @given(params=PAGING)
    def check(params):
        response = client.get(API, params)
        assert_answers_or_explains(response)
        assert (response.status_code == 200) == expected_paging_valid(params), params
        if response.status_code == 400:
            fields = {v["field"] for v in response.json()["validations"]}
            assert fields <= {"limit", "offset", "after_id"}, fields

    check()


def expected_paging_valid(params: dict[str, list[str]]) -> bool:
    """The contract's rules for limit/offset/after_id, written independently of the code."""
    for name, given_values in params.items():
        if len(given_values) > 1:
            return False
        text = given_values[0]
        if text == "":
            continue
        if name == "after_id":
            return False  # random UUIDs name no row the caller can see
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isascii() or not digits.isdigit():
            return False
        value = int(text)
        if value < 0 or value > INT32_MAX or (name == "limit" and value > 1000):
            return False
    return True


# --- 2. a query that parses: exactly the rows a plain Python filter predicts ------------


@dataclass(frozen=True)
class Term:
    """One ``key:value`` of a generated query and what it should do."""

    key: str
    text: str
    keeps: Callable | None  # (row, caller) -> bool; None: no filter
    error: bool = False


def quoted(text: str) -> str:
    return f'"{text}"' if any(char in text for char in ' :"') or text == "" else text


def uuid_forms(value: uuid.UUID) -> st.SearchStrategy[str]:
    text = str(value)
    return st.sampled_from([text, text.upper(), value.hex, "{" + text + "}"])


def rfc3339(moment: dt.datetime, offset_minutes: int, digits: int, zulu: bool) -> str:
    local = moment.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + (f"{moment.microsecond:06d}" + "000")[:digits]
    if zulu and offset_minutes == 0:
        return text + "Z"
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def truncated(moment: dt.datetime, digits: int) -> dt.datetime:
    """The instant a time written with ``digits`` fraction digits stands for."""
    step = 10 ** (6 - min(digits, 6))
    return moment.replace(microsecond=moment.microsecond // step * step)


def term_strategies(world) -> dict[str, st.SearchStrategy[Term]]:
    orgs = world.organizations
    users = world.users
    people = world.people
    by_username = {user.username.lower(): user for user in [*users.values(), *people.values()]}
    by_email = {user.email: user for user in [*users.values(), *people.values()]}

    def person(text: str, caller: str):
        if text == "me":
            return people[caller]
        return by_username.get(text)

    def org_term(name_or_id: str, organization) -> Term:
        if organization is None or "-" in name_or_id or len(name_or_id) >= 32:
            # A UUID: rows of that organization (scoping hides what the caller may not read).
            org_id = organization.id if organization else None
            return Term("organization", name_or_id, lambda row, c: row.organization_id == org_id)

        def keeps(row, caller):
            return row.organization_id == organization.id

        keeps.name_of = organization  # a name: an error where the caller may not see it
        return Term("organization", name_or_id, keeps)

    organization = st.one_of(
        st.sampled_from(sorted(orgs)).map(lambda name: org_term(name, orgs[name])),
        st.just(Term("organization", "nosuch", None, error=True)),
        st.sampled_from(sorted(orgs)).flatmap(
            lambda name: uuid_forms(orgs[name].id).map(lambda text: org_term(text, orgs[name]))
        ),
        st.uuids().map(lambda value: org_term(str(value), None)),
    )

    def by_person(key: str, column: str) -> Callable[[str], Term]:
        """A username (or ``me``) term on ``column``: unknown names match nothing."""

        def make(text: str) -> Term:
            def keeps(row, caller) -> bool:
                found = person(text.lower(), caller)
                return found is not None and getattr(row, column) == found.id

            return Term(key, text, keeps)

        return make

    def by_address(key: str, column: str) -> Callable[[str], Term]:
        """An email term on ``column`` (emails compare case-insensitively)."""

        def make(text: str) -> Term:
            def keeps(row, caller) -> bool:
                found = by_email.get(text.lower())
                return found is not None and getattr(row, column) == found.id

            return Term(key, text, keeps)

        return make

    names = st.sampled_from([*sorted(by_username), "me", "nobody", "ALICE"])
    owner = names.map(by_person("workspace_owner", "workspace_owner_id"))
    connecting = names.map(by_person("username", "user_id"))
    emails = st.sampled_from([*sorted(by_email), "CAROL@ACME.TEST", "nobody@nowhere.test"])
    owner_email = emails.map(by_address("workspace_owner_email", "workspace_owner_id"))
    user_email = emails.map(by_address("user_email", "user_id"))
    kind = st.one_of(
        st.sampled_from(AGENT_TYPES + WEB_TYPES).map(
            lambda text: Term("type", text, lambda row, caller, text=text: row.type == text)
        ),
        st.just(Term("type", "telnet", None, error=True)),
    )
    status = st.one_of(
        st.just(
            Term(
                "status",
                "ongoing",
                lambda row, caller: row.type in AGENT_TYPES and row.disconnect_time is None,
            )
        ),
        st.just(
            Term(
                "status",
                "completed",
                lambda row, caller: row.type in AGENT_TYPES and row.disconnect_time is not None,
            )
        ),
        st.just(Term("status", "paused", None, error=True)),
    )

    @st.composite
    def moment(draw, key: str):
        anchor = draw(st.sampled_from([row.connect_time for row in world.rows]))
        # Exactly a row's time most often: the bounds are inclusive, to the microsecond.
        delta = draw(
            st.sampled_from(
                [dt.timedelta(0)] * 4
                + [
                    dt.timedelta(microseconds=1),
                    dt.timedelta(microseconds=-1),
                    dt.timedelta(minutes=1),
                    dt.timedelta(hours=-3),
                ]
            )
        )
        instant = anchor + delta
        offset = draw(st.sampled_from([0, 0, 60, -300, 330, 765, -720]))
        digits = draw(st.sampled_from([0, 3, 6, 6, 9]))
        text = rfc3339(instant, offset, digits, zulu=draw(st.booleans()))
        bound = truncated(instant, digits)
        if key == "connected_after":
            return Term(key, text, lambda row, caller: row.connect_time >= bound)
        return Term(key, text, lambda row, caller: row.connect_time <= bound)

    workspace_id = st.one_of(
        st.sampled_from(world.workspaces).flatmap(
            lambda ws: uuid_forms(ws.id).map(
                lambda text: Term(
                    "workspace_id", text, lambda row, caller: row.workspace_id == ws.id
                )
            )
        ),
        st.just(Term("workspace_id", "dev", None, error=True)),
    )
    connection_ids = [row.connection_id for row in world.rows if row.connection_id]
    connection_id = st.one_of(
        st.sampled_from(connection_ids).flatmap(
            lambda value: uuid_forms(value).map(
                lambda text: Term(
                    "connection_id", text, lambda row, caller: row.connection_id == value
                )
            )
        ),
        st.uuids().map(
            lambda value: Term(
                "connection_id", str(value), lambda row, caller: row.connection_id == value
            )
        ),
    )
    empty = {key: st.just(Term(key, "", None)) for key in KEYS}
    chosen = {
        "organization": organization,
        "workspace_owner": owner,
        "workspace_owner_email": owner_email,
        "type": kind,
        "username": connecting,
        "user_email": user_email,
        "connected_after": moment("connected_after"),
        "connected_before": moment("connected_before"),
        "workspace_id": workspace_id,
        "connection_id": connection_id,
        "status": status,
    }
    # Mostly values that parse, so that most examples get as far as comparing rows.
    return {
        key: st.one_of(valid_only(strategy), valid_only(strategy), empty[key], strategy)
        for key, strategy in chosen.items()
    }


def valid_only(strategy: st.SearchStrategy[Term]) -> st.SearchStrategy[Term]:
    return strategy.filter(lambda term: not term.error)


def expected_answer(world, caller: str, terms: list[Term]) -> tuple[set[str], list]:
    """(fields with errors, matching rows newest first) by the contract, for ``caller``."""
    errors = set()
    nameable = world.nameable[caller]
    for term in terms:
        if term.error:
            errors.add(term.key)
        name_of = getattr(term.keeps, "name_of", None)
        if name_of is not None and nameable is not None and name_of.id not in nameable:
            errors.add(term.key)
    readable = world.readable[caller]
    rows = [
        row
        for row in world.rows
        if (readable is None or row.organization_id in readable)
        and all(term.keeps is None or term.keeps(row, caller) for term in terms)
    ]
    return errors, rows


@st.composite
def queries(draw, strategies: dict[str, st.SearchStrategy[Term]]):
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=4))
    terms = [draw(strategies[key]) for key in keys]
    q = " ".join(f"{term.key}:{quoted(term.text)}" for term in terms)
    spaced = draw(st.sampled_from([q, f"  {q}  ".replace(" ", "  "), q.upper()]))
    return spaced, terms


def test_a_query_that_parses_returns_the_rows_the_reference_predicts(world):
    strategies = term_strategies(world)

    @fuzz_settings(scale=6)
    @given(
        query=queries(strategies),
        caller=st.sampled_from(sorted(world.people)),
        limit=st.sampled_from([None, 0, 1, 3, 7]),
        offset=st.sampled_from([None, 0, 1, 4, 40]),
        cursor_at=st.one_of(st.none(), st.none(), st.integers(min_value=0)),
        visible_cursor=st.booleans(),
    )
    def check(query, caller, limit, offset, cursor_at, visible_cursor):
        q, terms = query
        cursor = None
        if cursor_at is not None:
            # Mostly a row the caller can see (a page to compare), sometimes any row.
            readable = world.readable[caller]
            pool = [
                row
                for row in world.rows
                if not visible_cursor or readable is None or row.organization_id in readable
            ] or world.rows
            cursor = pool[cursor_at % len(pool)]
        params = {"q": q}
        if limit is not None:
            params["limit"] = limit
        if offset is not None:
            params["offset"] = offset
        if cursor is not None:
            params["after_id"] = str(cursor.id)
        response = world.clients[caller].get(API, params)

        errors, matching = expected_answer(world, caller, terms)
        readable = world.readable[caller]
        hidden = (
            readable is not None and cursor is not None and cursor.organization_id not in readable
        )
        if hidden and not errors:
            errors = {"after_id"}  # a cursor the caller cannot see (checked once q parses)
        if errors:
            assert response.status_code == 400, (q, response.json())
            assert {v["field"] for v in response.json()["validations"]} == errors
            return
        assert response.status_code == 200, (q, response.json())
        body = response.json()
        if cursor is not None:
            page = [
                r for r in matching if (r.connect_time, r.id) < (cursor.connect_time, cursor.id)
            ]
        else:
            page = matching[offset or 0 :]
        page = page[: limit or 100]
        assert [entry["id"] for entry in body["connection_logs"]] == [str(r.id) for r in page], q
        assert body["count"] == len(matching), q

    check()


def test_the_export_streams_the_same_rows_as_the_api(world):
    """Same q, same caller: the export's rows are the API's rows, in the same order."""
    strategies = term_strategies(world)

    @fuzz_settings(scale=0.5)
    @given(query=queries(strategies), caller=st.sampled_from(sorted(world.people)))
    def check(query, caller):
        q, terms = query
        client = world.clients[caller]
        listed = client.get(API, {"q": q, "limit": 1000})
        exported = client.get(EXPORT, {"q": q, "format": "ndjson"})
        assert exported.status_code == listed.status_code
        if listed.status_code != 200:
            return
        exported_entries = ndjson_entries(b"".join(exported.streaming_content))
        assert exported_entries == listed.json()["connection_logs"]

    check()
