"""smsc.gc_pacer: the real collector, times given explicitly (no sleeping)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from smsc.gc_pacer import FULL_MIN_NEW, YOUNG_THRESHOLD, GcPacer


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
    pacer = GcPacer(lambda: 0)
    pacer.start()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert pacer.heap > 0 and gc.get_freeze_count() > 0
    assert gc.get_count()[0] < 100  # (the young generation was emptied into the frozen one)


def test_a_busy_tick_freezes_and_an_idle_tick_then_collects_the_frozen_cycles(restore_gc: None) -> None:
    work = [0]
    pacer = GcPacer(lambda: work[0], min_new=500, growth=1e9)  # (never due: only an idle tick brings a pass)
    pacer.start()
    garbage = _cycle()
    kept = [[i] for i in range(1000)]  # (enough new objects for an idle pass)
    work[0] += 5  # the server worked during this tick
    assert pacer.tick() is False
    gc.collect()  # the interpreter's own collection does not look at frozen objects
    assert garbage() is not None
    assert pacer.tick() is True  # a tick without work: the full pass, frozen objects included
    assert garbage() is None
    assert pacer.full_passes == 1
    assert gc.get_freeze_count() > 0  # the survivors are frozen again
    assert pacer.tick() is False  # still idle, but little new was frozen: no second pass
    assert len(kept) == 1000


def test_a_trickle_of_work_brings_no_pass_until_enough_was_frozen_since_the_last(restore_gc: None) -> None:
    """Found by a tester: under a trickle (a submit every 1.5 s) every other tick was idle, and each brought a
    full pass over the whole heap (0.4 s with 600,000 messages waiting), which the next submit waited for."""
    work = [0]
    pacer = GcPacer(lambda: work[0], growth=1e9)  # (FULL_MIN_NEW new objects make an idle pass)
    pacer.start()
    kept: list[list[int]] = []
    for second in range(40):  # a little work every other second, objects made and freed
        if second % 2:
            work[0] += 1
            kept = [[i] for i in range(100)]
        assert pacer.tick() is False
    assert pacer.full_passes == 0
    kept = [[i] for i in range(FULL_MIN_NEW + 1000)]  # the heap grows (a queue fills up)
    work[0] += 1
    assert pacer.tick() is False  # busy, and not due
    assert pacer.tick() is True  # the first idle tick
    assert len(kept) > FULL_MIN_NEW


def test_under_load_cycles_are_collected_once_a_quarter_of_the_heap_was_frozen(restore_gc: None) -> None:
    """Found by a tester: with a pass every 120 s under load, 2,700 connections a second (8 objects in cycles
    each) piled up 500 MB, and the pass then stopped the loop for 3.7 s.  Cyclic garbage counts as growth."""
    work = [0]
    pacer = GcPacer(lambda: work[0], min_new=2000)
    pacer.start()
    pacer.heap = 8000  # (a quarter: 2,000 objects)
    passes = []
    refs: list[weakref.ref[_Node]] = []
    for second in range(1, 11):
        work[0] += 1  # never idle
        refs += [_cycle() for _ in range(300)]  # 600 objects in cycles a second
        if pacer.tick():
            passes.append(second)
            assert all(r() is None for r in refs)
            refs = []
            pacer.heap = 8000
    # (600 objects in cycles a tick, and the weak references to them: a pass every 2-3 ticks, not every tick)
    assert 2 <= len(passes) <= 5 and passes[0] >= 2


def test_a_pass_is_due_when_a_quarter_of_the_heap_it_left_was_frozen_since() -> None:
    pacer = GcPacer(lambda: 0, min_new=10)
    pacer.heap = 1000
    pacer.frozen_since_full = 249
    assert not pacer.due
    pacer.frozen_since_full = 250
    assert pacer.due
    pacer.heap = 0
    pacer.frozen_since_full = 9
    assert not pacer.due  # (at least min_new)


def test_full_pass_returns_what_it_collected(restore_gc: None) -> None:
    pacer = GcPacer(lambda: 0)
    pacer.start()
    refs = [_cycle() for _ in range(10)]
    gc.freeze()
    assert pacer.full_pass() >= 20
    assert all(r() is None for r in refs)
    assert pacer.frozen_since_full == 0 and pacer.heap > 0
