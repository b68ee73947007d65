"""When a submitted message may first be attempted and when it expires (SMPP 3.4 sections 5.2.15, 5.2.16, 7.1.1).

schedule_delivery_time and validity_period arrive as raw SMPP time strings (absolute or relative, "" when
absent) and are read against the simulation clock.  Choices where the specification leaves room:

* a schedule in the past means "now"; one further ahead than ``max_schedule`` is ESME_RINVSCHED;
* no validity_period gives ``default_validity`` (itself clamped to ``max_validity``);
* a validity beyond ``max_validity`` is clamped to it (not refused); one that ends before the message could
  be attempted is ESME_RINVEXPIRY.

A submit refused for any reason is a :class:`Reject` carrying its command_status (and the real seconds to wait
before answering, for carrier submit rules).
"""

from __future__ import annotations

from datetime import datetime, timezone

from smsc.smpp.constants import CommandStatus
from smsc.smpp.timefmt import parse_smpp_time


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


class SubmitTimes:
    """Reads schedule_delivery_time / validity_period against the clock, with the configured bounds.

    Args:
        default_validity: seconds a message lives without a validity_period.
        max_validity: the longest validity accepted, seconds (longer ones are clamped).
        max_schedule: how far ahead a schedule_delivery_time may be, seconds.
    """

    __slots__ = ("default_validity", "max_validity", "max_schedule")

    def __init__(self, default_validity: float, max_validity: float, max_schedule: float) -> None:
        self.default_validity = float(default_validity)
        self.max_validity = float(max_validity)
        self.max_schedule = float(max_schedule)

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
        try:
            when = parse_smpp_time(schedule, now_dt)
        except ValueError:
            raise Reject(CommandStatus.ESME_RINVSCHED) from None
        schedule_time: float | None = None
        if when is not None:
            schedule_time = when.timestamp()
            if schedule_time <= now:
                schedule_time = None
            elif schedule_time - now > self.max_schedule:
                raise Reject(CommandStatus.ESME_RINVSCHED)
        start = now if schedule_time is None else schedule_time
        try:
            until = parse_smpp_time(validity, now_dt)
        except ValueError:
            raise Reject(CommandStatus.ESME_RINVEXPIRY) from None
        if until is None:
            expiry_time = start + min(self.default_validity, self.max_validity)
        else:
            expiry_time = until.timestamp()
            if expiry_time <= start:
                raise Reject(CommandStatus.ESME_RINVEXPIRY)
            expiry_time = min(expiry_time, start + self.max_validity)
        return schedule_time, expiry_time
