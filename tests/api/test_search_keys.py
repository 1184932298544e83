"""The search language's own keys through GET /api/v2/connectionlog, on SQLite and PostgreSQL:
rows that must and must not match, and each key's errors (docs/search.md)."""

import datetime as dt

import pytest

from tests.api.conftest import ALL, found, iso, validations


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ip:10.1.2.3", {"ssh_0830"}),
        ('ip:"2001:db8::5"', {"ssh_9h"}),
        ('ip:"2001:DB8:0:0::5"', {"ssh_9h"}),  # normalised as stored
        ("ip:198.51.100.0/24", {"vscode_30s", "ssh_stale", "app_404"}),
        ("ip:198.51.100.7/24", {"vscode_30s", "ssh_stale", "app_404"}),  # host bits ignored
        ("ip:10.0.0.0/8", {"ssh_0830", "ssh_45m", "jetbrains_no_code"}),
        ('ip:"2001:db8::/32"', {"ssh_9h", "pf_502"}),
        ("ip:0.0.0.0/0", ALL - {"ssh_open", "ssh_9h", "pf_502"}),  # unknown IP never matches
        ("ip:10.1.2.3,203.0.113.5", {"ssh_0830", "app_200"}),
        ("ip:192.0.2.1", set()),
        ("workspace:mobile-app", {"ssh_0830", "vscode_30s", "app_404", "ssh_45m", "pf_502"}),
        ("workspace:frank/mobile-app", {"ssh_0830", "vscode_30s", "app_404"}),
        ("workspace:FRANK/Mobile-App", {"ssh_0830", "vscode_30s", "app_404"}),
        ("workspace:bob/mobile-app", {"ssh_45m", "pf_502"}),
        ("workspace:bob/scratch", {"ssh_stale"}),  # deleted workspaces keep their rows
        ("workspace:web-old", {"tunnel_101"}),  # the name the row recorded
        ("workspace:web-new", set()),
        ("workspace:nobody/mobile-app", set()),
        (
            "workspace:dev,bob/scratch",
            {"ssh_9h", "ssh_open", "jetbrains_no_code", "app_200", "ssh_stale"},
        ),
        ("agent:gpu-box", {"ssh_9h"}),  # case-insensitive, the whole name
        ("agent:gpu", set()),
        ("agent:ÉDITEUR", {"ssh_45m"}),  # beyond ASCII on both databases
        ("agent:main,éditeur", ALL - {"ssh_9h"}),
        ("status_code:404", {"app_404"}),
        ("status_code:4xx", {"app_404"}),
        ("status_code:>=400", {"app_404", "pf_502"}),
        ("status_code:>404", {"pf_502"}),
        ("status_code:<200", {"tunnel_101"}),
        ("status_code:<=200", {"tunnel_101", "app_200"}),
        ("status_code:502,503", {"pf_502"}),
        ("status_code:5xx,101", {"pf_502", "tunnel_101"}),
        ("status_code:>0", {"app_404", "app_200", "pf_502", "tunnel_101"}),  # web rows only
        ("exit_code:0", {"ssh_0830", "ssh_45m"}),
        ("exit_code:137", {"ssh_9h"}),
        ("exit_code:>0", {"ssh_9h", "vscode_30s"}),
        ("exit_code:>=0", {"ssh_0830", "ssh_45m", "ssh_9h", "vscode_30s"}),  # agent rows only
        ("result:failed", {"ssh_9h", "vscode_30s", "app_404", "pf_502"}),
        ("result:ok", {"ssh_0830", "ssh_45m", "app_200", "tunnel_101"}),
        ("result:ok,failed", ALL - {"ssh_open", "ssh_stale", "jetbrains_no_code"}),
        ("status:stale", {"ssh_stale"}),
        ("status:ongoing", {"ssh_open", "ssh_stale"}),  # stale ones included, as in Coder
        (
            "status:completed,stale",
            {"ssh_0830", "ssh_9h", "vscode_30s", "ssh_45m", "jetbrains_no_code", "ssh_stale"},
        ),
        ("duration:>8h", {"ssh_9h", "ssh_stale"}),  # ongoing sessions measured to now
        ("duration:>=90m", {"ssh_9h", "ssh_stale", "ssh_0830"}),
        ("duration:<1m", {"vscode_30s"}),
        ("duration:<1h", {"vscode_30s", "ssh_45m", "ssh_open"}),
        ("duration:<=1h", {"vscode_30s", "ssh_45m", "ssh_open", "jetbrains_no_code"}),
        ("duration:<1m,>1d", {"vscode_30s", "ssh_stale"}),
    ],
)
def test_each_key_matches_exactly_these_rows(incident, owner_api, q, expected):
    assert found(incident, owner_api, q) == expected


def test_the_issue_overlap_window_finds_the_0830_to_1000_session(incident, owner_api):
    start, end = incident.at(9), incident.at(18)
    window = f'active_after:"{iso(start)}" active_before:"{iso(end)}"'
    # Web rows are points; the open session started 30 days ago is still active.
    assert found(incident, owner_api, window) == {"ssh_0830", "vscode_30s", "app_404", "ssh_stale"}
    # Coder's connected_* keys match start times only: the 08:30 session is missed.
    started = f'connected_after:"{iso(start)}" connected_before:"{iso(end)}"'
    assert found(incident, owner_api, started) == {"vscode_30s", "app_404"}


