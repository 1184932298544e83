import datetime as dt
import uuid

import pytest

from connlogs import values

CANONICAL = "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908"


MIXED = "7A6fAfDC-e3D0-43cB-A1b7-1F19802d7908"


# Every spelling Go's uuid.Parse (google/uuid, which Coder uses) accepts: 36 bytes canonical,
# 45 with a urn:uuid: prefix in any case, 38 with any byte either side (Go checks neither
# brace), 32 hex digits; hex digits in either case.
@pytest.mark.parametrize(
    "text",
    [
        CANONICAL,
        CANONICAL.upper(),
        MIXED,
        "urn:uuid:" + CANONICAL,
        "URN:UUID:" + CANONICAL.upper(),
        "uRn:UuId:" + MIXED,
        "{" + CANONICAL + "}",
        "{" + MIXED + "}",
        "(" + CANONICAL + ")",
        "x" + CANONICAL + "}",
        CANONICAL.replace("-", ""),
        MIXED.replace("-", ""),
    ],
)
def test_uuid_in_every_spelling_go_accepts(text):
    assert values.parse_uuid(text) == uuid.UUID(CANONICAL)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        CANONICAL[:-1],
        "a-" + CANONICAL,
        " " + CANONICAL,  # Go trims nothing
        CANONICAL + "\n",
        "urn:uuid:" + CANONICAL[:-1],
        "urn:uuid-" + CANONICAL,
        "uuid:" + CANONICAL.replace("-", ""),
        "urn:uuid:" + CANONICAL.replace("-", "") + "0000",  # 45 bytes, no dashes
        "{" + CANONICAL,
        "{" + CANONICAL + "}}",
        "{{" + CANONICAL.replace("-", "") + "}}",  # 36 bytes, no dashes where Go wants them
        CANONICAL.replace("-", "_"),
        CANONICAL[:-1] + "g",
        CANONICAL.replace("-", "")[:-1] + "G",
        "é" + CANONICAL,  # 38 bytes in UTF-8, as Go counts: the dashes are then misplaced
        # 32 bytes that Python's int(text, 16) would take but that are not 32 hex digits
        CANONICAL.replace("-", "")[:16] + "_" + CANONICAL.replace("-", "")[17:],
        " " + CANONICAL.replace("-", "")[1:],
    ],
)
def test_bad_uuids(text):
    with pytest.raises(ValueError):
        values.parse_uuid(text)


def test_time_with_offset_is_converted_to_utc():
    assert values.parse_rfc3339("2023-01-16t12:00:00+12:00") == dt.datetime(
        2023, 1, 16, 0, 0, tzinfo=dt.UTC
    )


def test_time_keeps_microseconds_and_truncates_nanoseconds():
    assert values.parse_rfc3339("2025-07-10T10:20:01.123456789Z").microsecond == 123456


@pytest.mark.parametrize(
    "text", ["2025-01-01", "2025-01-01 00:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T00:00:00"]
)
def test_bad_times(text):
    with pytest.raises(ValueError):
        values.parse_rfc3339(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.datetime(2025, 7, 10, 10, 20, 1, 100000, tzinfo=dt.UTC), "2025-07-10T10:20:01.1Z"),
        (dt.datetime(2025, 7, 10, 10, 20, 1, tzinfo=dt.UTC), "2025-07-10T10:20:01Z"),
        (
            dt.datetime(2025, 7, 10, 12, 14, 38, 942776, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2025-07-10T10:14:38.942776Z",
        ),
    ],
)
def test_format_time_is_utc_with_trimmed_fraction(value, text):
    assert values.format_time(value) == text


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("localhost", "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3"),
        ("FD7A:115C:A1E0:0000::1", "fd7a:115c:a1e0::1"),
        ("", None),
    ],
)
def test_normalize_ip(text, stored):
    assert values.normalize_ip(text) == stored


def test_bad_ip():
    with pytest.raises(ValueError):
        values.normalize_ip("10.0.0.256")


@pytest.mark.parametrize(
    "text", ["٢٠٢٥-01-01T00:00:00Z", "2025-٠1-01T00:00:00Z", "2025-01-01T00:00:00.٥Z"]
)
def test_times_take_ascii_digits_only(text):
    with pytest.raises(ValueError):
        values.parse_rfc3339(text)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("203.0.113.5:22", "203.0.113.5"),
        ("[::1]:80", "::1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("localhost:8080", "127.0.0.1"),
    ],
)
def test_a_reported_address_is_the_address(text, stored):
    assert values.normalize_ip(text) == stored


@pytest.mark.parametrize("text", ["1.2.3.4:99999", "[::1]:x", "1.2.3.4:٢٢", "[]"])
def test_a_port_or_brackets_around_no_address(text):
    with pytest.raises(ValueError):
        values.normalize_ip(text)


# --- the search language's own forms ------------------------------------------------------

NOW = dt.datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("-15m", False, NOW - dt.timedelta(minutes=15)),
        ("-24h", True, NOW - dt.timedelta(hours=24)),
        ("-7d", False, NOW - dt.timedelta(days=7)),
        ("-2w", False, NOW - dt.timedelta(weeks=2)),
        ("-90s", False, NOW - dt.timedelta(seconds=90)),
        ("2026-11-24", False, dt.datetime(2026, 11, 24, tzinfo=dt.UTC)),
        ("2026-11-24", True, dt.datetime(2026, 11, 24, 23, 59, 59, 999999, tzinfo=dt.UTC)),
        ("2026-11-24t09:00:00+01:00", True, dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)),
    ],
)
def test_search_times(text, end_of_day, expected):
    assert values.parse_search_time(text, NOW, end_of_day=end_of_day) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yesterday", "a relative time (-15m, -24h, -7d, -2w)"),
        ("-7y", "a relative time"),
        ("+15m", "a relative time"),
        ("2026-02-30", "day is out of range for month"),
        ("2026-02-30T00:00:00Z", "day is out of range for month"),
        ("-999999999w", "too far in the past"),
    ],
)
def test_bad_search_times_say_why(text, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        values.parse_search_time(text, NOW)


@pytest.mark.parametrize(
    ("text", "length"),
    [("90s", dt.timedelta(seconds=90)), ("8h", dt.timedelta(hours=8)), ("2w", dt.timedelta(14))],
)
def test_lengths(text, length):
    assert values.parse_length(text) == length


@pytest.mark.parametrize("text", ["8", "h", "-8h", "1.5h", "8 h", "8y", "9999999999s"])
def test_bad_lengths(text):
    with pytest.raises(ValueError):
        values.parse_length(text)


@pytest.mark.parametrize(
    ("text", "parts"),
    [(">=400", (">=", "400")), ("<1m", ("<", "1m")), ("404", ("=", "404")), ("=>4", ("=", "=>4"))],
)
def test_comparisons(text, parts):
    assert values.split_comparison(text) == parts


def test_networks_clear_host_bits_and_refuse_non_blocks():
    assert str(values.parse_network("10.1.2.3/8")) == "10.0.0.0/8"
    assert str(values.parse_network("2001:DB8::1/32")) == "2001:db8::/32"
    for text in ("10.0.0.1", "10.0.0.0/33", "fe80::1%eth0/64", "nope/8"):
        with pytest.raises(ValueError):
            values.parse_network(text)
