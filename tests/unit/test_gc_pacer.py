"""smsc.gc_pacer: the real collector, times given explicitly (no sleeping)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from smsc.gc_pacer import FULL_EVERY, FULL_MIN_NEW, YOUNG_THRESHOLD, GcPacer


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    """A reference cycle nobody holds: only the cycle collector frees it. Returns a weak reference to it."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    gc.collect()


def test_start_raises_the_young_threshold_and_freezes(restore_gc: None) -> None:
    pacer = GcPacer(lambda: 0, now=0.0)
    pacer.start()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert pacer.heap == gc.get_freeze_count() > 0
    assert gc.get_count()[0] < 100  # (the young generation was emptied into the frozen one)


def test_a_busy_tick_freezes_and_an_idle_tick_then_collects_the_frozen_cycles(restore_gc: None) -> None:
    work = [0]
    pacer = GcPacer(lambda: work[0], now=0.0, min_new=500, growth=0.0)
    pacer.start()
    garbage = _cycle()
    kept = [[i] for i in range(1000)]  # (enough new objects for a pass to be due)
    work[0] += 5  # the server worked during this tick
    assert pacer.tick(1.0) is False
    gc.collect()  # the interpreter's own collection does not look at frozen objects
    assert garbage() is not None
    assert pacer.tick(2.0) is True  # a tick without work: the full pass, frozen objects included
    assert garbage() is None
    assert pacer.full_passes == 1
    assert gc.get_freeze_count() > 0  # the survivors are frozen again
    assert pacer.tick(3.0) is False  # still idle, but little new was frozen: no second pass
    assert len(kept) == 1000


def test_idle_ticks_make_no_pass_until_enough_was_frozen_since_the_last(restore_gc: None) -> None:
    """Found by a tester: under a trickle (a submit every 1.5 s) every other tick was idle, and each brought a
    full pass over the whole heap (0.4 s with 600,000 messages waiting), which the next submit waited for."""
    work = [0]
    pacer = GcPacer(lambda: work[0], now=0.0, growth=0.0)  # (FULL_MIN_NEW new objects make one due)
    pacer.start()
    kept: list[list[int]] = []
    for second in range(1, 41):  # a trickle: a little work every other second, objects made and freed
        if second % 2:
            work[0] += 1
            kept = [[i] for i in range(100)]
        assert pacer.tick(float(second)) is False
    assert pacer.full_passes == 0 and not pacer.due
    kept = [[i] for i in range(FULL_MIN_NEW + 1000)]  # the heap grows (a queue fills up)
    work[0] += 1
    assert pacer.tick(41.0) is False  # busy: due, but FULL_EVERY has not passed
    assert pacer.due
    assert pacer.tick(42.0) is True  # the first idle tick
    assert len(kept) > FULL_MIN_NEW


def test_under_steady_load_a_due_pass_comes_every_full_every_seconds(restore_gc: None) -> None:
    work = [0]
    pacer = GcPacer(lambda: work[0], now=100.0, min_new=1, growth=0.0)
    pacer.start()
    passes = []
    garbage = None
    for second in range(1, int(FULL_EVERY) * 2 + 1):
        work[0] += 1
        garbage = garbage or _cycle()
        if pacer.tick(100.0 + second):
            passes.append(second)
            assert garbage() is None
            garbage = None
        elif second == int(FULL_EVERY) - 1:
            assert garbage() is not None  # frozen, waiting for the full pass
    assert passes == [int(FULL_EVERY), 2 * int(FULL_EVERY)]


def test_a_pass_is_due_when_a_quarter_of_the_heap_it_left_was_frozen_since() -> None:
    pacer = GcPacer(lambda: 0, now=0.0, min_new=10)
    pacer.heap = 1000
    pacer.frozen_since_full = 249
    assert not pacer.due
    pacer.frozen_since_full = 250
    assert pacer.due
    pacer.heap = 0
    pacer.frozen_since_full = 9
    assert not pacer.due  # (at least min_new)


def test_full_pass_returns_what_it_collected(restore_gc: None) -> None:
    pacer = GcPacer(lambda: 0, now=0.0)
    pacer.start()
    refs = [_cycle() for _ in range(10)]
    gc.freeze()
    assert pacer.full_pass(1.0) >= 20
    assert all(r() is None for r in refs)
    assert pacer.frozen_since_full == 0 and pacer.heap > 0