@pytest.mark.parametrize(
    ("after", "before", "expected"),
    [
        # A 9-hour session seen 8 hours after it started: found through its end time.
        ((8, -4), (8.5, -4), {"ssh_9h"}),
        # A 45-minute session seen 30 minutes after it started: found through its start.
        ((10.5, -2), (11, -2), {"ssh_45m"}),
        # The moment a session ends and the moment it starts are inside (inclusive bounds).
        ((10, 0), (10, 0), {"ssh_0830"}),
        ((8.5, 0), (8.5, 0), {"ssh_0830"}),
        # The gap after it: nothing but the open sessions that started before.
        ((10.01, 0), (11, 0), set()),
    ],
)
def test_active_windows_overlap_at_their_edges(incident, owner_api, after, before, expected):
    q = f'active_after:"{iso(incident.at(*after))}" active_before:"{iso(incident.at(*before))}"'
    assert found(incident, owner_api, q) == expected | {"ssh_stale"}


def test_active_after_alone_and_active_before_alone(incident, owner_api):
    after = found(incident, owner_api, f'active_after:"{iso(incident.at(11))}"')
    assert after == {"vscode_30s", "app_200", "tunnel_101", "ssh_open", "ssh_stale"}
    before = found(incident, owner_api, f'active_before:"{iso(incident.at(1, -1))}"')
    assert before == {"ssh_9h", "ssh_45m", "ssh_stale", "jetbrains_no_code"}


def test_a_bare_date_is_the_whole_utc_day(incident, owner_api):
    day = incident.day.date().isoformat()
    assert found(incident, owner_api, f"active_after:{day} active_before:{day}") == {
        "ssh_0830",
        "vscode_30s",
        "app_404",
        "app_200",
        "ssh_stale",
    }
    assert found(incident, owner_api, f"connected_after:{day} connected_before:{day}") == {
        "ssh_0830",
        "vscode_30s",
        "app_404",
        "app_200",
    }


def test_relative_times_count_back_from_now(incident, owner_api):
    assert found(incident, owner_api, "connected_after:-1h") == {"ssh_open"}
    assert found(incident, owner_api, "connected_after:-2w connected_before:-20d") == set()
    assert found(incident, owner_api, "connected_before:-3w") == {"ssh_stale"}
    assert found(incident, owner_api, "active_after:-15m") == {"ssh_open", "ssh_stale"}


def test_stale_follows_the_setting(incident, owner_api, settings):
    settings.CONNLOGS_STALE_AFTER = dt.timedelta(minutes=1)
    assert found(incident, owner_api, "status:stale") == {"ssh_open", "ssh_stale"}


@pytest.mark.parametrize(
    ("q", "field", "detail"),
    [
        (
            "ip:nope",
            "ip",
            'Query param "ip" has invalid value: "nope" is not a valid value (an address, or a '
            "CIDR block such as 10.0.0.0/8)",
        ),
        ("ip:10.0.0.0/33", "ip", None),
        ("ip:10.0.0.1,nope", "ip", None),
        ("workspace:a/b/c", "workspace", None),
        ("workspace:/dev", "workspace", None),
        (
            "status_code:abc",
            "status_code",
            'Query param "status_code" has invalid value: "abc" is not a valid value (a status '
            "such as 404, a class such as 4xx, or a comparison such as >=400)",
        ),
        ("status_code:4x", "status_code", None),
        ("status_code:=>400", "status_code", None),
        ("exit_code:4xx", "exit_code", None),
        ("result:broken", "result", None),
        ("duration:8h", "duration", None),
        ("duration:>8x", "duration", None),
        ("duration:>-8h", "duration", None),
        ("status:running", "status", None),
        ("active_after:yesterday", "active_after", None),
        ("active_before:2026-02-30", "active_before", None),
        ("connected_after:-7y", "connected_after", None),
    ],
)
def test_bad_values_name_the_key_and_the_bad_part(incident, owner_api, q, field, detail):
    [validation] = validations(owner_api, q)
    assert validation["field"] == field
    if detail is not None:
        assert validation["detail"] == detail
    bad = q.split(":", 1)[1].split(",")[-1]
    assert f'"{field}"' in validation["detail"]
    assert bad in validation["detail"] or field.endswith(("after", "before"))


def test_a_bad_time_keeps_coders_sentence_and_says_what_is_accepted(incident, owner_api):
    [validation] = validations(owner_api, "active_after:yesterday")
    assert validation["detail"] == (
        'Query param "active_after" must be a valid date format '
        '(2006-01-02T15:04:05.999999999Z07:00): parsing time "yesterday": use an RFC 3339 time '
        "(quoted, 2006-01-02T15:04:05Z), a date (2006-01-02) or a relative time "
        "(-15m, -24h, -7d, -2w)"
    )
