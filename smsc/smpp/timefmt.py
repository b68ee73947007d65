"""SMPP time strings (SMPP 3.4 section 7.1.1) and delivery receipt dates (Appendix B).

A time field is ``YYMMDDhhmmsstnnp``: 16 ASCII characters (17 octets with the NUL on the wire), or
empty for "not given".  ``p`` is ``+``/``-`` for an absolute local time ``nn`` quarter hours ahead of /
behind UTC, or ``R`` for a period relative to the SMSC's current time.  Every datetime returned here is
timezone-aware UTC; a naive datetime given to this module is taken to be UTC.

The two-digit year is read by a *pivot* (SMPP 3.4 Appendix C, "Year 2000 Rollover Date Guideline"): "each
SMPP entity must define a Year 2000 rollover date for 2-digit dates ... SMPP developers should make the
rollover date configurable", with the recommended default "xx38": 38-99 are 1938-1999, 00-37 are 2000-2037.
Every function that reads or writes a year takes ``pivot`` (0-99, default :data:`YEAR_PIVOT`; the server's
``server.year_pivot``): two-digit years below it are 20YY, the others 19YY, so the years written are 19PP to
20(PP-1), a century.

Writing never fails: a time outside that century is written as the nearest instant inside it
(:func:`writable_range`; :data:`WRITABLE_FROM` and :data:`WRITABLE_UNTIL` for the default pivot), which is
what reading the text back gives.  A simulation clock run fast (``simulation.time_scale``) passes 2037 in a
day or two of real time; its receipts and query_sm answers must still go out (tester9 finding 1).
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

__all__ = [
    "YEAR_PIVOT",
    "WRITABLE_FROM",
    "WRITABLE_UNTIL",
    "writable_range",
    "full_year",
    "parse_smpp_time",
    "format_absolute",
    "format_relative",
    "receipt_date",
    "parse_receipt_date",
]

#: The default pivot: two-digit years below it are 20YY, the others 19YY (SMPP 3.4 Appendix C recommendation,
#: rollover date "xx38": 00-37 -> 2000-2037, 38-99 -> 1938-1999).
YEAR_PIVOT = 38

_ranges: dict[int, tuple[datetime, datetime]] = {}


def writable_range(pivot: int = YEAR_PIVOT) -> tuple[datetime, datetime]:
    """The first and the last instant (UTC) a two-digit year can name with ``pivot``: 19PP-01-01 00:00:00.0 and
    20(PP-1)-12-31 23:59:59.9 (tenths are the finest unit of an SMPP time); 1938 and 2037 for the default.

    Raises:
        ValueError: ``pivot`` is not an integer from 0 to 99.
    """
    if type(pivot) is not int or not 0 <= pivot <= 99:
        raise ValueError(f"year pivot must be an integer from 0 to 99, got {pivot!r}")
    found = _ranges.get(pivot)
    if found is None:
        found = _ranges[pivot] = (
            datetime(1900 + pivot, 1, 1, tzinfo=timezone.utc),
            datetime(1999 + pivot, 12, 31, 23, 59, 59, 900_000, tzinfo=timezone.utc),
        )
    return found


#: The first and the last instant a two-digit year can name with the default pivot (UTC): 1938-01-01
#: 00:00:00.0 and 2037-12-31 23:59:59.9.
WRITABLE_FROM, WRITABLE_UNTIL = writable_range(YEAR_PIVOT)

_DIGITS = frozenset("0123456789")
_QUARTER_HOUR = timedelta(minutes=15)
_MAX_OFFSET_QUARTERS = 48  # +/- 12 hours
_MAX_RELATIVE_DAYS = 99


def full_year(yy: int, pivot: int = YEAR_PIVOT) -> int:
    """The four-digit year of a two-digit SMPP year: 20YY below ``pivot``, else 19YY (SMPP 3.4 Appendix C)."""
    return 2000 + yy if yy < pivot else 1900 + yy


def _as_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _writable(dt: datetime, pivot: int) -> datetime:
    """``dt`` in UTC, moved to the nearest instant a two-digit year can name with ``pivot`` when it lies outside
    :func:`writable_range` (compared before converting: converting a datetime near ``datetime.min`` or
    ``datetime.max`` to UTC can overflow)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    first, last = _ranges.get(pivot) or writable_range(pivot)
    if dt < first:
        return first
    if dt > last:
        return last
    return dt.astimezone(timezone.utc)


