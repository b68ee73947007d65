"""When a submitted message may first be attempted and when it expires (SMPP 3.4 sections 5.2.15, 5.2.16, 7.1.1).

schedule_delivery_time and validity_period arrive as raw SMPP time strings (absolute or relative, "" when
absent) and are read against the simulation clock.  Choices where the specification leaves room:

* a schedule in the past means "now"; one further ahead than ``max_schedule`` is ESME_RINVSCHED;
* no validity_period gives ``default_validity`` (itself clamped to ``max_validity``);
* a validity beyond ``max_validity`` is clamped to it (not refused); one that ends before the message could
  be attempted is ESME_RINVEXPIRY;
* replace_sm (SMPP 3.4 section 4.10.1) keeps a time it leaves empty and reads the other against it: a new
  validity_period is checked against the schedule in force (the new one, else the kept one), as submit_sm's
  is, so ESME_RINVEXPIRY when it ends before that schedule; a new schedule_delivery_time at or after the kept
  expiry is ESME_RINVSCHED (the field the ESME changed is the one at fault: its validity is never replaced
  by a default it did not ask for).

A submit refused for any reason is a :class:`Reject` carrying its command_status (and the real seconds to wait
before answering, for carrier submit rules).
"""

from __future__ import annotations

from datetime import datetime, timezone

import structlog

from smsc.smpp.constants import CommandStatus
from smsc.smpp.timefmt import YEAR_PIVOT, parse_smpp_time

log = structlog.get_logger("smsc.core")


class Reject(Exception):
    """A submit refused with ``status`` (a command_status), answered after ``delay`` real seconds."""

    def __init__(self, status: int, delay: float = 0.0) -> None:
        super().__init__(status)
        self.status = status
        self.delay = delay


_FIRST = datetime.min.replace(tzinfo=timezone.utc)
_LAST = datetime.max.replace(tzinfo=timezone.utc)


def utc(t: float) -> datetime:
    """``t`` (seconds since the epoch) as an aware UTC datetime; a time beyond year 9999 (or before year 1),
    which ``datetime`` cannot hold, saturates at ``datetime.max`` (``datetime.min``) so that no timer or
    request fails on the simulation clock's value, however far a fast ``time_scale`` has run it."""
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return _LAST if t > 0 else _FIRST


