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


def test_free_words_are_joined_under_search_and_rejected():
    parsed = parse("hello type:ssh world")
    assert [v.as_dict() for v in parsed.errors] == [
        {"field": "search", "detail": '"search" is not a valid query param'}
    ]


@pytest.mark.parametrize("element", ["username:", ":alice", ":"])
def test_element_starting_or_ending_with_colon_is_the_only_error(element):
    parsed = parse(f"bogus:1 {element} also:wrong")
    assert [v.as_dict() for v in parsed.errors] == [
        {"field": "q", "detail": f"Query element \"{element}\" cannot start or end with ':'"}
    ]


def test_more_than_one_unquoted_colon_is_an_error():
    parsed = parse("connected_after:2025-01-01T00:00:00Z")
    assert [v.as_dict() for v in parsed.errors] == [
        {
            "field": "q",
            "detail": 'Query element "connected_after:2025-01-01t00:00:00z" can only '
            "contain 1 ':'",
        }
    ]


def test_key_given_twice():
    parsed = parse("type:ssh TYPE:vscode")
    assert [v.as_dict() for v in parsed.errors] == [
        {
            "field": "type",
            "detail": 'Query param "type" provided more than once, found 2 times. '
            "Only provide 1 instance of this query param.",
        }
    ]


def test_unknown_keys_are_each_reported():
    parsed = parse("colour:red type:ssh size:xl")
    assert parsed.terms == {"type": "ssh"}
    assert [v.as_dict() for v in parsed.errors] == [
        {"field": "colour", "detail": '"colour" is not a valid query param'},
        {"field": "size", "detail": '"size" is not a valid query param'},
    ]


def test_build_round_trips_through_parse():
    terms = {"type": "ssh", "connected_after": "2025-01-01t00:00:00z", "workspace_owner": ""}
    assert parse(search.build(terms)).terms == {
        "type": "ssh",
        "connected_after": "2025-01-01t00:00:00z",
    }