def _add_months(dt: datetime, months: int) -> datetime:
    """Calendar month arithmetic; the day is clamped to the last day of the target month."""
    index = dt.month - 1 + months
    year = dt.year + index // 12
    month = index % 12 + 1
    if year > 9999:
        raise ValueError("relative time runs past year 9999")
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def parse_smpp_time(value: str, now: datetime, pivot: int = YEAR_PIVOT) -> datetime | None:
    """Read a schedule_delivery_time / validity_period / final_date string (SMPP 3.4 section 7.1.1).

    * ``""`` -> None (field not given).
    * Absolute (``p`` is ``+`` or ``-``): the local time ``YYMMDDhhmmss.t`` shifted by ``nn`` quarter
      hours to UTC (``+``: UTC = local - offset; ``-``: UTC = local + offset).  Tenths become
      microseconds; YY is a year by ``pivot`` (:func:`full_year`).  ``now`` is not used.
    * Relative (``R``): ``now`` (in UTC) plus YY years and MM months (calendar arithmetic, day clamped to
      the month's length: Jan 31 + 1 month = Feb 28/29), then DD days, hh hours, mm minutes, ss
      seconds.  Each field may be 00-99; ``t`` and ``nn`` are ignored (they should be ``0``/``00``).

    Returns an aware UTC datetime.  Raises ValueError on a length other than 0 or 16, a non-digit in
    the first 15 characters, ``p`` not ``+``/``-``/``R``, an absolute field out of range (month 13,
    day 31 in April, hour 24, ...), ``nn`` above 48, or a result outside the datetime range.  The
    caller maps that to ESME_RINVSCHED or ESME_RINVEXPIRY.
    """
    if value == "":
        return None
    if len(value) != 16:
        raise ValueError(f"SMPP time {value!r} has {len(value)} characters, expected 16")
    if not _DIGITS.issuperset(value[:15]):
        raise ValueError(f"SMPP time {value!r} has a non-digit in its first 15 characters")
    p = value[15]
    yy, mo, dd, hh, mi, ss = (int(value[i : i + 2]) for i in range(0, 12, 2))
    if p == "R":
        base = _as_utc(now)
        try:
            shifted = _add_months(base, 12 * yy + mo)
            return shifted + timedelta(days=dd, hours=hh, minutes=mi, seconds=ss)
        except OverflowError:
            raise ValueError(f"relative SMPP time {value!r} runs out of range") from None
    if p not in "+-":
        raise ValueError(f"SMPP time {value!r} ends in {p!r}, expected '+', '-' or 'R'")
    tenths = int(value[12])
    nn = int(value[13:15])
    if nn > _MAX_OFFSET_QUARTERS:
        raise ValueError(f"SMPP time {value!r}: UTC offset {nn} quarter hours is above 48")
    # datetime() rejects month 13, day 31 of a 30-day month, hour 24, minute or second 60.
    local = datetime(full_year(yy, pivot), mo, dd, hh, mi, ss, tenths * 100_000, tzinfo=timezone.utc)
    offset = nn * _QUARTER_HOUR
    return local - offset if p == "+" else local + offset


def format_absolute(dt: datetime, pivot: int = YEAR_PIVOT) -> str:
    """``dt`` as an absolute SMPP time in UTC: ``YYMMDDhhmmsst00+`` (16 characters).

    A time outside the century the two-digit year names with ``pivot`` (1938-2037 by default) is written as
    the first or last instant of :func:`writable_range`, the value :func:`parse_smpp_time` reads back with the
    same pivot.  Never raises for a valid pivot.
    """
    utc = _writable(dt, pivot)
    return f"{utc.year % 100:02d}{utc:%m%d%H%M%S}{utc.microsecond // 100_000}00+"


def format_relative(seconds: float) -> str:
    """A period as a relative SMPP time ``00MMDDhhmmss000R`` in days, hours, minutes and seconds.

    Fractions of a second are dropped; years and months are never used (their length varies).
    Raises ValueError for a negative period or one of 100 days or more.
    """
    if seconds < 0:
        raise ValueError(f"relative SMPP time cannot be negative ({seconds} s)")
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    if days > _MAX_RELATIVE_DAYS:
        raise ValueError(f"{seconds} s is too long for a relative SMPP time; use format_absolute")
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def receipt_date(dt: datetime, pivot: int = YEAR_PIVOT) -> str:
    """``dt`` as a delivery receipt date ``YYMMDDhhmm`` in UTC (SMPP 3.4 Appendix B).

    A time outside the century of ``pivot`` is written as its first or last minute (3801010000 or 3712312359
    by default; :func:`format_absolute` says why), the value :func:`parse_receipt_date` reads back with the
    same pivot.  Never raises for a valid pivot.
    """
    utc = _writable(dt, pivot)
    return f"{utc.year % 100:02d}{utc:%m%d%H%M}"


def parse_receipt_date(value: str, pivot: int = YEAR_PIVOT) -> datetime | None:
    """Read a receipt ``submit date`` / ``done date`` as an aware UTC datetime, or None if unusable.

    Accepts ``YYMMDDhhmm`` (Appendix B), ``YYMMDDhhmmss`` and ``YYYYMMDDhhmmss`` (seen in the field); a
    two-digit year by ``pivot``.
    Never raises: another length, non-digits or an impossible date give None.
    """
    if not _DIGITS.issuperset(value):
        return None
    try:
        if len(value) == 14:
            return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        if len(value) in (10, 12):
            mo, dd, hh, mi = (int(value[i : i + 2]) for i in range(2, 10, 2))
            ss = int(value[10:12]) if len(value) == 12 else 0
            return datetime(full_year(int(value[:2]), pivot), mo, dd, hh, mi, ss, tzinfo=timezone.utc)
    except ValueError:
        return None
    return None
