"""SMPP 3.4 section 7.1.1 time strings and receipt dates (smsc.smpp.timefmt)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.smpp.timefmt import (
    WRITABLE_FROM,
    WRITABLE_UNTIL,
    YEAR_PIVOT,
    format_absolute,
    format_relative,
    full_year,
    parse_receipt_date,
    parse_smpp_time,
    receipt_date,
    writable_range,
)

UTC = timezone.utc
NOW = datetime(2025, 1, 31, 10, 0, 0, tzinfo=UTC)


def test_empty_time_is_not_given() -> None:
    assert parse_smpp_time("", NOW) is None


def test_absolute_time_ahead_of_utc_is_shifted_back() -> None:
    # facts 6: 250101120000032+ -> 12:00 local at UTC+8h -> 04:00 UTC
    assert parse_smpp_time("250101120000032+", NOW) == datetime(2025, 1, 1, 4, 0, tzinfo=UTC)


def test_absolute_time_behind_utc_is_shifted_forward() -> None:
    assert parse_smpp_time("250101120000020-", NOW) == datetime(2025, 1, 1, 17, 0, tzinfo=UTC)


def test_absolute_time_keeps_tenths_and_quarter_hours() -> None:
    parsed = parse_smpp_time("991231235959701+", NOW)
    assert parsed == datetime(1999, 12, 31, 23, 44, 59, 700_000, tzinfo=UTC)
    assert parsed is not None and parsed.tzinfo is UTC


def test_absolute_utc_time_crosses_midnight_with_offset_48() -> None:
    assert parse_smpp_time("250301000000048+", NOW) == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "delta"),
    [
        ("000007000000000R", timedelta(days=7)),
        ("000000001000000R", timedelta(minutes=10)),
        ("000000000001000R", timedelta(seconds=1)),
        ("000000000000000R", timedelta(0)),
        ("000000480000000R", timedelta(hours=48)),  # fields of a period may exceed their clock range
    ],
)
def test_relative_time_adds_days_hours_minutes_seconds(value: str, delta: timedelta) -> None:
    assert parse_smpp_time(value, NOW) == NOW + delta


def test_relative_time_spec_example_uses_calendar_months() -> None:
    # 2 y 6 mo 10 d 23:34:29 from 2025-01-31 10:00 -> 2027-07-31 -> +10 d -> 2027-08-10, +23:34:29
    expected = datetime(2027, 8, 11, 9, 34, 29, tzinfo=UTC)
    assert parse_smpp_time("020610233429000R", NOW) == expected


def test_relative_month_clamps_the_day_to_the_month_length() -> None:
    assert parse_smpp_time("000100000000000R", NOW) == datetime(2025, 2, 28, 10, 0, tzinfo=UTC)
    leap = datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_smpp_time("000100000000000R", leap) == datetime(2024, 2, 29, tzinfo=UTC)
    assert parse_smpp_time("001300000000000R", leap) == datetime(2025, 2, 28, tzinfo=UTC)


def test_relative_time_ignores_tenths_and_offset() -> None:
    assert parse_smpp_time("000000000100948R", NOW) == NOW + timedelta(minutes=1)


def test_relative_time_from_naive_or_other_zone_now_is_utc() -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    assert parse_smpp_time("000000010000000R", naive) == datetime(2025, 1, 1, 13, 0, tzinfo=UTC)
    cet = datetime(2025, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    result = parse_smpp_time("000000010000000R", cet)
    assert result == datetime(2025, 1, 1, 13, 0, tzinfo=UTC) and result is not None
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "25010112000003+",  # 15 characters
        "2501011200000032+",  # 17 characters
        "25010112000003a+",  # bad digit
        "２５0101120000032+"[:16],  # non-ASCII digits
        "251301120000032+",  # month 13
        "250001120000032+",  # month 0
        "250431120000032+",  # 31 April
        "250101240000032+",  # hour 24
        "250101126000032+",  # minute 60
        "250101120000049+",  # offset above 48
        "250101120000032X",  # bad p
        "250101120000032 ",
    ],
)
def test_malformed_time_is_a_value_error(value: str) -> None:
    with pytest.raises(ValueError):
        parse_smpp_time(value, NOW)


def test_relative_time_past_year_9999_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_smpp_time("990000000000000R", datetime(9950, 1, 1, tzinfo=UTC))


def test_year_pivot() -> None:
    assert YEAR_PIVOT == 38
    assert [full_year(y) for y in (0, 37, 38, 99)] == [2000, 2037, 1938, 1999]
    assert parse_smpp_time("370101000000000+", NOW) == datetime(2037, 1, 1, tzinfo=UTC)
    assert parse_smpp_time("380101000000000+", NOW) == datetime(1938, 1, 1, tzinfo=UTC)


def test_format_absolute_writes_utc_with_tenths() -> None:
    dt = datetime(2025, 6, 7, 8, 9, 10, 420_000, tzinfo=UTC)
    assert format_absolute(dt) == "250607080910400+"
    assert parse_smpp_time(format_absolute(dt), NOW) == dt.replace(microsecond=400_000)


def test_format_absolute_converts_other_zones_to_utc() -> None:
    dt = datetime(2025, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_absolute(dt) == "241231230000000+"


def test_times_after_2037_are_written_as_the_last_instant_the_two_digit_year_names() -> None:
    # tester9 finding 1: a fast simulation clock past 2037 made every receipt and query_sm raise.
    for dt in (datetime(2038, 1, 1, tzinfo=UTC), datetime(2051, 6, 7, 8, 9, tzinfo=UTC), datetime.max):
        assert format_absolute(dt) == "371231235959900+"
        assert receipt_date(dt) == "3712312359"
    assert WRITABLE_UNTIL == datetime(2037, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC)
    assert parse_smpp_time("371231235959900+", NOW) == WRITABLE_UNTIL
    assert parse_receipt_date("3712312359") == datetime(2037, 12, 31, 23, 59, tzinfo=UTC)


def test_times_before_1938_are_written_as_the_first_instant_the_two_digit_year_names() -> None:
    for dt in (datetime(1937, 12, 31, 23, 59, 59, tzinfo=UTC), datetime.min,
               datetime.min.replace(tzinfo=timezone(timedelta(hours=14)))):
        assert format_absolute(dt) == "380101000000000+"
        assert receipt_date(dt) == "3801010000"
    assert parse_smpp_time("380101000000000+", NOW) == WRITABLE_FROM


def test_the_window_edges_are_written_exactly() -> None:
    assert format_absolute(datetime(2037, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == "371231235959900+"
    assert format_absolute(datetime(1938, 1, 1, tzinfo=UTC)) == "380101000000000+"
    # Compared in UTC: 2038-01-01 00:30 at UTC+1 is still 2037 in UTC.
    assert receipt_date(datetime(2038, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))) == "3712312330"


def test_format_relative() -> None:
    assert format_relative(7 * 86400) == "000007000000000R"
    assert format_relative(600) == "000000001000000R"
    assert format_relative(90061.9) == "000001010101000R"
    assert format_relative(0) == "000000000000000R"
    assert parse_smpp_time(format_relative(3723), NOW) == NOW + timedelta(seconds=3723)


def test_format_relative_rejects_negative_and_too_long_periods() -> None:
    with pytest.raises(ValueError):
        format_relative(-1)
    with pytest.raises(ValueError):
        format_relative(100 * 86400)
    assert format_relative(100 * 86400 - 1) == "000099235959000R"


def test_receipt_date_is_yymmddhhmm_in_utc() -> None:
    assert receipt_date(datetime(2025, 3, 4, 5, 6, 59, tzinfo=UTC)) == "2503040506"
    assert receipt_date(datetime(2025, 3, 4, 5, 6)) == "2503040506"  # naive = UTC
    assert receipt_date(datetime(2025, 3, 4, 0, 30, tzinfo=timezone(timedelta(hours=1)))) == "2503032330"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2503040506", datetime(2025, 3, 4, 5, 6, tzinfo=UTC)),
        ("250304050607", datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("20250304050607", datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2513040506", None),
        ("25030405", None),
        ("YYMMDDhhmm", None),
        ("", None),
    ],
)
def test_parse_receipt_date(value: str, expected: datetime | None) -> None:
    assert parse_receipt_date(value) == expected


# -- properties ---------------------------------------------------------------------------------------

_times = st.datetimes(min_value=datetime(1938, 1, 1), max_value=datetime(2037, 12, 31, 23, 59, 59))


@settings(max_examples=200, deadline=None)
@given(_times, st.integers(0, 48), st.sampled_from("+-"))
def test_absolute_time_round_trips_through_any_offset(dt: datetime, nn: int, sign: str) -> None:
    dt = dt.replace(microsecond=dt.microsecond // 100_000 * 100_000, tzinfo=UTC)
    offset = timedelta(minutes=15 * nn) * (1 if sign == "+" else -1)
    local = dt + offset
    if not 1938 <= local.year <= 2037:
        return
    value = f"{local:%y%m%d%H%M%S}{local.microsecond // 100_000}{nn:02d}{sign}"
    assert parse_smpp_time(value, NOW) == dt
    assert parse_smpp_time(format_absolute(dt), NOW) == dt


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))])))
def test_writing_never_raises_and_reads_back_the_nearest_writable_instant(dt: datetime) -> None:
    expected = min(max(dt, WRITABLE_FROM), WRITABLE_UNTIL).astimezone(UTC)
    assert parse_smpp_time(format_absolute(dt), NOW) == expected.replace(
        microsecond=expected.microsecond // 100_000 * 100_000)
    assert parse_receipt_date(receipt_date(dt)) == expected.replace(second=0, microsecond=0)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_parse_smpp_time_raises_only_value_error(value: str) -> None:
    try:
        result = parse_smpp_time(value, NOW)
    except ValueError:
        return
    assert result is None or result.tzinfo is not None


def test_the_year_pivot_is_a_parameter_as_appendix_c_asks() -> None:
    """SMPP 3.4 Appendix C: "SMPP developers should make the rollover date configurable"."""
    assert [full_year(y, 70) for y in (0, 69, 70, 99)] == [2000, 2069, 1970, 1999]
    assert [full_year(y, 0) for y in (0, 99)] == [1900, 1999]
    assert parse_smpp_time("510304050600000+", NOW, 70) == datetime(2051, 3, 4, 5, 6, tzinfo=UTC)
    assert parse_smpp_time("510304050600000+", NOW) == datetime(1951, 3, 4, 5, 6, tzinfo=UTC)
    dt = datetime(2051, 3, 4, 5, 6, tzinfo=UTC)
    assert (format_absolute(dt, 70), receipt_date(dt, 70)) == ("510304050600000+", "5103040506")
    assert parse_receipt_date("5103040506", 70) == dt
    first, last = writable_range(70)
    assert (first, last) == (datetime(1970, 1, 1, tzinfo=UTC),
                             datetime(2069, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC))
    assert format_absolute(datetime(2070, 1, 1, tzinfo=UTC), 70) == "691231235959900+"
    assert receipt_date(datetime(1969, 12, 31, tzinfo=UTC), 70) == "7001010000"
    assert writable_range() == (WRITABLE_FROM, WRITABLE_UNTIL)


@pytest.mark.parametrize("pivot", [-1, 100, 38.0, True, "38"])
def test_a_year_pivot_outside_0_to_99_is_a_value_error(pivot: object) -> None:
    with pytest.raises(ValueError, match="year pivot"):
        writable_range(pivot)  # type: ignore[arg-type]
