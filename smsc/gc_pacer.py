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
- makes one full pass (``gc.unfreeze``, ``gc.collect``, ``gc.freeze``) once the objects that became frozen since
  the last one (net of those freed: CPython's young count at each tick) reach a quarter of the heap that pass
  left (:data:`FULL_GROWTH`, the rule CPython itself applies to its oldest generation) and at least
  :data:`FULL_MIN_NEW`: at the first tick without work (no connection, submit or delivery: the pause costs
  nobody), or under load once the last pass is :data:`FULL_EVERY` seconds old.

A server under a steady load, or a trickle of traffic, frees about as much as it makes, and makes no full pass;
a growing queue or cyclic garbage (a closed connection, an HTTP request: the few cycles a server makes) brings
one.  A pass walks the whole heap: about 0.1 s with the memory store's 100,000 kept final messages, 0.4-0.6 s
with a million messages waiting in memory (a tester saw 0.2-0.3 s stops under load when it came every 120 s
regardless, and a full pass every other second under a message every 1.5 s when any idle tick brought one).
The start is logged (``gc_paced``: the heap frozen then), and every full pass (``gc_full``: objects
collected, heap left, seconds it took).  Not used by
:class:`~smsc.app.App` itself, so that tests and embedding programs keep the interpreter's own collector.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

import structlog

log = structlog.get_logger("smsc.gc")

#: Seconds between two ticks (the freezes).
TICK = 1.0
#: Seconds under load after which a full pass that is due is made anyway (without waiting for an idle tick).
FULL_EVERY = 120.0
#: Objects frozen since the last full pass, as a share of the heap it left, that make the next one due.
FULL_GROWTH = 0.25
#: ... and at least this many.
FULL_MIN_NEW = 100_000
#: Net new container objects after which CPython starts a young collection by itself (its default: 700).  Above
#: what a second of the heaviest load makes (about 3 per message), so that only the pacer's full pass walks
#: the heap; it still bounds a burst of allocation between two ticks.
YOUNG_THRESHOLD = 500_000


class GcPacer:
    """Freeze once a tick; collect fully when enough was frozen since the last pass (see the module docstring).

    ``activity`` returns a number that grows with the server's work (connections, submits, deliveries); two
    ticks that read the same number mean a tick without work.  Times are seconds of a monotonic clock, given to
    :meth:`tick` by the caller.  ``min_new`` and ``growth``: :data:`FULL_MIN_NEW` and :data:`FULL_GROWTH`.
    """

    def __init__(self, activity: Callable[[], int], *, now: float, full_every: float = FULL_EVERY,
                 min_new: int = FULL_MIN_NEW, growth: float = FULL_GROWTH) -> None:
        self._activity = activity
        self._full_every = full_every
        self._min_new = min_new
        self._growth = growth
        self._last_activity = activity()
        self._last_full = now
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
        log.info("gc_paced", heap=self.heap, tick=TICK, full_every=self._full_every)

    @property
    def due(self) -> bool:
        """True when enough was frozen since the last full pass for the next one."""
        return self.frozen_since_full >= max(self._min_new, int(self.heap * self._growth))

    def tick(self, now: float) -> bool:
        """Freeze what the last tick made; make a full pass when one is due and the tick was without work or
        the last pass is ``full_every`` seconds old.  Returns True when a full pass was made."""
        activity = self._activity()
        idle = activity == self._last_activity
        self._last_activity = activity
        self.frozen_since_full += gc.get_count()[0]
        if self.due and (idle or now - self._last_full >= self._full_every):
            self.full_pass(now)
            return True
        gc.freeze()
        return False

    def full_pass(self, now: float) -> int:
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
        self._last_full = now
        self.frozen_since_full = 0
        self.full_passes += 1
        log.info("gc_full", collected=collected, heap=self.heap, seconds=round(seconds, 4))
        return collected
