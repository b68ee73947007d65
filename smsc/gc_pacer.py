"""When the cyclic garbage collector may pause a running server: rarely, and when nobody waits.

CPython finds reference cycles by walking every object a collection covers, and a collection stops the loop
while it walks.  A running SMSC keeps many long-lived objects: every message not yet final, and the newest final
ones for query_sm (three objects each: the record, its attempts list, an attempt).  They are freed by reference
counting, never by the cycle collector (a busy server's young collections found nothing to collect), yet each
young collection walked the last ones made again: at 4 binds x window 100 with receipts a pass over 50,000 young
objects stopped the loop for 5-7 ms every 0.4 s, and each one added that much to the latency of the 400 submits
in flight at the time, a few per cent of all of them: the p99.  An older generation's pass walked far more.

So, while ``smsc serve`` runs, :class:`GcPacer` (:meth:`~GcPacer.tick` about once a second):

- freezes what the last second made (``gc.freeze``: a splice of lists, no walk), so that automatic collections,
  with a young threshold of :data:`YOUNG_THRESHOLD`, do not start under any load smsc can take;
- counts what it froze since the last full pass, net of what was freed (CPython's young count at each tick);
- makes a full pass (``gc.unfreeze``, ``gc.collect``, ``gc.freeze``) once that reaches a quarter of the heap
  the last pass left (:data:`FULL_GROWTH`, the rule CPython applies to its own oldest generation) and at least
  :data:`FULL_MIN_NEW`; or sooner, at a second without work (no connection, submit or delivery: the pause costs
  nobody), once :data:`FULL_MIN_NEW` were frozen.

A server under a steady load, or a trickle of traffic, frees about as much as it makes and makes no full pass.
A growing queue brings one at each quarter it grows by, as the interpreter's own collector would; cyclic garbage
(a closed connection leaves about 8 objects in cycles, an HTTP request about 7) brings one before it grows to a
quarter of the heap.  A pass walks the whole heap: about 0.1 s with the memory store's 100,000 kept final
messages, 0.4-0.6 s with a million messages waiting in memory.  (A tester found the two simpler rules wrong: a
pass at any idle tick came every other second under a submit every 1.5 s, 0.4 s each with 600,000 messages
waiting; a pass every 120 s under load let 2,700 connections a second pile up 500 MB of cycles, then stopped
the loop for 3.7 s.)

The start is logged (``gc_paced``: the heap frozen then), and every full pass (``gc_full``: objects collected,
heap left, seconds it took).  Not used by :class:`~smsc.app.App` itself, so that tests and embedding programs
keep the interpreter's own collector.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

import structlog

log = structlog.get_logger("smsc.gc")

#: Seconds between two ticks (the freezes).
TICK = 1.0
#: Objects frozen since the last full pass, as a share of the heap it left, that make the next one due.
FULL_GROWTH = 0.25
#: ... and at least this many; as many make a pass due at a second without work.
FULL_MIN_NEW = 100_000
#: Net new container objects after which CPython starts a young collection by itself (its default: 700).  Above
#: what a second of the heaviest load makes (about 3 per message), so that only the pacer's full pass walks
#: the heap; it still bounds a burst of allocation between two ticks.
YOUNG_THRESHOLD = 500_000


class GcPacer:
    """Freeze once a tick; collect fully when enough was frozen since the last pass (see the module docstring).

    ``activity`` returns a number that grows with the server's work (connections, submits, deliveries); two
    ticks that read the same number mean a tick without work.  ``min_new`` and ``growth``:
    :data:`FULL_MIN_NEW` and :data:`FULL_GROWTH`.
    """

    def __init__(self, activity: Callable[[], int], *, min_new: int = FULL_MIN_NEW,
                 growth: float = FULL_GROWTH) -> None:
        self._activity = activity
        self._min_new = min_new
        self._growth = growth
        self._last_activity = activity()
        #: Objects frozen since the last full pass, net of those freed (CPython's young count at each freeze).
        self.frozen_since_full = 0
        #: Objects the last full pass left (frozen then), or the heap frozen at start.
        self.heap = 0
        self.full_passes = 0

    def start(self) -> None:
        """Raise the young threshold and freeze what exists (the loaded state, the modules)."""
        gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        gc.freeze()
        self.heap = gc.get_freeze_count()
        log.info("gc_paced", heap=self.heap, tick=TICK)

    @property
    def due(self) -> bool:
        """True when enough was frozen since the last full pass for the next one, busy or not."""
        return self.frozen_since_full >= max(self._min_new, int(self.heap * self._growth))

    def tick(self) -> bool:
        """Freeze what the last tick made, or make a full pass when one is due, or when the tick was without
        work and ``min_new`` objects were frozen since the last.  Returns True when a full pass was made."""
        activity = self._activity()
        idle = activity == self._last_activity
        self._last_activity = activity
        frozen = self.frozen_since_full = self.frozen_since_full + gc.get_count()[0]
        if self.due or (idle and frozen >= self._min_new):
            self.full_pass()
            return True
        gc.freeze()
        return False

    def full_pass(self) -> int:
        """Collect every generation, the frozen objects included, then freeze the survivors; returns the number
        of objects found unreachable."""
        started = time.perf_counter()
        gc.unfreeze()
        try:
            collected = gc.collect()
        finally:
            gc.freeze()
        seconds = time.perf_counter() - started
        self.heap = gc.get_freeze_count()
        self.frozen_since_full = 0
        self.full_passes += 1
        log.info("gc_full", collected=collected, heap=self.heap, seconds=round(seconds, 4))
        return collected
