"""The search language's forms on every key: negation, OR lists and free text, through
GET /api/v2/connectionlog on SQLite and PostgreSQL; the notices a page shows (docs/search.md)."""

import datetime as dt

import pytest
from django.test import RequestFactory

from connlogs.search.request import LogSearch
from tests.api.conftest import ALL, found, validations

FRANKS = {"ssh_0830", "vscode_30s", "app_404", "tunnel_101"}
WEB = {"app_404", "app_200", "pf_502", "tunnel_101"}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("-type:workspace_app", ALL - {"app_404", "app_200"}),
        ("-type:ssh,vscode", {"jetbrains_no_code"} | WEB),
        ("-workspace_owner:frank", ALL - FRANKS),
        ("-workspace_owner:nobody", ALL),
        ("-username:carol", ALL - {"app_404"}),  # rows without a user are not carol's
        ("-ip:10.0.0.0/8", ALL - {"ssh_0830", "ssh_45m", "jetbrains_no_code"}),  # unknown kept
        ("-status:ongoing", ALL - {"ssh_open", "ssh_stale"}),
        ("-result:failed", ALL - {"ssh_9h", "vscode_30s", "app_404", "pf_502"}),
        ("-status_code:5xx", ALL - {"pf_502"}),
        ("-duration:>8h", ALL - {"ssh_9h", "ssh_stale"}),
        ("-organization:acme", {"ssh_45m", "ssh_stale", "pf_502"}),
        (
            "-workspace:mobile-app -agent:gpu-box",
            ALL - FRANKS - {"ssh_45m", "pf_502", "ssh_9h"} | {"tunnel_101"},
        ),
        ("type:ssh,vscode -status:ongoing", {"ssh_0830", "ssh_9h", "vscode_30s", "ssh_45m"}),
        ("type:ssh -type:ssh", set()),
        (
            "workspace_owner:frank,alice",
            FRANKS | {"ssh_9h", "ssh_open", "jetbrains_no_code", "app_200"},
        ),
        ("workspace_owner:frank,nobody", FRANKS),
        ("workspace_owner:me,bob", {"ssh_45m", "ssh_stale", "pf_502"}),  # root owns nothing
        (
            "workspace_owner_email:frank@acme.test,bob@globex.test",
            FRANKS | {"ssh_45m", "ssh_stale", "pf_502"},
        ),
        ("username:carol,frank", {"app_404", "tunnel_101"}),
        ("user_email:carol@acme.test,bob@globex.test", {"app_404", "pf_502"}),
        ("organization:acme,globex", ALL),
        ("type:workspace_app,tunnel", {"app_404", "app_200", "tunnel_101"}),
        ("type:ssh,", {"ssh_0830", "ssh_9h", "ssh_45m", "ssh_open", "ssh_stale"}),
    ],
)
def test_negations_and_lists(incident, owner_api, q, expected):
    assert found(incident, owner_api, q) == expected


def test_lists_of_ids(incident, owner_api):
    dev, gone = incident.workspaces["dev"], incident.workspaces["gone"]
    q = f"workspace_id:{dev.id},{gone.id.hex}"
    assert found(incident, owner_api, q) == {
        "ssh_9h",
        "ssh_open",
        "jetbrains_no_code",
        "app_200",
        "ssh_stale",
    }
    first, second = incident.rows["ssh_0830"], incident.rows["ssh_9h"]
    q = f"connection_id:{first.connection_id},{second.connection_id}"
    assert found(incident, owner_api, q) == {"ssh_0830", "ssh_9h"}
    assert found(incident, owner_api, f"-workspace_id:{dev.id}") == ALL - {
        "ssh_9h",
        "ssh_open",
        "jetbrains_no_code",
        "app_200",
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("mobile", FRANKS - {"tunnel_101"} | {"ssh_45m", "pf_502"}),  # workspace name
        ("MOBILE-APP", FRANKS - {"tunnel_101"} | {"ssh_45m", "pf_502"}),
        ("grafana", {"app_200"}),  # slug
        ("8080", {"pf_502"}),  # port
        ("gpu", {"ssh_9h"}),  # agent name, a part of it
        ("éditeur", {"ssh_45m"}),  # beyond ASCII on both databases
        ("198.51.100", {"vscode_30s", "ssh_stale", "app_404"}),  # the IP's text
        ('"db8:1::"', {"pf_502"}),  # quoted: it has colons
        ("carol", {"app_404"}),  # the connecting user
        ("ali", {"ssh_9h", "ssh_open", "jetbrains_no_code", "app_200"}),  # the owner, a part
        ("frank 10.1", {"ssh_0830"}),  # every word
        ("frank,carol", FRANKS),  # either
        ('search:"code-server"', {"app_404"}),
        ("-search:mobile", ALL - FRANKS - {"ssh_45m", "pf_502"} | {"tunnel_101"}),
        ("-mobile", ALL - FRANKS - {"ssh_45m", "pf_502"} | {"tunnel_101"}),  # a word left out
        ("-mobile -grafana", ALL - FRANKS - {"ssh_45m", "pf_502", "app_200"} | {"tunnel_101"}),
        ("-nothing-like-this", ALL),
        ("frank -grafana", FRANKS - {"app_200"}),
        ('"-old"', {"tunnel_101"}),  # quoted: a word to find, dash included
        ("type:ssh dev", {"ssh_9h", "ssh_open"}),
        ("web-old", {"tunnel_101"}),
        ("100%", set()),  # LIKE's wildcards are plain characters
        ("d_v", set()),
        ("nothing-like-this", set()),
    ],
)
def test_free_text(incident, owner_api, q, expected):
    assert found(incident, owner_api, q) == expected


