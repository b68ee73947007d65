"""smsc.gc_pacer: the real collector, times given explicitly (no sleeping)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from smsc.gc_pacer import FULL_EVERY, YOUNG_THRESHOLD, GcPacer


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
    assert gc.get_freeze_count() > 0
    assert gc.get_count()[0] < 100  # (the young generation was emptied into the frozen one)


def test_a_busy_tick_freezes_and_an_idle_tick_then_collects_the_frozen_cycles(restore_gc: None) -> None:
    work = [0]
    pacer = GcPacer(lambda: work[0], now=0.0)
    pacer.start()
    garbage = _cycle()
    work[0] += 5  # the server worked during this tick
    assert pacer.tick(1.0) is False
    gc.collect()  # the interpreter's own collection does not look at frozen objects
    assert garbage() is not None
    assert pacer.tick(2.0) is True  # a tick without work: the full pass, frozen objects included
    assert garbage() is None
    assert pacer.full_passes == 1
    assert gc.get_freeze_count() > 0  # the survivors are frozen again
    assert pacer.tick(3.0) is False  # still idle, but nothing new was frozen: no second pass


def test_under_steady_load_the_full_pass_comes_every_full_every_seconds(restore_gc: None) -> None:
    work = [0]
    pacer = GcPacer(lambda: work[0], now=100.0)
    pacer.start()
    garbage = _cycle()
    passes = []
    for second in range(1, int(FULL_EVERY) * 2 + 1):
        work[0] += 1
        if pacer.tick(100.0 + second):
            passes.append(second)
        if second == int(FULL_EVERY) - 1:
            assert garbage() is not None  # frozen, waiting for the full pass
    assert passes == [int(FULL_EVERY), 2 * int(FULL_EVERY)]
    assert garbage() is None


def test_full_pass_returns_what_it_collected(restore_gc: None) -> None:
    pacer = GcPacer(lambda: 0, now=0.0)
    pacer.start()
    refs = [_cycle() for _ in range(10)]
    gc.freeze()
    assert pacer.full_pass(1.0) >= 20
    assert all(r() is None for r in refs)
