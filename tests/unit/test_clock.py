"""Simulation clocks: the wall clock scaled by time_scale, and the fake clock tests move by hand."""

from __future__ import annotations

import pytest

from smsc.core.clock import FakeClock, SystemClock, sim_seconds_for_real


class Ticks:
    """A monotonic source that moves only when told (no sleeping in tests)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_system_clock_runs_time_scale_times_faster_than_real_time() -> None:
    ticks = Ticks()
    clock = SystemClock(time_scale=3600.0, start=1_000_000.0, monotonic=ticks)
    assert clock.now() == 1_000_000.0
    ticks.t += 1.0  # one real second
    assert clock.now() == 1_000_000.0 + 3600.0  # an hour of simulated time
    assert clock.real_delay(7200.0) == 2.0
    assert sim_seconds_for_real(clock, 0.5) == 1800.0


def test_system_clock_defaults_to_the_wall_clock_at_scale_1() -> None:
    import time

    clock = SystemClock()
    assert abs(clock.now() - time.time()) < 5.0
    assert clock.real_delay(3.0) == 3.0


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_system_clock_refuses_a_scale_that_is_not_positive(scale: float) -> None:
    with pytest.raises(ValueError):
        SystemClock(time_scale=scale)


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(1000.0)
    assert clock.now() == 1000.0
    assert clock.advance(2.5) == 1002.5
    clock.set(2000.0)
    assert clock.now() == 2000.0
    assert clock.real_delay(10.0) == 10.0
    assert sim_seconds_for_real(clock, 4.0) == 4.0


def test_fake_clock_never_goes_back() -> None:
    clock = FakeClock(1000.0)
    with pytest.raises(ValueError):
        clock.advance(-1.0)
    with pytest.raises(ValueError):
        clock.set(999.0)
    assert clock.now() == 1000.0


def test_fake_clock_default_start_is_2026_01_01_utc() -> None:
    from datetime import datetime, timezone

    assert datetime.fromtimestamp(FakeClock().now(), tz=timezone.utc) == datetime(2026, 1, 1, tzinfo=timezone.utc)
