"""The q tokenizer: every rule of the contract's section 3, and its exact error strings."""

import pytest

from connlogs import search
from connlogs.search.filterset import ConnectionLogFilterSet

KEYS = ConnectionLogFilterSet.base_filters


def parse(q):
    return search.parse(q, KEYS)


def test_empty_query_has_no_terms():
    assert parse("").terms == {} and parse(None).is_valid and parse("   ").terms == {}


def test_lower_cases_keys_and_values():
    assert parse("Workspace_Owner:Alice TYPE:SSH").terms == {
        "workspace_owner": "alice",
        "type": "ssh",
    }


def test_several_spaces_count_as_one():
    assert parse("  type:ssh     status:ongoing ").terms == {"type": "ssh", "status": "ongoing"}


def test_quoted_values_keep_their_colons_and_spaces():
    parsed = parse('connected_after:"2025-01-01T00:00:00Z" workspace_owner:"a b"')
    assert parsed.terms == {
        "connected_after": "2025-01-01t00:00:00z",
        "workspace_owner": "a b",
    }


def test_free_words_are_joined_under_search():
    # Coder joins them the same way, then rejects the key; here ``search`` is a key.
    assert parse("hello type:ssh world").terms == {"type": "ssh", "search": "hello world"}


def test_a_word_that_starts_with_a_dash_is_left_out():
    # Every such word under -search, as either (a,b): the rows with none of them.
    assert parse("-main dev -Old type:ssh").terms == {
        "type": "ssh",
        "search": "dev",
        "-search": "main,old",
    }
    # Quoted, or dashes alone, a word to find; "--x" leaves out "-x".
    assert parse('"-main" - -- --x').terms == {"search": "-main - --", "-search": "-x"}


def test_a_phrase_left_out_with_a_dash_is_an_error_that_shows_the_key():
    [error] = parse('-"dev main" -zzz').errors
    assert error.field == "q" and 'use -search:"dev main" alone' in error.detail


def test_free_words_and_a_search_key_are_the_key_given_twice():
    [error] = parse("hello search:world").errors
    assert error.field == "search" and "provided more than once, found 2 times" in error.detail


@pytest.mark.parametrize("element", ["username:", ":alice", ":"])
def test_element_starting_or_ending_with_colon_is_the_only_error(element):
    parsed = parse(f"bogus:1 {element} also:wrong")
    assert [v.as_dict() for v in parsed.errors] == [
        {"field": "q", "detail": f"Query element \"{element}\" cannot start or end with ':'"}
    ]


def test_more_than_one_unquoted_colon_is_an_error_that_shows_the_quoted_form():
    parsed = parse("connected_after:2025-01-01T00:00:00Z")
    # Coder's sentence first and whole (clients match on it), then how to write it.
    assert [v.as_dict() for v in parsed.errors] == [
        {
            "field": "q",
            "detail": 'Query element "connected_after:2025-01-01t00:00:00z" can only '
            "contain 1 ':'. A value with ':' (a time, an IPv6 address) must be quoted: "
            'connected_after:"2025-01-01t00:00:00z"',
        }
    ]


def test_an_unquoted_ipv6_address_is_shown_quoted():
    [error] = parse("ip:2001:db8::1").errors
    assert error.detail.endswith(' must be quoted: ip:"2001:db8::1"')


def test_key_given_twice():
    parsed = parse("type:ssh TYPE:vscode")
    assert [v.as_dict() for v in parsed.errors] == [
        {
            "field": "type",
            "detail": 'Query param "type" provided more than once, found 2 times. '
            "Only provide 1 instance of this query param.",
        }
    ]


VALID_KEYS = (
    "Valid keys: organization, workspace_owner, workspace_owner_email, type, username, "
    "user_email, connected_after, connected_before, workspace_id, connection_id, status, ip, "
    "workspace, agent, status_code, exit_code, result, active_after, active_before, duration, "
    'authenticated, alert_firing, search; put "-" before a key to exclude what it matches'
)


def test_unknown_keys_are_each_reported_with_the_keys_there_are():
    parsed = parse("colour:red type:ssh size:xl -hue:x")
    assert parsed.terms == {"type": "ssh"}
    # Coder's sentence first and whole (clients match on it), then the keys.
    assert [v.as_dict() for v in parsed.errors] == [
        {"field": "colour", "detail": f'"colour" is not a valid query param. {VALID_KEYS}'},
        {"field": "size", "detail": f'"size" is not a valid query param. {VALID_KEYS}'},
        {"field": "-hue", "detail": f'"-hue" is not a valid query param. {VALID_KEYS}'},
    ]


def test_a_negated_key_is_a_key_of_its_own():
    assert parse("type:ssh,vscode -type:vscode -ip:10.0.0.0/8").terms == {
        "type": "ssh,vscode",
        "-type": "vscode",
        "-ip": "10.0.0.0/8",
    }
    [error] = parse("-type:ssh -TYPE:vscode").errors
    assert error.field == "-type" and "found 2 times" in error.detail


def test_build_round_trips_through_parse():
    terms = {"type": "ssh", "connected_after": "2025-01-01t00:00:00z", "workspace_owner": ""}
    assert parse(search.build(terms)).terms == {
        "type": "ssh",
        "connected_after": "2025-01-01t00:00:00z",
    }
    ours = {"-type": "ssh,vscode", "ip": "2001:db8::/32", "search": "mobile app"}
    assert parse(search.build(ours)).terms == ours