def test_a_free_word_and_a_search_key_are_given_twice(incident, owner_api):
    [validation] = validations(owner_api, "mobile search:dev")
    assert validation["field"] == "search"
    assert "provided more than once, found 2 times" in validation["detail"]


@pytest.mark.parametrize(
    ("q", "field", "detail"),
    [
        (
            "type:ssh,telnet",
            "type",
            'Query param "type" has invalid value: "telnet" is not a valid value',
        ),
        (
            "-type:telnet",
            "-type",
            'Query param "-type" has invalid value: "telnet" is not a valid value',
        ),
        ("workspace_id:abc", "workspace_id", 'Query param "workspace_id" must be a valid uuid'),
        (
            "workspace_id:7a6fafdc-e3d0-43cb-a1b7-1f19802d7908,abc",
            "workspace_id",
            'Query param "workspace_id" must be a valid uuid: "abc" is not one',
        ),
        (
            "organization:acme,nowhere",
            "organization",
            'Query param "organization" has invalid value: organization "nowhere" either does not '
            "exist, or you are unauthorized to view it",
        ),
        ("-colour:red", "-colour", None),
    ],
)
def test_errors_of_lists_and_negations_name_the_bad_part(incident, owner_api, q, field, detail):
    [validation] = validations(owner_api, q)
    assert validation["field"] == field
    if detail is not None:
        assert validation["detail"] == detail


def test_a_query_coder_answers_keeps_its_answer(incident, owner_api):
    # Coder's keys with values that are not lists, negations or free text: the answers of
    # tests/api/test_connectionlog_search.py, checked here on these rows too.
    assert found(incident, owner_api, "workspace_owner:frank type:ssh") == {"ssh_0830"}
    assert found(incident, owner_api, "status:completed type:vscode") == {"vscode_30s"}
    assert found(incident, owner_api, "username:nobody") == set()


# --- notices: facts about an answer that is not an error --------------------------------


def search_for(user, q: str) -> LogSearch:
    request = RequestFactory().get("/connectionlog", {"q": q})
    request.user = user
    return LogSearch.from_request(request)


@pytest.mark.parametrize(
    ("q", "notices"),
    [
        ("workspace_owner:frnak", ['No user named "frnak"']),
        ("workspace_owner:frank,frnak,frnak", ['No user named "frnak"']),
        (
            "username:ghost workspace_owner_email:x@y.test",
            ['No user with the email "x@y.test"', 'No user named "ghost"'],
        ),
        ("-workspace_owner:frnak", ['No user named "frnak"']),
        ("workspace:frnak/mobile-app", ['No user named "frnak"']),
        ("user_email:carol@acme.test workspace_owner:me", []),
        ("type:ssh", []),
    ],
)
def test_a_name_that_is_nobodys_is_a_notice_not_an_error(incident, owner, q, notices):
    found_search = search_for(owner, q)
    assert found_search.validations == []
    assert found_search.notices == notices


def test_the_api_answers_an_unknown_user_as_coder_does(incident, owner_api):
    response = owner_api.get("/api/v2/connectionlog", {"q": "workspace_owner:frnak"})
    assert response.json() == {"connection_logs": [], "count": 0, "count_cap": 2000}


def test_one_clock_per_search(incident, owner):
    request = RequestFactory().get("/connectionlog")
    request.user = owner
    moment = incident.now
    search = LogSearch(request, "active_after:-1h connected_before:-1d", now=moment)
    assert search.is_valid
    assert search.window.after == moment - dt.timedelta(hours=1)
    assert search.window.before == moment - dt.timedelta(days=1)
    assert search.filterset.now == moment
