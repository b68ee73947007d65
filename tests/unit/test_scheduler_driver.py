"""The asyncio driver of the core scheduler (smsc/app.py): one loop timer for the earliest future deadline,
one ready-queue callback for timers already due, none while a read's pump is about to run them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from smsc.app import SchedulerDriver
from smsc.core.clock import FakeClock
from smsc.core.scheduler import Scheduler
from tests.unit.test_smsc_support import CountingClock


def _driver(clock: FakeClock) -> tuple[SchedulerDriver, Scheduler]:
    scheduler = Scheduler()
    core: Any = SimpleNamespace(scheduler=scheduler)
    return SchedulerDriver(core, clock, asyncio.get_running_loop()), scheduler


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_timer_due_now_runs_on_the_next_loop_turn_without_any_traffic() -> None:
    clock = FakeClock()
    driver, scheduler = _driver(clock)
    ran: list[str] = []
    scheduler.call_at(clock.now(), lambda _: ran.append("due"))
    await _turns()
    assert ran == ["due"]


async def test_while_a_pump_follows_a_due_timer_waits_for_it_and_gets_no_callback_of_its_own() -> None:
    clock = FakeClock()
    driver, scheduler = _driver(clock)
    pump_pending = True
    driver.pump_pending = lambda: pump_pending
    ran: list[str] = []
    scheduler.call_at(clock.now(), lambda _: ran.append("due"))
    await _turns()
    assert ran == []  # left to the pump
    pump_pending = False
    driver.run_due_now()  # the pump
    assert ran == ["due"]


async def test_a_timer_that_the_pumps_timers_make_due_a_moment_later_still_runs_without_more_traffic() -> None:
    """The pump runs the timers due at the time it read; one of them schedules another for a moment later
    (a scheduled message's zero-latency attempt, at the clock's next reading).  That one is due by the time
    the pump is over, and must get a loop callback of its own: nothing else may be needed to run it."""
    clock = FakeClock()
    driver, scheduler = _driver(clock)
    driver.pump_pending = lambda: True  # as inside a read, until the pump has run
    ran: list[str] = []

    def scheduled(_: Any) -> None:
        ran.append("scheduled")
        clock.advance(1e-6)  # the clock moved on while the read was handled
        scheduler.call_at(clock.now(), lambda _: ran.append("outcome"))

    scheduler.call_at(clock.now() + 1.0, scheduled)
    clock.advance(1.0)
    driver.run_due_now()  # the pump of a read that came in just then
    assert ran == ["scheduled"]
    await _turns()
    assert ran == ["scheduled", "outcome"]
    driver.stop()


async def test_a_future_deadline_gets_a_loop_timer_that_fires() -> None:
    clock = FakeClock()
    driver, scheduler = _driver(clock)
    ran: list[str] = []
    scheduler.call_at(clock.now() + 0.02, lambda _: ran.append("later"))  # FakeClock: sim second = real second
    clock.advance(0.02)
    for _ in range(100):  # bounded: about 1 s at most
        if ran:
            break
        await asyncio.sleep(0.01)
    assert ran == ["later"]


async def test_once_stopped_the_driver_runs_no_timer_scheduled_afterwards() -> None:
    """What the store hands back while it closes (a drain's read, a commit's callback) may schedule timers;
    a stopped driver must not run them on the closed store (found by a tester: SIGTERM mid-drain logged
    "commit on a closed SqliteStore" from timers run after App.stop)."""
    clock = FakeClock()
    driver, scheduler = _driver(clock)
    ran: list[str] = []
    driver.stop()
    scheduler.call_at(clock.now(), lambda _: ran.append("due"))
    scheduler.call_at(clock.now() + 0.001, lambda _: ran.append("later"))
    clock.advance(1.0)
    await asyncio.sleep(0.01)
    await _turns()
    assert ran == [] and scheduler.on_earlier_deadline is None



async def test_a_batch_due_now_gets_one_loop_callback_without_a_clock_reading_unless_a_pump_follows() -> None:
    """A zero-latency attempt's outcome (a batch due now) needs no clock reading to know it is due: outside a
    read it gets one ready-queue callback (however many join it), inside one it is left to the pump."""
    clock = CountingClock()
    driver, scheduler = _driver(clock)
    scheduler.call_at(clock.now() + 100.0, lambda _: None)  # a later deadline (the prune timer, say)
    ran: list[object] = []
    pump_pending = True
    driver.pump_pending = lambda: pump_pending
    clock.reads = 0
    scheduler.call_at_batched(clock._now, ran.extend, "in a read", due_now=True)
    assert clock.reads == 0
    await _turns()
    assert ran == []  # left to the pump
    driver.run_due_now()
    assert ran == ["in a read"]
    pump_pending = False
    clock.reads = 0
    scheduler.call_at_batched(clock._now, ran.extend, "a", due_now=True)
    scheduler.call_at_batched(clock._now, ran.extend, "b", due_now=True)
    assert clock.reads == 0
    await _turns()
    assert ran == ["in a read", "a", "b"]
    driver.stop()


async def test_the_pump_reads_the_clock_once_and_leaves_the_armed_loop_timer_when_it_still_covers_what_is_left(
) -> None:
    """Once the pump has run what was due, the loop timer armed for a later deadline stays as it is (no
    re-arming, no second clock reading) while nothing earlier than it is left; an earlier one left re-arms
    it, and the timers still run on their own, without traffic."""
    clock = CountingClock()
    driver, scheduler = _driver(clock)
    ran: list[str] = []
    scheduler.call_at(clock.now() + 0.05, lambda _: ran.append("later"))
    armed = driver._handle
    assert armed is not None
    driver.pump_pending = lambda: True
    scheduler.call_at_batched(clock._now, lambda _: ran.append("now"), None, due_now=True)
    clock.reads = 0
    driver.run_due_now()
    assert ran == ["now"] and clock.reads == 1 and driver._handle is armed
    # A timer those run adds before the armed deadline gets the loop timer re-armed for it.
    scheduler.call_at_batched(clock._now, lambda _: scheduler.call_at(clock._now + 0.02,
                                                                      lambda _: ran.append("sooner")),
                              None, due_now=True)
    driver.run_due_now()
    assert driver._handle is not armed and driver._armed_for == clock._now + 0.02
    driver.pump_pending = lambda: False
    clock.advance(0.05)  # FakeClock: a sim second is a real second, so the loop timers fire in about 50 ms
    for _ in range(100):  # bounded: about 1 s at most
        if len(ran) == 3:
            break
        await asyncio.sleep(0.01)
    assert ran == ["now", "sooner", "later"]
    driver.stop()


async def test_with_a_scaled_clock_each_timer_runs_at_the_time_it_was_due_however_late_the_loop_got_to_it() -> None:
    """Tester 76: at time_scale 3600 a loop timer late by a millisecond is 3.6 simulated seconds late, and every
    outcome it stamped (receipt date, next retry's base) was that late.  The callbacks now read the time they
    were due; what they schedule runs at its own time too, and the clock goes on afterwards."""
    from smsc.core.clock import ScaledClock

    real = [1000.0]
    clock = ScaledClock(3600.0, start=0.0, monotonic=lambda: real[0])
    driver, scheduler = _driver(clock)  # type: ignore[arg-type]
    seen: list[tuple[str, float]] = []

    def retry(_: Any) -> None:
        seen.append(("retry", clock.now()))

    def outcome(_: Any) -> None:
        seen.append(("outcome", clock.now()))
        scheduler.call_at(clock.now() + 60.0, retry)  # due before the late run's time: runs in it, at 70

    scheduler.call_at(10.0, outcome)
    scheduler.call_at(10.0, lambda _: seen.append(("other", clock.now())))
    real[0] += 0.1  # the loop gets round to it 0.1 real seconds on: 360 simulated seconds
    driver._fire()
    assert seen == [("outcome", 10.0), ("other", 10.0), ("retry", 70.0)]
    assert clock.now() == pytest.approx(360.0) and clock.pinned is None
    driver.stop()


def test_a_server_clock_is_scaled_only_when_time_runs_at_another_pace() -> None:
    from smsc.core.clock import ScaledClock, SystemClock, system_clock

    assert type(system_clock(1.0)) is SystemClock  # (its now() stays one call on the hot path)
    assert type(system_clock(60.0)) is ScaledClock and type(system_clock(0.5)) is ScaledClock