def iso_utc(t: float) -> str:
    """``t`` (seconds since the epoch) as ISO 8601 UTC with milliseconds and "Z", as the API and the logs write
    times (``2026-01-01T00:00:00.250Z``; saturating as :func:`utc` does)."""
    return utc(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: How far apart two times may be and still be one instant, seconds.  A time an ESME gives is read against the
#: clock's datetime, in whole microseconds, while the clock itself is a float: a relative period of zero, or of
#: exactly ``max_schedule``, came out a fraction of a microsecond either side of its limit, and one PDU was
#: accepted or refused from one try to the next (tester 153).  SMPP times have tenths of a second (section 7.1).
SAME_INSTANT = 1e-3


class SubmitTimes:
    """Reads schedule_delivery_time / validity_period against the clock, with the configured bounds.

    Args:
        default_validity: seconds a message lives without a validity_period.
        max_validity: the longest validity accepted, seconds (longer ones are clamped).
        max_schedule: how far ahead a schedule_delivery_time may be, seconds.
        year_pivot: how an absolute time's two-digit year is read (SMPP 3.4 Appendix C, ``server.year_pivot``:
            below it 20YY, else 19YY).
    """

    __slots__ = ("default_validity", "max_validity", "max_schedule", "year_pivot", "clamped")

    def __init__(self, default_validity: float, max_validity: float, max_schedule: float,
                 year_pivot: int = YEAR_PIVOT) -> None:
        self.default_validity = float(default_validity)
        self.max_validity = float(max_validity)
        #: Validity periods clamped to ``max_validity`` so far (the first, then every 1,000th, is logged).
        self.clamped = 0
        self.max_schedule = float(max_schedule)
        self.year_pivot = year_pivot

    def default_expiry(self, start: float) -> float:
        """The expiry of a message first attemptable at ``start`` that gave no validity_period (seconds)."""
        return start + min(self.default_validity, self.max_validity)

    def times(self, schedule: str, validity: str, now: float) -> tuple[float | None, float]:
        """(schedule_time or None for "now", expiry_time) in simulation seconds.

        Raises:
            Reject: ESME_RINVSCHED for an unreadable or too distant schedule, ESME_RINVEXPIRY for an unreadable
                validity or one ending before the message could be attempted.
        """
        now_dt = utc(now)
        schedule_time = self._schedule(schedule, now, now_dt)
        start = now if schedule_time is None else schedule_time
        if not validity:
            return schedule_time, start + min(self.default_validity, self.max_validity)
        return schedule_time, self._expiry(validity, start, now_dt)

    def replace_times(
        self, schedule: str, validity: str, now: float, kept_schedule: float | None, kept_expiry: float,
    ) -> tuple[float | None, float]:
        """(schedule_time, expiry_time) of a message after replace_sm (SMPP 3.4 section 4.10.1): an empty
        field keeps the message's ``kept_schedule`` / ``kept_expiry``; the result obeys the rules of
        :meth:`times`, read against the schedule in force.

        Raises:
            Reject: as :meth:`times` for a new time; ESME_RINVEXPIRY for a new validity ending before the kept
                schedule; ESME_RINVSCHED for a new schedule at or after the kept expiry.
        """
        now_dt = utc(now)
        schedule_time = self._schedule(schedule, now, now_dt) if schedule else kept_schedule
        start = now if schedule_time is None or schedule_time <= now else schedule_time
        if validity:
            return schedule_time, self._expiry(validity, start, now_dt)
        if schedule and kept_expiry <= start:
            raise Reject(CommandStatus.ESME_RINVSCHED)
        return schedule_time, kept_expiry

    def explain(self, schedule: str, validity: str, now: float, status: int) -> str | None:
        """Why :meth:`times` refused ``schedule`` / ``validity`` at ``now`` with ``status`` (ESME_RINVSCHED or
        ESME_RINVEXPIRY), naming the time read and the simulated now, for the refusal's log line; None when
        they would not be refused so now.  Tester 157: "not a time of section 7.1, in the past, before the
        schedule, or beyond simulation.max_validity" (which is clamped, never refused) left a gateway whose
        local time was labelled UTC to find which."""
        now_dt = utc(now)
        field, value = (("schedule_delivery_time", schedule) if status == CommandStatus.ESME_RINVSCHED
                        else ("validity_period", validity))
        try:
            when = parse_smpp_time(value, now_dt, self.year_pivot)
            start = parse_smpp_time(schedule, now_dt, self.year_pivot) if field == "validity_period" else None
        except ValueError as exc:
            return f"{field} {value!r}: not a time of SMPP 3.4 section 7.1 ({exc})"
        if when is None:
            return None
        at = when.timestamp()
        simulated = f"the simulated now is {iso_utc(now)}"
        if field == "schedule_delivery_time":
            if at - now > self.max_schedule + SAME_INSTANT:
                return (f"{field} {value!r} is {_span(at - now)} ahead ({iso_utc(at)}; {simulated}), beyond "
                        f"simulation.max_schedule ({_span(self.max_schedule)})")
            return None
        begin = now if start is None or start.timestamp() <= now else start.timestamp()
        if at - begin > SAME_INSTANT:
            return None
        if begin > now:
            return (f"{field} {value!r} ends at {iso_utc(at)}, not after the schedule_delivery_time "
                    f"({iso_utc(begin)})")
        hint = "" if value.endswith("R") else (
            ": an absolute time is read with the UTC offset it gives (a local time written as +00 is off by the "
            "sender's offset) against the simulated clock")
        return f"{field} {value!r} ended {_span(now - at)} ago ({iso_utc(at)}; {simulated}){hint}"

    def _schedule(self, schedule: str, now: float, now_dt: datetime) -> float | None:
        """schedule_delivery_time as simulation seconds, None for "now" (absent or in the past)."""
        try:
            when = parse_smpp_time(schedule, now_dt, self.year_pivot)
        except ValueError:
            raise Reject(CommandStatus.ESME_RINVSCHED) from None
        if when is None:
            return None
        schedule_time = when.timestamp()
        if schedule_time - now <= SAME_INSTANT:
            return None
        if schedule_time - now > self.max_schedule + SAME_INSTANT:
            raise Reject(CommandStatus.ESME_RINVSCHED)
        return schedule_time

    def _expiry(self, validity: str, start: float, now_dt: datetime) -> float:
        """A given validity_period as the expiry (seconds) of a message first attemptable at ``start``."""
        try:
            until = parse_smpp_time(validity, now_dt, self.year_pivot)
        except ValueError:
            raise Reject(CommandStatus.ESME_RINVEXPIRY) from None
        assert until is not None  # (only called with a non-empty validity)
        expiry_time = until.timestamp()
        if expiry_time - start <= SAME_INSTANT:
            raise Reject(CommandStatus.ESME_RINVEXPIRY)
        longest = start + self.max_validity
        if expiry_time > longest:
            if expiry_time - longest < 1.0:
                # (max_validity asked exactly, read from the clock's datetime in whole microseconds: not worth a
                # line, tester 136 saw "asked 259200 s, max 259200")
                return longest
            self.clamped += 1
            if self.clamped == 1 or self.clamped % 1000 == 0:
                # Said, as the clamp changes what the ESME asked for: an absolute validity an ESME computed from
                # its own clock while the simulated clock runs elsewhere (a start_time, a time_scale) is months
                # away, and an OTP test's 10-minute expiry quietly became max_validity (tester 105).
                log.info("validity_clamped", count=self.clamped, validity_period=validity,
                         asked_seconds=round(expiry_time - start), max_validity=self.max_validity,
                         simulated_now=now_dt.isoformat(),
                         hint="an absolute validity_period is read against the simulated clock; a relative one "
                              "(...R) does not depend on it")
            return longest
        return expiry_time


def _span(seconds: float) -> str:
    """``seconds`` for a person: "3 h 20 min", "45 s", "2 d 4 h"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.3g} s"
    hours, minutes = divmod(round(seconds / 60), 60)  # (to the nearest minute: the reason is read a moment later)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p) or "0 min"
