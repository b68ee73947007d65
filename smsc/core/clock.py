"""Simulation time: the one clock the whole simulated world reads.

Every time in the core is a float of *simulation* seconds since the Unix epoch.  :class:`SystemClock` follows
the wall clock, optionally ``time_scale`` times faster (the ``simulation.time_scale`` option: at 3600 an hour
of offline handset passes in one real second).  :class:`FakeClock` moves only when a test says so, so a test
can live through simulated days in milliseconds.

The asyncio driver (``smsc/app.py``) turns a simulated deadline into a real delay with
:meth:`Clock.real_delay` and arms one loop timer for it.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol


class Clock(Protocol):
    """Where the core gets the time from."""

    def now(self) -> float:
        """Current simulation time in seconds since the Unix epoch (UTC)."""

    def real_delay(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulation time take to pass (may be negative)."""


class SystemClock:
    """Wall-clock time, running ``time_scale`` times faster than real time from the moment of creation.

    ``now() = start + (monotonic() - monotonic_at_start) * time_scale``; ``start`` defaults to the wall time
    at creation.  A monotonic source is used so that wall-clock jumps (NTP) do not make the world jump.

    Raises:
        ValueError: ``time_scale`` is not > 0.
    """

    __slots__ = ("time_scale", "_start", "_mono0", "_monotonic")

    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self._monotonic = monotonic
        self._mono0 = monotonic()
        self._start = time.time() if start is None else float(start)

    def now(self) -> float:
        """Simulation seconds since the epoch."""
        return self._start + (self._monotonic() - self._mono0) * self.time_scale

    def real_delay(self, sim_seconds: float) -> float:
        """``sim_seconds / time_scale`` real seconds."""
        return sim_seconds / self.time_scale

    def advance(self, seconds: float) -> float:
        """Jump ``seconds`` of simulation time forward at once (the control API's ``POST /api/clock``; the clock
        then runs on from there at its time_scale) and return the new time.  What falls due meanwhile is the
        caller's to run, in order (:meth:`smsc.app.App.advance_clock`).

        Raises:
            ValueError: ``seconds`` is negative (time never goes back).
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards by {seconds!r} s")
        self._start += seconds
        return self.now()


class ScaledClock(SystemClock):
    """A :class:`SystemClock` whose time a timer's callbacks can be given: the time the timer was due
    (:meth:`pin`), not the moment the loop got round to it.

    A loop timer fires a millisecond or so late in real time; at ``time_scale`` 3600 that is 3.6 simulated
    seconds, by which every outcome, receipt date and retry base it stamps was late (tester 76: a latency of
    1-5 s had a median of 5-7 s, a cap of 8 s was passed by 30 s).  The driver pins each due timer's time while
    it runs (:class:`~smsc.app.SchedulerDriver`); at ``time_scale`` 1 the plain clock is used (a millisecond
    late is a millisecond, and its :meth:`now` stays one call on the hot path).
    """

    __slots__ = ("_pinned",)

    def __init__(self, time_scale: float = 1.0, *, start: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(time_scale, start=start, monotonic=monotonic)
        self._pinned: float | None = None

    def now(self) -> float:
        """Simulation seconds since the epoch: the pinned time while one is (see :meth:`pin`)."""
        pinned = self._pinned
        if pinned is not None:
            return pinned
        return self._start + (self._monotonic() - self._mono0) * self.time_scale

    @property
    def pinned(self) -> float | None:
        """The time :meth:`now` answers while pinned, else None."""
        return self._pinned

    def pin(self, when: float | None) -> None:
        """Answer ``when`` (simulation seconds, no later than now) from :meth:`now` until ``pin(None)``."""
        self._pinned = when


def system_clock(time_scale: float = 1.0, *, start: float | None = None) -> SystemClock:
    """The clock of a running server: a :class:`ScaledClock` when time runs faster or slower than real time,
    else a plain :class:`SystemClock`.

    Raises:
        ValueError: ``time_scale`` is not > 0.
    """
    if time_scale == 1.0:
        return SystemClock(time_scale, start=start)
    return ScaledClock(time_scale, start=start)


class FakeClock:
    """A clock for tests: time stands still until :meth:`advance` or :meth:`set` moves it forward.

    ``real_delay`` treats the fake clock as running at scale 1 (a sim second is a real second), which is what
    code converting real-time delays (for example an outbox backoff) into simulation time needs.
    """

    __slots__ = ("_now",)

    #: 2026-01-01T00:00:00Z, a round default start for readable receipt dates.
    DEFAULT_START = 1_767_225_600.0

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)

    def now(self) -> float:
        """The current fake time (seconds since the epoch)."""
        return self._now

    def real_delay(self, sim_seconds: float) -> float:
        """Scale 1: returns ``sim_seconds`` unchanged."""
        return sim_seconds

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time.

        Raises:
            ValueError: ``seconds`` is negative (time never goes back).
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards by {seconds!r} s")
        self._now += seconds
        return self._now

    def set(self, t: float) -> None:
        """Jump to the absolute time ``t``.

        Raises:
            ValueError: ``t`` is earlier than the current time.
        """
        if t < self._now:
            raise ValueError(f"cannot set the clock back from {self._now!r} to {t!r}")
        self._now = float(t)


def sim_seconds_for_real(clock: Clock, real_seconds: float) -> float:
    """How many simulation seconds pass in ``real_seconds`` of real time on ``clock`` (inverse of real_delay).

    Used for delays that are about the ESME's connection rather than the simulated network (submit_sm_resp
    delays, outbox retry backoff): they must last the same real time whatever the ``time_scale``.
    """
    per_sim_second = clock.real_delay(1.0)
    if per_sim_second <= 0:
        return real_seconds
    return real_seconds / per_sim_second
